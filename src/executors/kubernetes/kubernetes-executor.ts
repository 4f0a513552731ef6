/**
 * The `kubernetes` executor: each attempt of a run is a batch/v1 Job in the user's cluster.
 *
 *   start:   files + manifests (manifests.ts) → create the ConfigMap, then the Job, then make
 *            the Job the ConfigMap's owner (the cluster deletes both together) → resolve
 *   watch:   one Job and one Pod watch per namespace, shared by all runs (run-watches.ts); each
 *            attempt (kube-attempt.ts) settles from what they report
 *   recover: the Job of a run left in flight is found again by its run-id label and adopted
 *            (recovery-index.ts: one list per namespace answers for all runs at start-up)
 *   close:   stops watching; Jobs keep running in the cluster and are adopted after a restart
 *
 * Kubernetes retries failed pods itself (backoffLimit = the job's retries), so the dispatcher
 * does not (`retriesInRuntime`). Creates are idempotent: a reply lost after the API server
 * applied it ends in 409 AlreadyExists on the retry, and the existing Job is taken when its
 * run-id label and attempt annotation say it is this attempt's.
 */
import type { V1ConfigMap, V1Job } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { KubernetesExecutorSettings } from '../../config/types.js';
import { errorMessage, JobwireError, PermanentError, RetryableError } from '../../core/errors.js';
import { DEFAULT_MAX_OUTPUT_BYTES, type RunRecord } from '../../core/run.js';
import type { Attempt, Executor, RecoveredAttempt, RunSpec } from '../executor.js';
import { reportRecoveredSteps, reportSteps } from '../step-results.js';
import { DEFAULT_API_RETRY, KubeApiError, type ApiRetryPolicy } from './api-retry.js';
import { KubeApi } from './kube-api.js';
import { KubeAttempt, type AttemptSettings } from './kube-attempt.js';
import { loadKubeConfig } from './kube-config.js';
import { readJob, type JobView } from './kube-objects.js';
import { ANNOTATION, LABEL, runIdLabelValue } from './labels.js';
import { buildRunManifests, loadRunFiles, ownerReferenceTo } from './manifests.js';
import { createRateLimiter, type RateLimiter, type RateLimiterStats } from './rate-limiter.js';
import { RecoveryIndex } from './recovery-index.js';
import { RunWatches, type WatchReport } from './run-watches.js';

export interface KubernetesExecutorOptions {
  readonly name: string;
  readonly settings: KubernetesExecutorSettings;
  readonly maxLogBytes: number;
  /**
   * `limits.maxOutputSize` for Jobs adopted after a restart (a started attempt uses its spec's);
   * default DEFAULT_MAX_OUTPUT_BYTES. Kubernetes caps an output at 4096 bytes anyway.
   */
  readonly maxOutputBytes?: number;
  readonly logger: Logger;
  /** Clock for grace periods (ms). */
  readonly now?: () => number;
  /** Overrides of the API retry policy (tests use short delays). */
  readonly apiRetry?: Partial<ApiRetryPolicy>;
  readonly requestTimeoutMs?: number;
  /** Grace for CreateContainerConfigError (a Secret created at the same time as the Job). */
  readonly configErrorGraceMs?: number;
  readonly watchBackoff?: { readonly initialMs: number; readonly maxMs: number };
  /** Where KUBERNETES_SERVICE_HOST / KUBECONFIG are read; defaults to process.env. */
  readonly env?: NodeJS.ProcessEnv;
}

export type KubernetesExecutorStatus = {
  /** Where the cluster config came from and the API server's URL. */
  readonly cluster: string;
  readonly watches: readonly WatchReport[];
  readonly trackedRuns: number;
  readonly rateLimiter: RateLimiterStats;
};

