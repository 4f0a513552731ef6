/**
 * Finding the Jobs of runs left in flight, at start-up. The dispatcher asks about each orphaned
 * run in turn; asking the API server once per run would cost thousands of (rate-limited) list
 * calls after a restart with many runs in flight. Instead the first question about a namespace
 * lists every jobwire Job there once (paged) and later questions are answered from that list.
 *
 * The list is only trusted to say "found": a run missing from it (its Job made after the list
 * was taken) is looked up again by its own label before it is declared lost. The list is
 * dropped after `maxAgeMs`, so it never goes stale for long.
 */
import type { KubeApi } from './kube-api.js';
import { readJob, type JobView } from './kube-objects.js';
import { runIdSelector, runLabelSelector } from './labels.js';

const PAGE_SIZE = 500;

export class RecoveryIndex {
  readonly #api: KubeApi;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  /** namespace → (run id label → its Jobs), with when it was listed. */
  readonly #lists = new Map<string, Promise<{ at: number; byRun: Map<string, JobView[]> }>>();

  constructor(api: KubeApi, options: { maxAgeMs: number; now: () => number }) {
    this.#api = api;
    this.#maxAgeMs = options.maxAgeMs;
    this.#now = options.now;
  }

  /** The Jobs of run `runId` in `namespace` (usually one). */
  async jobsOf(namespace: string, runId: string, runIdLabel: string): Promise<JobView[]> {
    const listed = (await this.#list(namespace)).get(runIdLabel);
    if (listed !== undefined && listed.length > 0) return listed;
    const page = await this.#api.listJobs(namespace, runIdSelector(runId));
    return page.items.map((item) => readJob(item));
  }

  async #list(namespace: string): Promise<Map<string, JobView[]>> {
    const cached = this.#lists.get(namespace);
    if (cached !== undefined) {
      const list = await cached.catch(() => undefined);
      if (list !== undefined && this.#now() - list.at <= this.#maxAgeMs) return list.byRun;
      if (this.#lists.get(namespace) === cached) this.#lists.delete(namespace);
    }
    const fresh = this.#listAll(namespace);
    this.#lists.set(namespace, fresh);
    try {
      return (await fresh).byRun;
    } catch (error) {
      if (this.#lists.get(namespace) === fresh) this.#lists.delete(namespace);
      throw error;
    }
  }

  async #listAll(namespace: string): Promise<{ at: number; byRun: Map<string, JobView[]> }> {
    const at = this.#now();
    const byRun = new Map<string, JobView[]>();
    let continueToken: string | undefined;
    do {
      const page = await this.#api.listJobs(namespace, runLabelSelector(), { limit: PAGE_SIZE, ...(continueToken === undefined ? {} : { continueToken }) });
      for (const item of page.items) {
        const job = readJob(item);
        if (job.runId === undefined) continue;
        const jobs = byRun.get(job.runId) ?? [];
        jobs.push(job);
        byRun.set(job.runId, jobs);
      }
      continueToken = page.continueToken;
    } while (continueToken !== undefined);
    return { at, byRun };
  }
}
