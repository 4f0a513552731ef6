/**
 * The executor's eyes on the cluster: one Job watch and one Pod watch per namespace in use
 * (started the first time a run goes there), selecting everything jobwire manages, and a table
 * of the runs being tracked. Events are routed to a run by its `jobwire.dev/run-id` label (pods
 * carry it from the pod template; the Job name is the fallback), so the API server serves
 * 2 watches whatever the number of runs — no polling per run.
 *
 * After every full list (the first one, and each re-list after 410 Gone) each tracked run is
 * reconciled against it: a Job it created before the list was asked for and that the list does
 * not hold was deleted while no watch saw it.
 */
import type { Logger } from 'pino';
import type { KubeApi } from './kube-api.js';
import { readJob, readPod, type JobView, type PodView } from './kube-objects.js';
import { LABEL, MANAGED_BY } from './labels.js';
import { ResourceWatch, type WatchEventType, type WatchState } from './resource-watch.js';

/** What a tracked run is told; implemented by KubeAttempt. */
export interface TrackedRun {
  readonly runId: string;
  readonly namespace: string;
  readonly jobName: string;
  /** `now()` when its Job was known to exist (created or adopted); undefined while creating. */
  readonly knownToExistSince: number | undefined;
  jobChanged(job: JobView): void;
  /** Its Job is gone: a DELETED event (with the Job), or missing from a list. */
  jobDeleted(how: 'event' | 'list', job?: JobView): void;
  podChanged(pod: PodView): void;
  podDeleted(uid: string): void;
  /** The complete set of its pods, from a list. */
  podsListed(pods: readonly PodView[]): void;
}

export interface WatchReport {
  readonly namespace: string;
  readonly resource: 'jobs' | 'pods';
  readonly status: WatchState;
}

export interface RunWatchesOptions {
  readonly api: KubeApi;
  readonly logger: Logger;
  readonly now: () => number;
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
}

/** Every Job and Pod jobwire made for a run (CronJob-made ones carry no run id). */
const SELECTOR = `${LABEL.managedBy}=${MANAGED_BY},${LABEL.runId}`;

export class RunWatches {
  readonly #options: RunWatchesOptions;
  readonly #runs = new Map<string, TrackedRun>();
  /** `namespace/jobName` → run, for objects without the run-id label. */
  readonly #byJobName = new Map<string, TrackedRun>();
  readonly #watches = new Map<string, { jobs: ResourceWatch; pods: ResourceWatch }>();
  #closed = false;

  constructor(options: RunWatchesOptions) {
    this.#options = options;
  }

  /** Starts the namespace's watches if they are not running yet. */
  ensure(namespace: string): void {
    if (this.#closed || this.#watches.has(namespace)) return;
    const { api, logger, now } = this.#options;
    const common = { api, namespace, labelSelector: SELECTOR, logger, now, ...(this.#options.backoff === undefined ? {} : { backoff: this.#options.backoff }) };
    const jobs = new ResourceWatch({
      ...common,
      resource: 'jobs',
      path: `/apis/batch/v1/namespaces/${encodeURIComponent(namespace)}/jobs`,
      list: (continueToken) => api.listJobs(namespace, SELECTOR, { limit: 500, ...(continueToken === undefined ? {} : { continueToken }) }, 'watch'),
      onEvent: (type, object) => this.#jobEvent(type, object),
      onList: (items, sentAt) => this.#jobsListed(namespace, items, sentAt),
    });
    const pods = new ResourceWatch({
      ...common,
      resource: 'pods',
      path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`,
      list: (continueToken) => api.listPods(namespace, SELECTOR, { limit: 500, ...(continueToken === undefined ? {} : { continueToken }) }, 'watch'),
      onEvent: (type, object) => this.#podEvent(type, object),
      onList: (items) => this.#podsListed(namespace, items),
    });
    this.#watches.set(namespace, { jobs, pods });
    jobs.start();
    pods.start();
  }

  track(run: TrackedRun): void {
    this.#runs.set(run.runId, run);
    this.#byJobName.set(`${run.namespace}/${run.jobName}`, run);
  }

  untrack(run: TrackedRun): void {
    if (this.#runs.get(run.runId) === run) this.#runs.delete(run.runId);
    const key = `${run.namespace}/${run.jobName}`;
    if (this.#byJobName.get(key) === run) this.#byJobName.delete(key);
  }

  get trackedCount(): number {
    return this.#runs.size;
  }

  report(): WatchReport[] {
    const reports: WatchReport[] = [];
    for (const [namespace, { jobs, pods }] of this.#watches) {
      reports.push({ namespace, resource: 'jobs', status: jobs.state }, { namespace, resource: 'pods', status: pods.state });
    }
    return reports;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#watches.values()].flatMap(({ jobs, pods }) => [jobs.close(), pods.close()]));
  }

  #find(runId: string | undefined, namespace: string, jobName: string | undefined): TrackedRun | undefined {
    if (runId !== undefined) {
      // Labelled: it is that run's or no tracked run's (never another run's by a shared name).
      const byId = this.#runs.get(runId);
      return byId !== undefined && byId.namespace === namespace ? byId : undefined;
    }
    return jobName === undefined ? undefined : this.#byJobName.get(`${namespace}/${jobName}`);
  }

  #jobEvent(type: WatchEventType, object: unknown): void {
    const job = readJob(object);
    const run = this.#find(job.runId, job.namespace, job.name);
    if (run === undefined || run.jobName !== job.name) return;
    if (type === 'DELETED') run.jobDeleted('event', job);
    else run.jobChanged(job);
  }

  #podEvent(type: WatchEventType, object: unknown): void {
    const pod = readPod(object);
    const run = this.#find(pod.runId, pod.namespace, pod.jobName);
    if (run === undefined) return;
    if (type === 'DELETED') run.podDeleted(pod.uid);
    else run.podChanged(pod);
  }

  #jobsListed(namespace: string, items: readonly unknown[], sentAt: number): void {
    const present = new Set<TrackedRun>();
    for (const item of items) {
      const job = readJob(item);
      const run = this.#find(job.runId, namespace, job.name);
      if (run === undefined || run.jobName !== job.name) continue;
      present.add(run);
      run.jobChanged(job);
    }
    for (const run of [...this.#runs.values()]) {
      if (run.namespace !== namespace || present.has(run)) continue;
      // Only a Job known to exist before the list was asked for must be in it.
      const since = run.knownToExistSince;
      if (since !== undefined && since < sentAt) run.jobDeleted('list');
    }
  }

  #podsListed(namespace: string, items: readonly unknown[]): void {
    const byRun = new Map<TrackedRun, PodView[]>();
    for (const item of items) {
      const pod = readPod(item);
      const run = this.#find(pod.runId, namespace, pod.jobName);
      if (run === undefined) continue;
      const pods = byRun.get(run) ?? [];
      pods.push(pod);
      byRun.set(run, pods);
    }
    for (const run of [...this.#runs.values()]) {
      if (run.namespace === namespace) run.podsListed(byRun.get(run) ?? []);
    }
  }
}