export interface KubernetesExecutor extends Executor {
  status(): KubernetesExecutorStatus;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
const DEFAULT_CONFIG_ERROR_GRACE_MS = 3000;
const STOP_LOG_WAIT_MS = 5000;
/** How long one list of a namespace's Jobs answers recovery questions (start-up takes this long at most). */
const RECOVERY_LIST_MAX_AGE_MS = 60_000;
/** Tries to replace a leftover Job of an earlier attempt of the same run. */
const REPLACE_TRIES = 5;

export function createKubernetesExecutor(options: KubernetesExecutorOptions): KubernetesExecutor {
  return new KubernetesJobExecutor(options);
}

class KubernetesJobExecutor implements KubernetesExecutor {
  readonly type = 'kubernetes';
  readonly retriesInRuntime = true;
  /** A Job runs on in the cluster while jobwire restarts; the next start adopts it. */
  readonly attemptsSurviveRestart = true;
  readonly name: string;
  readonly #settings: KubernetesExecutorSettings;
  readonly #origin: string;
  readonly #limiter: RateLimiter;
  readonly #api: KubeApi;
  readonly #watches: RunWatches;
  readonly #recovery: RecoveryIndex;
  readonly #attemptSettings: AttemptSettings;
  readonly #logger: Logger;
  /** The output limit of adopted attempts. */
  readonly #recoveredMaxOutputBytes: number;
  #closed = false;

