/**
 * One attempt on Kubernetes = one Job (the Job's pods are Kubernetes' own retries). The attempt
 * is fed by the executor's shared watches (run-watches.ts) and settles exactly once:
 *
 *  - Job condition Complete → exited 0; Failed → exited with the last pod's exit code (the
 *    Job's reason, e.g. BackoffLimitExceeded or DeadlineExceeded, is added to the log);
 *  - a pod that can never start → the Job is deleted and the attempt fails at once with the
 *    kubelet's or scheduler's words: an image that cannot be pulled (after `imagePullGraceMs`),
 *    a container that cannot be created from its spec (CreateContainerConfigError, after a short
 *    grace), a pod unschedulable for `unschedulableTimeoutMs`;
 *  - the Job deleted by someone else → a PermanentError saying so;
 *  - stop() → the log so far is read, the Job deleted (background propagation), `stopped`.
 *
 * The log of the last pod is read when the Job ends (bounded head + tail, pod-logs.ts); when
 * the Job needed several pods, a header line says which one it is and how the others ended.
 * The output is that pod's termination message (termination-output.ts).
 */
import type { Logger } from 'pino';
import { errorMessage, JobwireError, PermanentError } from '../../core/errors.js';
import type { Attempt, AttemptResult, CapturedLog, StopReason } from '../executor.js';
import type { KubeApi } from './kube-api.js';
import { readPod, type JobOutcome, type JobView, type PodBlocker, type PodView } from './kube-objects.js';
import { runIdSelector } from './labels.js';
import { CONTAINER_NAME } from './pod-template.js';
import { EMPTY_LOG, framedLog, readBoundedLog } from './pod-logs.js';
import type { TrackedRun } from './run-watches.js';
import { terminationOutput } from './termination-output.js';

export interface AttemptSettings {
  readonly api: KubeApi;
  readonly maxLogBytes: number;
  readonly imagePullGraceMs: number;
  readonly unschedulableTimeoutMs: number;
  readonly configErrorGraceMs: number;
  /** How long stop() waits for the log so far before deleting the Job anyway. */
  readonly stopLogWaitMs: number;
  readonly logger: Logger;
  readonly now: () => number;
  /** Called once when the attempt settled (or was abandoned): stop routing events to it. */
  readonly onSettled: (attempt: KubeAttempt) => void;
}

export interface AttemptIdentity {
  /** The run id as its label value (what events are routed by). */
  readonly runId: string;
  /** The run's real id, for label selectors and messages. */
  readonly fullRunId: string;
  /** The attempt annotation the Job carries; events of other attempts' Jobs are ignored. */
  readonly attempt: string | undefined;
  readonly namespace: string;
  readonly jobName: string;
  /** `limits.maxOutputSize` the output is read with (capped by Kubernetes at 4096 bytes anyway). */
  readonly maxOutputBytes: number;
}

interface SeenPod {
  readonly pod: PodView;
  /** Order first seen: breaks ties between pods created in the same second. */
  readonly seen: number;
}

type Phase = 'tracking' | 'settling' | 'settled';

export class KubeAttempt implements Attempt, TrackedRun {
  readonly handle: string;
  readonly done: Promise<AttemptResult>;
  readonly runId: string;
  readonly namespace: string;
  readonly jobName: string;
  #knownToExistSince: number | undefined;
  readonly #identity: AttemptIdentity;
  readonly #settings: AttemptSettings;
  #resolve!: (result: AttemptResult) => void;
  #phase: Phase = 'tracking';
  #stopRequested = false;
  #uid: string | undefined;
  #job: JobView | undefined;
  readonly #pods = new Map<string, SeenPod>();
  #seen = 0;
  /** `uid:kind` of a pod's blocker → when it was first seen. */
  readonly #blockedSince = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;

