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
 *   finished Job (Foreground, as the TTL controller does);
 * - a pod holding the tracking finalizer whose Job is gone is released.
 * A sync looks at its Job's own pods only (the store's owner index), never the whole namespace.
 */
import { deleteObject } from './deletion.js';
import type { EventRecorder } from './events.js';
import {
  asJob,
  asPod,
  clone,
  controllerRef,
  fromTyped,
  keyOf,
  nameSuffix,
  timestamp,
  type JobCondition,
  type JobObject,
  type JobStatus,
  type ObjectMeta,
  type PodObject,
  type StoredObject,
} from './model.js';
import { findCondition, hasCondition, setCondition } from './job-conditions.js';
import { isReady, isTerminal } from './pod-status.js';
import { jobs, pods as podResource } from './resources.js';
import { AlreadyExistsInStore, type ObjectStore, type StoreEvent } from './store.js';
import { WorkQueue, type Timers } from './timers.js';

const trackingFinalizer = 'batch.kubernetes.io/job-tracking';

export class JobController {
  private readonly queue: WorkQueue;
  /** Pods (by key) to release if their Job is gone. */
  private readonly orphans: WorkQueue;
  /** When each Job (by uid) last saw a pod fail: the next pod waits retryDelayMs after it. */
  private readonly lastFailure = new Map<string, number>();
  /** Exact start per Job uid (status.startTime only has seconds). */
  private readonly startedAt = new Map<string, number>();
  private readonly armed = new Set<string>();
  /** The Job whose status this controller is writing right now: that change needs no new sync. */
  private writing: string | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly store: ObjectStore,
    private readonly timers: Timers,
    private readonly events: EventRecorder,
    private readonly retryDelayMs: number,
  ) {
    this.queue = new WorkQueue(timers, (key) => this.sync(key));
    this.orphans = new WorkQueue(timers, (key) => this.releaseIfOrphan(key));
  }

  start(): void {
    this.unsubscribe = this.store.subscribe((event) => this.observe(event));
  }

  stop(): void {
    this.unsubscribe?.();
  }

  private observe(event: StoreEvent): void {
    const meta = event.object.metadata;
    if (event.resource === 'jobs') {
      // A sync is idempotent: the status it has just written would not change what it does.
      if (!(event.type === 'MODIFIED' && meta.uid === this.writing)) this.queue.add(keyOf(meta.namespace, meta.name));
      if (event.type === 'DELETED') {
        this.lastFailure.delete(meta.uid);
        this.startedAt.delete(meta.uid);
      }
    }
    if (event.resource === 'pods') {
      const owner = controllerRef(meta);
      const relevant = event.previous === undefined || event.type === 'DELETED' || podView(event.previous) !== podView(event.object);
      if (owner?.kind === 'Job' && relevant) this.queue.add(keyOf(meta.namespace, owner.name));
      if (event.type !== 'DELETED' && tracked(meta) && (owner === undefined || !this.store.exists(owner.uid))) this.orphans.add(keyOf(meta.namespace, meta.name));
    }
    if (event.type === 'DELETED') {
      // Its pods still holding the tracking finalizer are orphans now.
      for (const pod of this.podsOf(meta.uid)) if (tracked(pod.metadata)) this.orphans.add(keyOf(pod.metadata.namespace, pod.metadata.name));
    }
  }

  /** The pods whose controller is the object with this uid, by name. */
  private podsOf(uid: string): PodObject[] {
    const mine = (object: StoredObject, resource: string): boolean => resource === 'pods' && controllerRef(object.metadata)?.uid === uid;
    const pods = this.store.dependents(uid, mine).map(({ object }) => asPod(object));
    return pods.sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
  }

  private sync(key: string): void {
    const slash = key.indexOf('/');
    const namespace = key.slice(0, slash);
    const name = key.slice(slash + 1);
    const found = this.store.get('jobs', namespace, name);
    if (found === undefined) return;
    const job = asJob(found);
    const uid = job.metadata.uid;
    const mine = this.podsOf(uid);
    if (job.metadata.deletionTimestamp !== undefined || job.spec === undefined) {
      for (const pod of mine) this.release(pod);
      return;
    }
    const spec = job.spec;
    const status: JobStatus = clone(job.status ?? {});
    const now = Date.now();
    let succeeded = status.succeeded ?? 0;
    let failed = status.failed ?? 0;
    const finishedBefore = hasCondition(status, 'Complete') || hasCondition(status, 'Failed');

    for (const pod of mine) {
      if (!tracked(pod.metadata)) continue;
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
    // The copy read above, unless the Job changed meanwhile (this sync's own writes never touch it).
    const unchanged = this.store.inspect(uid, (object) => object.metadata.resourceVersion === job.metadata.resourceVersion) === true;
    const latest = unchanged ? found : this.store.get('jobs', namespace, name);
    if (latest === undefined || latest.metadata.uid !== uid) return;
    const updated = asJob(latest);
    updated.status = status;
    this.writing = uid;
    try {
      this.store.update('jobs', fromTyped(updated));
    } finally {
      this.writing = undefined;
    }
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
          spec: clone(template.spec),
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

  /** Releases a pod still holding the tracking finalizer whose Job no longer exists. */
  private releaseIfOrphan(key: string): void {
    const slash = key.indexOf('/');
    const found = this.store.get('pods', key.slice(0, slash), key.slice(slash + 1));
    if (found === undefined || !tracked(found.metadata)) return;
    const owner = controllerRef(found.metadata);
    if (owner === undefined || !this.store.exists(owner.uid)) this.release(asPod(found));
  }
}

/** What a sync reads from a pod: a change elsewhere (a kubelet step) cannot change its Job. */
function podView(object: StoredObject): string {
  const pod = asPod(object);
  const meta = pod.metadata;
  const owner = controllerRef(meta);
  return [owner?.uid, owner?.name, pod.status?.phase, meta.deletionTimestamp, tracked(meta), isReady(pod)].join('|');
}

function tracked(meta: ObjectMeta): boolean {
  return (meta.finalizers ?? []).includes(trackingFinalizer);
}