  constructor(options: KubernetesExecutorOptions) {
    this.name = options.name;
    this.#settings = options.settings;
    this.#logger = options.logger.child({ executor: options.name });
    this.#recoveredMaxOutputBytes = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    const now = options.now ?? (() => performance.timeOrigin + performance.now());
    const { kubeConfig, origin } = loadKubeConfig(options.settings, options.env);
    this.#origin = origin;
    this.#limiter = createRateLimiter({ qps: options.settings.qps, burst: options.settings.burst });
    this.#api = new KubeApi({
      kubeConfig,
      limiter: this.#limiter,
      retry: { ...DEFAULT_API_RETRY, ...options.apiRetry },
      requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      onRetry: (error, attempt, delayMs) => this.#logger.warn({ err: error.message, attempt, delayMs }, 'Kubernetes API call failed; retrying'),
    });
    this.#watches = new RunWatches({
      api: this.#api,
      logger: this.#logger,
      now,
      ...(options.watchBackoff === undefined ? {} : { backoff: options.watchBackoff }),
    });
    this.#recovery = new RecoveryIndex(this.#api, { maxAgeMs: RECOVERY_LIST_MAX_AGE_MS, now });
    this.#attemptSettings = {
      api: this.#api,
      maxLogBytes: options.maxLogBytes,
      imagePullGraceMs: options.settings.imagePullGraceMs,
      unschedulableTimeoutMs: options.settings.unschedulableTimeoutMs,
      configErrorGraceMs: options.configErrorGraceMs ?? DEFAULT_CONFIG_ERROR_GRACE_MS,
      stopLogWaitMs: STOP_LOG_WAIT_MS,
      logger: this.#logger,
      now,
      onSettled: (attempt) => this.#watches.untrack(attempt),
    };
  }

  prepare(): void {
    // Watching the default namespace from the start makes the first run's events arrive at once.
    this.#watches.ensure(this.#settings.namespace);
  }

  status(): KubernetesExecutorStatus {
    return { cluster: this.#origin, watches: this.#watches.report(), trackedRuns: this.#watches.trackedCount, rateLimiter: this.#limiter.stats() };
  }

  async start(spec: RunSpec): Promise<Attempt> {
    if (this.#closed) throw new RetryableError(`executor ${this.name} is closed`);
    const { job, configMap, namespace } = await this.#manifests(spec);
    const jobName = job.metadata?.name ?? '';
    const attempt = this.#attempt(spec.runId, String(spec.attempt), namespace, jobName, spec.maxOutputBytes);
    // Tracked before the create, so no event about the new Job can slip past it.
    this.#watches.track(attempt);
    this.#watches.ensure(namespace);
    let configMapCreated = false;
    let jobCreated = false;
    try {
      await this.#createConfigMap(namespace, configMap, spec);
      configMapCreated = true;
      const created = await this.#createJob(namespace, job, spec);
      jobCreated = true;
      attempt.exists(readJob(created));
      await this.#ownConfigMap(namespace, configMap, created);
      if (this.#closed) this.#logger.info({ job: attempt.handle }, 'executor closed while a Job was created; it keeps running and is adopted after a restart');
      return reportSteps(attempt, spec.steps);
    } catch (error) {
      attempt.abandon();
      if (configMapCreated && !jobCreated) void this.#api.deleteConfigMap(namespace, configMap.metadata?.name ?? '').catch(() => undefined);
      throw startError(error, namespace, `${namespace}/${jobName}`);
    }
  }

  async recover(run: RunRecord): Promise<RecoveredAttempt> {
    return reportRecoveredSteps(await this.#recoverAttempt(run), run.id);
  }

  async #recoverAttempt(run: RunRecord): Promise<RecoveredAttempt> {
    const handle = parseHandle(run.handle);
    const namespaces = handle === undefined ? this.#settings.namespaces : [handle.namespace];
    let found: JobView | undefined;
    for (const namespace of namespaces) {
      const jobs = await this.#recovery.jobsOf(namespace, run.id, runIdLabelValue(run.id));
      found =
        jobs.find((job) => job.name === handle?.name && job.attempt === String(run.attempts)) ??
        jobs.find((job) => job.attempt === String(run.attempts)) ??
        jobs.find((job) => job.name === handle?.name) ??
        jobs[0];
      if (found !== undefined) break;
    }
    if (found === undefined) {
      const what = handle === undefined ? `of run ${run.id} (in ${namespaces.join(', ')})` : `${handle.namespace}/${handle.name}`;
      // Claimed, and no Job was created for it: creates are idempotent, so none means none.
      if (run.status === 'starting') return { kind: 'not-started', reason: `jobwire restarted before Kubernetes Job ${what} was created` };
      return { kind: 'lost', reason: `Kubernetes Job ${what} no longer exists` };
    }
    const attempt = this.#attempt(run.id, found.attempt, found.namespace, found.name, this.#recoveredMaxOutputBytes);
    this.#watches.track(attempt);
    this.#watches.ensure(found.namespace);
    attempt.exists(found);
    return { kind: 'adopted', attempt };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Jobs keep running; only jobwire stops looking. The next start adopts them (recover).
    await this.#watches.close();
    this.#api.close();
  }

  #attempt(runId: string, attempt: string | undefined, namespace: string, jobName: string, maxOutputBytes: number): KubeAttempt {
    return new KubeAttempt({ runId: runIdLabelValue(runId), fullRunId: runId, attempt, namespace, jobName, maxOutputBytes }, this.#attemptSettings);
  }

  async #manifests(spec: RunSpec): Promise<{ job: V1Job; configMap: V1ConfigMap; namespace: string }> {
    try {
      const files = await loadRunFiles(spec);
      return buildRunManifests(spec, this.#settings, files);
    } catch (error) {
      if (error instanceof JobwireError) throw error;
      throw new PermanentError(`cannot build the Kubernetes Job of run ${spec.runId}: ${errorMessage(error)}`, { cause: error });
    }
  }

  /** Creates the run's ConfigMap; one left by this attempt is kept, one of an earlier attempt replaced. */
  async #createConfigMap(namespace: string, configMap: V1ConfigMap, spec: RunSpec): Promise<void> {
    await this.#createOrTake(`ConfigMap ${namespace}/${configMap.metadata?.name ?? ''}`, spec, {
      create: () => this.#api.createConfigMap(namespace, configMap),
      read: () => this.#api.readConfigMap(namespace, configMap.metadata?.name ?? ''),
      remove: () => this.#api.deleteConfigMap(namespace, configMap.metadata?.name ?? ''),
      isThisAttempt: (attempt) => attempt === String(spec.attempt),
    });
  }

  /** Creates the Job; after a lost reply (409 on the retry) the existing Job is taken if it is this attempt's. */
  async #createJob(namespace: string, job: V1Job, spec: RunSpec): Promise<V1Job> {
    const name = job.metadata?.name ?? '';
    return this.#createOrTake(`Job ${namespace}/${name}`, spec, {
      create: () => this.#api.createJob(namespace, job),
      read: () => this.#api.readJob(namespace, name),
      remove: () => this.#api.deleteJob(namespace, name),
      // Jobs made before attempts were annotated count as this attempt's.
      isThisAttempt: (attempt) => attempt === undefined || attempt === String(spec.attempt),
    });
  }

  /**
   * Creates an object of the run. On 409 AlreadyExists (a retried create whose first reply was
   * lost, or an earlier attempt's leftover) the existing object is taken when it is this
   * attempt's, replaced when it is an earlier attempt's, and refused when another run owns it.
   */
  async #createOrTake<T extends V1Job | V1ConfigMap>(what: string, spec: RunSpec, calls: CreateOrTake<T>): Promise<T> {
    for (let tries = 1; ; tries++) {
      try {
        return await calls.create();
      } catch (error) {
        if (!isAlreadyExists(error)) throw error;
        const existing = await calls.read().catch((read: unknown) => {
          if (read instanceof KubeApiError && read.status === 404) return undefined;
          throw read;
        });
        if (existing !== undefined) {
          const owner = whose(existing.metadata?.labels, existing.metadata?.annotations);
          checkSameRun(owner.runId, spec, what);
          if (calls.isThisAttempt(owner.attempt)) {
            this.#logger.info({ object: what, runId: spec.runId }, 'already created (its create reply was lost); using it');
            return existing;
          }
          this.#logger.info({ object: what, runId: spec.runId, previousAttempt: owner.attempt }, 'replacing what an earlier attempt left');
          await calls.remove();
        }
        if (tries >= REPLACE_TRIES) throw new RetryableError(`${what} of an earlier attempt is still being deleted`);
      }
    }
  }

  /** Makes the Job own the ConfigMap. A failure leaves a ConfigMap behind, not a broken run. */
  async #ownConfigMap(namespace: string, configMap: V1ConfigMap, job: V1Job): Promise<void> {
    const name = configMap.metadata?.name ?? '';
    try {
      await this.#api.setConfigMapOwner(namespace, name, ownerReferenceTo(job));
    } catch (error) {
      this.#logger.warn({ err: error, configMap: `${namespace}/${name}` }, 'could not make the Job own its ConfigMap; it will not be deleted with the Job');
    }
  }
}

