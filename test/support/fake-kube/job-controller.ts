/**
 * The batch/v1 Job controller, for NonIndexed Jobs, following what 1.31+ writes:
 * - creates pods `<job>-<5 chars>` from the template, owned by the Job (controller: true) and
 *   holding the `batch.kubernetes.io/job-tracking` finalizer until counted;
 * - counts finished pods into status.succeeded / status.failed (a pod deleted before it succeeded
 *   counts as failed), keeps status.active / ready / terminating, sets startTime;
 * - on failure creates the next pod after `retryDelayMs` (real: 10 s doubling; the fake keeps it
 *   short so tests stay fast) while failed ≤ backoffLimit (default 6);
 * - success: SuccessCriteriaMet then Complete (reason CompletionsReached) and completionTime;
 *   failure: FailureTarget then Failed, reason BackoffLimitExceeded or DeadlineExceeded
 *   (activeDeadlineSeconds from startTime; active pods are deleted first); the terminal
 *   condition comes once no pod is left running or terminating, as in 1.31;
 * - spec.suspend deletes active pods (condition Suspended), ttlSecondsAfterFinished deletes the
 *   finished Job (Foreground, as the TTL controller does).
 */
import { deleteObject } from './deletion.js';
import type { EventRecorder } from './events.js';
import {
  asJob,
  asPod,
  controllerRef,
  fromTyped,
  keyOf,
  nameSuffix,
  timestamp,
  type JobCondition,
  type JobObject,
  type JobStatus,
  type PodObject,
} from './model.js';
import { isReady, isTerminal } from './pod-status.js';
import { jobs, pods as podResource } from './resources.js';
import { AlreadyExistsInStore, type ObjectStore } from './store.js';
import { WorkQueue, type Timers } from './timers.js';

const trackingFinalizer = 'batch.kubernetes.io/job-tracking';

type ConditionType = 'Complete' | 'Failed' | 'FailureTarget' | 'SuccessCriteriaMet' | 'Suspended';