  constructor(identity: AttemptIdentity, settings: AttemptSettings) {
    this.#identity = identity;
    this.#settings = settings;
    this.runId = identity.runId;
    this.namespace = identity.namespace;
    this.jobName = identity.jobName;
    this.handle = `${identity.namespace}/${identity.jobName}`;
    this.done = new Promise((resolve) => (this.#resolve = resolve));
  }

  get knownToExistSince(): number | undefined {
    return this.#knownToExistSince;
  }

  /** The Job now exists (created, found after a lost reply, or adopted at recovery). */
  exists(job: JobView): void {
    this.#uid = job.uid || undefined;
    this.#knownToExistSince = this.#settings.now();
    this.jobChanged(job);
  }

  /** The start failed: nothing will ever settle this attempt. */
  abandon(): void {
    this.#phase = 'settled';
    this.#clearTimer();
    this.#settings.onSettled(this);
  }

  // ---- events from the watches ----

  jobChanged(job: JobView): void {
    if (this.#phase !== 'tracking' || !this.#isMyJob(job)) return;
    this.#job = job;
    if (job.outcome.kind !== 'active') void this.#settleFromJob(job, job.outcome);
  }

  jobDeleted(how: 'event' | 'list', job?: JobView): void {
    if (this.#phase !== 'tracking' || this.#stopRequested) return;
    if (job !== undefined && !this.#isMyJob(job)) return;
    const message =
      how === 'event'
        ? `Kubernetes Job ${this.handle} was deleted outside jobwire before it finished`
        : `Kubernetes Job ${this.handle} was deleted outside jobwire (or by its ttlSecondsAfterFinished) while jobwire was not watching, before jobwire saw it finish`;
    this.#settling();
    this.#finish({ kind: 'error', error: new PermanentError(message), log: framedLog(EMPTY_LOG, undefined, message) });
  }

  podChanged(pod: PodView): void {
    if (this.#phase !== 'tracking' || !this.#isMine(pod)) return;
    this.#remember(pod);
    this.#checkBlockers();
  }

  podDeleted(uid: string): void {
    if (this.#phase !== 'tracking') return;
    this.#pods.delete(uid);
    this.#checkBlockers();
  }

  podsListed(pods: readonly PodView[]): void {
    if (this.#phase !== 'tracking') return;
    const listed = new Set(pods.map((pod) => pod.uid));
    for (const uid of this.#pods.keys()) if (!listed.has(uid)) this.#pods.delete(uid);
    for (const pod of pods) if (this.#isMine(pod)) this.#remember(pod);
    this.#checkBlockers();
  }

  // ---- Attempt ----

  stop(reason: StopReason): void {
    if (this.#stopRequested || this.#phase !== 'tracking') return;
    this.#stopRequested = true;
    this.#settling();
    void this.#stopNow(reason);
  }

  async readLog(): Promise<CapturedLog> {
    const pod = this.#newestPod();
    if (pod === undefined) return framedLog(EMPTY_LOG, undefined, `no pod of Job ${this.handle} yet`);
    return this.#podLog(pod);
  }

  // ---- internals ----

  /** This attempt's Job: the uid it was created with, once known. */
  #isMyJob(job: JobView): boolean {
    if (this.#uid !== undefined && job.uid !== '' && job.uid !== this.#uid) return false;
    return this.#isMine(job);
  }

  /** Made for this attempt (not an earlier attempt's leftover of the same run). */
  #isMine(object: { attempt: string | undefined }): boolean {
    const expected = this.#identity.attempt;
    if (expected !== undefined && object.attempt !== undefined && object.attempt !== expected) return false;
    return true;
  }

  #remember(pod: PodView): void {
    const known = this.#pods.get(pod.uid);
    this.#pods.set(pod.uid, { pod, seen: known?.seen ?? this.#seen++ });
  }

  /** Oldest first; pods created in the same second (timestamps have 1 s resolution) in the order seen. */
  #ordered(): PodView[] {
    return [...this.#pods.values()]
      .sort((a, b) => a.pod.createdAt - b.pod.createdAt || a.seen - b.seen)
      .map((entry) => entry.pod);
  }

  #newestPod(): PodView | undefined {
    return this.#ordered().at(-1);
  }

  #checkBlockers(): void {
    if (this.#phase !== 'tracking') return;
    const now = this.#settings.now();
    const current = new Set<string>();
    let nextCheckAt = Infinity;
    for (const { pod } of this.#pods.values()) {
      const blocker = pod.blocker;
      if (blocker === undefined) continue;
      const key = `${pod.uid}:${blocker.kind}`;
      current.add(key);
      const since = this.#blockedSince.get(key) ?? now;
      this.#blockedSince.set(key, since);
      const due = since + this.#grace(blocker);
      if (now >= due) {
        void this.#failFast(pod, blocker, now - since);
        return;
      }
      nextCheckAt = Math.min(nextCheckAt, due);
    }
    for (const key of this.#blockedSince.keys()) if (!current.has(key)) this.#blockedSince.delete(key);
    this.#clearTimer();
    if (nextCheckAt !== Infinity) {
      this.#timer = setTimeout(() => this.#checkBlockers(), Math.max(1, nextCheckAt - now));
    }
  }

  #grace(blocker: PodBlocker): number {
    switch (blocker.kind) {
      case 'imagePull':
        return blocker.immediate ? 0 : this.#settings.imagePullGraceMs;
      case 'config':
        return this.#settings.configErrorGraceMs;
      case 'unschedulable':
        return this.#settings.unschedulableTimeoutMs;
    }
  }

  async #failFast(pod: PodView, blocker: PodBlocker, blockedMs: number): Promise<void> {
    this.#settling();
    const waited = blockedMs >= 1000 ? ` for ${Math.round(blockedMs / 1000)}s` : '';
    let message: string;
    switch (blocker.kind) {
      case 'imagePull':
        message = `pod ${pod.name} cannot pull its image${waited}: ${blocker.reason}${blocker.message === '' ? '' : `: ${blocker.message}`}`;
        break;
      case 'config':
        message = `pod ${pod.name} cannot start: ${blocker.reason}${blocker.message === '' ? '' : `: ${blocker.message}`}`;
        break;
      case 'unschedulable':
        message = `pod ${pod.name} could not be scheduled${waited}${blocker.message === '' ? '' : `: ${blocker.message}`}`;
        break;
    }
    const footer = await this.#deleteJob(`${message}; Job ${this.handle} deleted`);
    this.#finish({ kind: 'error', error: new PermanentError(message), log: framedLog(EMPTY_LOG, undefined, footer) });
  }

  async #stopNow(reason: StopReason): Promise<void> {
    const pod = this.#newestPod();
    let log = EMPTY_LOG;
    if (pod !== undefined) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<CapturedLog>((resolve) => {
        timer = setTimeout(() => resolve(framedLog(EMPTY_LOG, undefined, `log of pod ${pod.name} not read: the API did not answer in time`)), this.#settings.stopLogWaitMs);
      });
      log = await Promise.race([this.#podLog(pod), late]);
      clearTimeout(timer);
    }
    const footer = await this.#deleteJob(`stopped (${reason}); Job ${this.handle} deleted`);
    this.#finish({ kind: 'stopped', log: framedLog(log, undefined, footer) });
  }

  /** Deletes the Job; returns the line for the log, saying whether that worked. */
  async #deleteJob(success: string): Promise<string> {
    try {
      await this.#settings.api.deleteJob(this.namespace, this.jobName);
      return success;
    } catch (error) {
      this.#settings.logger.warn({ err: error, job: this.handle, runId: this.#identity.fullRunId }, 'could not delete the Kubernetes Job');
      return `${success.replace(/; Job .* deleted$/, '')}; could not delete Job ${this.handle}: ${errorMessage(error)}`;
    }
  }

  async #settleFromJob(job: JobView, outcome: Exclude<JobOutcome, { kind: 'active' }>): Promise<void> {
    this.#settling();
    const container = job.containerName ?? CONTAINER_NAME;
    const pods = await this.#podsAtEnd(job, outcome, container);
    const last = pods.at(-1);
    let log = last === undefined ? EMPTY_LOG : await this.#podLog(last, container);
    const header =
      pods.length > 1 && last !== undefined
        ? `pod ${last.name} (${pods.length} of ${pods.length}); earlier pods: ${pods
            .slice(0, -1)
            .map((pod) => `${pod.name} ${describeEnd(pod, container)}`)
            .join(', ')}`
        : undefined;
    const end = last?.ended.get(container);
    // No pod seen (deleted by its TTL while jobwire was away): what it wrote cannot be known.
    const output = last === undefined ? undefined : terminationOutput(end?.message, this.#identity.maxOutputBytes);
    if (outcome.kind === 'complete') {
      this.#finish({ kind: 'exited', exitCode: 0, log: framedLog(log, header, undefined), output });
      return;
    }
    const why = `Job failed: ${outcome.reason}${outcome.message === '' ? '' : `: ${outcome.message}`}`;
    const footer = end?.reason !== undefined && end.reason !== 'Error' ? `${why} (last container: ${end.reason})` : why;
    log = framedLog(log, header, footer);
    if (end !== undefined && end.exitCode !== 0) {
      this.#finish({ kind: 'exited', exitCode: end.exitCode, log, output });
      return;
    }
    this.#finish({ kind: 'error', error: new JobwireError(`Kubernetes Job ${this.handle} failed: ${outcome.reason}${outcome.message === '' ? '' : `: ${outcome.message}`}`), log, output });
  }

  /**
   * The Job's pods, oldest first, once they all show how they ended. The Job and Pod watches
   * are separate streams, so the Job may say "done" before its last pod's final state arrived:
   * then the pods are listed once.
   */
  async #podsAtEnd(job: JobView, outcome: JobOutcome, container: string): Promise<PodView[]> {
    const cached = this.#ordered();
    const ended = cached.filter((pod) => pod.phase === 'Succeeded' || pod.phase === 'Failed');
    const last = cached.at(-1);
    const lastDone =
      last !== undefined && (outcome.kind === 'complete' ? last.phase === 'Succeeded' : last.ended.has(container) || last.phase === 'Failed');
    if (lastDone && ended.length >= job.endedPods) return cached;
    try {
      const listed = await this.#settings.api.listPods(this.namespace, runIdSelector(this.#identity.fullRunId));
      for (const item of listed.items) {
        const pod = readPod(item);
        if (pod.jobName === this.jobName && this.#isMine(pod)) this.#remember(pod);
      }
    } catch (error) {
      this.#settings.logger.warn({ err: error, job: this.handle }, 'could not list the pods of a finished Kubernetes Job');
    }
    return this.#ordered();
  }

  async #podLog(pod: PodView, container: string = this.#job?.containerName ?? CONTAINER_NAME): Promise<CapturedLog> {
    try {
      return await readBoundedLog(
        (bounds) => this.#settings.api.readPodLog(this.namespace, pod.name, container, bounds),
        this.#settings.maxLogBytes,
      );
    } catch (error) {
      return framedLog(EMPTY_LOG, undefined, `could not read the log of pod ${pod.name}: ${errorMessage(error)}`);
    }
  }

  #settling(): void {
    this.#phase = 'settling';
    this.#clearTimer();
  }

  #finish(result: AttemptResult): void {
    if (this.#phase === 'settled') return;
    this.#phase = 'settled';
    this.#clearTimer();
    this.#settings.onSettled(this);
    this.#resolve(result);
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

function describeEnd(pod: PodView, container: string): string {
  const end = pod.ended.get(container);
  if (end === undefined) return pod.phase.toLowerCase();
  return `exit ${end.exitCode}${end.reason !== undefined && end.reason !== 'Error' && end.reason !== 'Completed' ? ` (${end.reason})` : ''}`;
}