interface CreateOrTake<T> {
  create(): Promise<T>;
  read(): Promise<T>;
  remove(): Promise<void>;
  /** Whether an existing object with this attempt annotation belongs to the attempt starting now. */
  isThisAttempt(attempt: string | undefined): boolean;
}

function isAlreadyExists(error: unknown): boolean {
  return error instanceof KubeApiError && error.status === 409;
}

function whose(
  labels: Readonly<Record<string, string>> | undefined,
  annotations: Readonly<Record<string, string>> | undefined,
): { runId: string | undefined; attempt: string | undefined } {
  return { runId: labels?.[LABEL.runId], attempt: annotations?.[ANNOTATION.attempt] };
}

function checkSameRun(runId: string | undefined, spec: RunSpec, what: string): void {
  if (runId === runIdLabelValue(spec.runId)) return;
  throw new PermanentError(
    `${what} already exists and belongs to ${runId === undefined ? 'something jobwire did not create' : `run ${runId}`}; ` +
      `run ${spec.runId} cannot use its name`,
  );
}

/** What the dispatcher should do about a start that failed. */
function startError(error: unknown, namespace: string, job: string): Error {
  if (!(error instanceof KubeApiError)) {
    return error instanceof Error ? error : new PermanentError(`cannot create Job ${job}: ${errorMessage(error)}`);
  }
  if (error.transient) return new RetryableError(`the Kubernetes API is unavailable: ${error.message}`, { cause: error });
  switch (error.status) {
    case 401:
      return new RetryableError(`the Kubernetes API refused jobwire's credentials: ${error.message}`, { cause: error });
    case 403:
      return new PermanentError(
        `${error.message} — jobwire's service account may not do this in namespace ${namespace}: it needs create, get, list, watch ` +
          'and delete on jobs and configmaps, get, list and watch on pods and get on pods/log there (see the Role in deploy/)',
        { cause: error },
      );
    case 404:
      return new PermanentError(`${error.message} — does namespace ${namespace} exist?`, { cause: error });
    case 400:
    case 422:
      return new PermanentError(`Kubernetes rejected Job ${job}: ${error.message}`, { cause: error });
    default:
      return new PermanentError(error.message, { cause: error });
  }
}

/** `<namespace>/<job name>` as stored in the run record. */
function parseHandle(handle: string | null): { namespace: string; name: string } | undefined {
  const match = /^([a-z0-9-]+)\/([a-z0-9-]+)$/.exec(handle ?? '');
  return match?.[1] === undefined || match[2] === undefined ? undefined : { namespace: match[1], name: match[2] };
}