export class JobController {
  private readonly queue: WorkQueue;
  /** When each Job (by uid) last saw a pod fail: the next pod waits retryDelayMs after it. */
  private readonly lastFailure = new Map<string, number>();
  /** Exact start per Job uid (status.startTime only has seconds). */
  private readonly startedAt = new Map<string, number>();
  private readonly armed = new Set<string>();
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly store: ObjectStore,
    private readonly timers: Timers,
    private readonly events: EventRecorder,
    private readonly retryDelayMs: number,
  ) {
    this.queue = new WorkQueue(timers, (key) => this.sync(key));
  }

  start(): void {
    this.unsubscribe = this.store.subscribe((event) => {
      const meta = event.object.metadata;
      if (event.resource === 'jobs') this.queue.add(keyOf(meta.namespace, meta.name));
      if (event.resource === 'pods') {
        const owner = controllerRef(meta);
        if (owner?.kind === 'Job') this.queue.add(keyOf(meta.namespace, owner.name));
      }
    });
  }

  stop(): void {
    this.unsubscribe?.();
  }

  private sync(key: string): void {
    const slash = key.indexOf('/');
    const namespace = key.slice(0, slash);
    const name = key.slice(slash + 1);
    const found = this.store.get('jobs', namespace, name);
    const allPods = this.store.list('pods', namespace).map(asPod);
    this.releaseOrphans(allPods);
    if (found === undefined) return;
    const job = asJob(found);
    const uid = job.metadata.uid;
    const mine = allPods.filter((pod) => controllerRef(pod.metadata)?.uid === uid);
    if (job.metadata.deletionTimestamp !== undefined || job.spec === undefined) {
      for (const pod of mine) this.release(pod);
      return;
    }
    const spec = job.spec;
    const status: JobStatus = structuredClone(job.status ?? {});
    const now = Date.now();
    let succeeded = status.succeeded ?? 0;
    let failed = status.failed ?? 0;
    const finishedBefore = hasCondition(status, 'Complete') || hasCondition(status, 'Failed');

    for (const pod of mine) {
      if (!(pod.metadata.finalizers ?? []).includes(trackingFinalizer)) continue;
      if (finishedBefore) this.release(pod);
      else if (pod.status?.phase === 'Succeeded') {
        succeeded += 1;
        this.release(pod);
      } else if (pod.status?.phase === 'Failed' || pod.metadata.deletionTimestamp !== undefined) {
        failed += 1;
        this.lastFailure.set(uid, now);
        this.release(pod);
      }
    }
    const active = mine.filter((pod) => !isTerminal(pod) && pod.metadata.deletionTimestamp === undefined);
    let terminating = mine.filter((pod) => !isTerminal(pod) && pod.metadata.deletionTimestamp !== undefined).length;
    let activeCount = active.length;

    if (!finishedBefore) {
      if (spec.suspend === true) {
        for (const pod of active) this.deletePod(job, pod);
        terminating += activeCount;
        activeCount = 0;
        setCondition(status, 'Suspended', 'JobSuspended', 'Job suspended');
        delete status.startTime;
        this.startedAt.delete(uid);
      } else {
        if (hasCondition(status, 'Suspended')) setCondition(status, 'Suspended', 'JobResumed', 'Job resumed', 'False');
        if (status.startTime === undefined) {
          status.startTime = timestamp(now);
          this.startedAt.set(uid, now);
        }
        const completions = spec.completions ?? 1;
        const deadlineMs = spec.activeDeadlineSeconds === undefined ? undefined : spec.activeDeadlineSeconds * 1000;
        const started = this.startedAt.get(uid) ?? Date.parse(status.startTime);
        if (!hasCondition(status, 'FailureTarget') && !hasCondition(status, 'SuccessCriteriaMet')) {
          if (succeeded >= completions) {
            setCondition(status, 'SuccessCriteriaMet', 'CompletionsReached', 'Reached expected number of succeeded pods');
          } else if (failed > (spec.backoffLimit ?? 6)) {
            setCondition(status, 'FailureTarget', 'BackoffLimitExceeded', 'Job has reached the specified backoff limit');
          } else if (deadlineMs !== undefined && now >= started + deadlineMs) {
            setCondition(status, 'FailureTarget', 'DeadlineExceeded', 'Job was active longer than specified deadline');
            this.events.record(fromTyped(job), 'Warning', 'DeadlineExceeded', 'Job was active longer than specified deadline', 'job-controller');
          }
        }
        const target = findCondition(status, 'FailureTarget') ?? findCondition(status, 'SuccessCriteriaMet');
        if (target !== undefined) {
          for (const pod of active) this.deletePod(job, pod);
          terminating += activeCount;
          activeCount = 0;
          if (terminating === 0) this.finish(job, status, target, now);
        } else {
          activeCount += this.createPods(job, completions - succeeded, activeCount, terminating, now);
          if (deadlineMs !== undefined) this.arm(`deadline/${uid}`, started + deadlineMs - now, key);
        }
      }
    }

    status.active = activeCount;
    status.ready = active.filter((pod) => isReady(pod)).length;
    status.terminating = terminating;
    status.succeeded = succeeded;
    status.failed = failed;
    status.uncountedTerminatedPods = {};
    // The API omits zero counters (omitempty); ready and terminating are pointers and stay.
    for (const field of ['active', 'succeeded', 'failed'] as const) if (status[field] === 0) delete status[field];
    const latest = this.store.get('jobs', namespace, name);
    if (latest === undefined || latest.metadata.uid !== uid) return;
    const updated = asJob(latest);
    updated.status = status;
    this.store.update('jobs', fromTyped(updated));
    this.scheduleTtl(updated);
  }

  private createPods(job: JobObject, remaining: number, active: number, terminating: number, now: number): number {
    const spec = job.spec;
    if (spec === undefined) return 0;
    const blocking = spec.podReplacementPolicy === 'Failed' ? terminating : 0;
    const wanted = Math.min(spec.parallelism ?? 1, remaining) - active - blocking;
    if (wanted <= 0) return 0;
    const key = keyOf(job.metadata.namespace, job.metadata.name);
    const wait = (this.lastFailure.get(job.metadata.uid) ?? 0) + this.retryDelayMs - now;
    if (wait > 0) {
      this.queue.add(key, wait);
      return 0;
    }
    let created = 0;
    for (let index = 0; index < wanted; index += 1) {
      const pod = this.createPod(job);
      if (pod === undefined) continue;
      created += 1;
      this.events.record(fromTyped(job), 'Normal', 'SuccessfulCreate', `Created pod: ${pod.metadata.name}`, 'job-controller');
    }
    return created;
  }

  private createPod(job: JobObject): PodObject | undefined {
    const template = job.spec?.template;
    if (template === undefined) return undefined;
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const metadata = {
        name: `${job.metadata.name}-${nameSuffix()}`,
        generateName: `${job.metadata.name}-`,
        namespace: job.metadata.namespace,
        labels: { ...(template.metadata?.labels ?? {}) },
        ...(template.metadata?.annotations === undefined ? {} : { annotations: { ...template.metadata.annotations } }),
        ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: job.metadata.name, uid: job.metadata.uid, controller: true, blockOwnerDeletion: true }],
        finalizers: [trackingFinalizer],
      };
      try {
        const created = this.store.create('pods', {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata,
          spec: structuredClone(template.spec),
          status: { phase: 'Pending', qosClass: 'BestEffort' },
        });
        return asPod(created);
      } catch (error) {
        if (!(error instanceof AlreadyExistsInStore)) throw error;
      }
    }
    return undefined;
  }

  private finish(job: JobObject, status: JobStatus, target: JobCondition, now: number): void {
    if (target.type === 'SuccessCriteriaMet') {
      setCondition(status, 'Complete', target.reason ?? 'CompletionsReached', target.message ?? '');
      status.completionTime = timestamp(now);
      this.events.record(fromTyped(job), 'Normal', 'Completed', 'Job completed', 'job-controller');
    } else {
      setCondition(status, 'Failed', target.reason ?? 'BackoffLimitExceeded', target.message ?? '');
      if (target.reason === 'BackoffLimitExceeded') this.events.record(fromTyped(job), 'Warning', 'BackoffLimitExceeded', 'Job has reached the specified backoff limit', 'job-controller');
    }
  }

  private scheduleTtl(job: JobObject): void {
    const ttl = job.spec?.ttlSecondsAfterFinished;
    const finished = findCondition(job.status ?? {}, 'Complete') ?? findCondition(job.status ?? {}, 'Failed');
    if (ttl === undefined || finished === undefined) return;
    const id = `ttl/${job.metadata.uid}`;
    if (this.armed.has(id)) return;
    this.armed.add(id);
    this.timers.after(ttl * 1000, () => {
      const current = this.store.get('jobs', job.metadata.namespace, job.metadata.name);
      if (current === undefined || current.metadata.uid !== job.metadata.uid) return;
      try {
        deleteObject(this.store, jobs, job.metadata.namespace, job.metadata.name, { propagationPolicy: 'Foreground', preconditions: { uid: job.metadata.uid } });
      } catch {
        // deleted meanwhile
      }
    });
  }

  /** Re-syncs `key` after `ms`, once per id (a deadline does not move). */
  private arm(id: string, ms: number, key: string): void {
    if (this.armed.has(id)) return;
    this.armed.add(id);
    this.timers.after(Math.max(0, ms) + 1, () => {
      this.armed.delete(id);
      this.queue.add(key);
    });
  }

  private deletePod(job: JobObject, pod: PodObject): void {
    try {
      deleteObject(this.store, podResource, pod.metadata.namespace, pod.metadata.name, { propagationPolicy: 'Background' });
      this.events.record(fromTyped(job), 'Normal', 'SuccessfulDelete', `Deleted pod: ${pod.metadata.name}`, 'job-controller');
    } catch {
      // already gone
    }
  }

  /** Drops the tracking finalizer (the pod has been counted, or its Job is gone). */
  private release(pod: PodObject): void {
    const current = this.store.get('pods', pod.metadata.namespace, pod.metadata.name);
    if (current === undefined || current.metadata.uid !== pod.metadata.uid) return;
    const rest = (current.metadata.finalizers ?? []).filter((finalizer) => finalizer !== trackingFinalizer);
    if (rest.length > 0) current.metadata.finalizers = rest;
    else delete current.metadata.finalizers;
    this.store.update('pods', current);
  }

  /** Pods still holding the tracking finalizer whose Job no longer exists. */
  private releaseOrphans(pods: readonly PodObject[]): void {
    for (const pod of pods) {
      if (!(pod.metadata.finalizers ?? []).includes(trackingFinalizer)) continue;
      const owner = controllerRef(pod.metadata);
      const job = owner === undefined ? undefined : this.store.findByUid(owner.uid);
      if (job === undefined) this.release(pod);
    }
  }
}

function findCondition(status: JobStatus, type: ConditionType): JobCondition | undefined {
  return (status.conditions ?? []).find((condition) => condition.type === type && condition.status === 'True');
}

function hasCondition(status: JobStatus, type: ConditionType): boolean {
  return findCondition(status, type) !== undefined;
}

function setCondition(status: JobStatus, type: ConditionType, reason: string, message: string, value: 'True' | 'False' = 'True'): void {
  const now = timestamp();
  const conditions = [...(status.conditions ?? [])];
  const index = conditions.findIndex((condition) => condition.type === type);
  const old = index >= 0 ? conditions[index] : undefined;
  const next: JobCondition = {
    type,
    status: value,
    reason,
    message,
    lastProbeTime: now,
    lastTransitionTime: old?.status === value ? (old.lastTransitionTime ?? now) : now,
  };
  if (index >= 0) conditions[index] = next;
  else conditions.push(next);
  status.conditions = conditions;
}
