/**
 * Long-polling on runs: `POST /v1/messages?wait=` and `GET /v1/runs/:id?wait=` answer when the
 * runs are final or when the wait runs out. A waiter is a watcher in the run feed plus one timer
 * — no thread, no polling loop — so thousands of waiting callers are thousands of map entries.
 *
 * Order matters: the watchers are registered before the store is read, so a run that finishes
 * between the read and the registration cannot be missed. When the wait ends without an event
 * for a run (time is up, the caller left, the API closes), the run is read again from the store,
 * which also covers a run another replica finished.
 */
import { InvalidInputError } from '../core/errors.js';
import { FINAL_STATUSES, type RunRecord } from '../core/run.js';
import type { RunFeed } from '../dispatch/run-feed.js';
import { parseDuration } from '../config/units.js';
import type { Store } from '../store/store.js';

/** The longest `?wait=` accepted: past it a proxy or client has long given up. */
export const MAX_WAIT_MS = 5 * 60_000;

export interface WaitOutcome {
  /** In the order asked for; a run that vanished from the store is left out. */
  readonly runs: readonly RunRecord[];
  /** Every run is final. */
  readonly complete: boolean;
}

/** `?wait=30s` → ms; undefined when absent. Throws InvalidInputError for a bad or too long value. */
export function parseWait(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  let ms: number;
  try {
    ms = parseDuration(value === '' ? '0' : value);
  } catch (error) {
    throw new InvalidInputError(`query parameter wait: ${(error as Error).message}`, { cause: error });
  }
  if (ms > MAX_WAIT_MS) throw new InvalidInputError(`query parameter wait must be at most ${MAX_WAIT_MS / 1000}s`);
  return ms;
}

export async function waitForRuns(
  deps: { readonly store: Store; readonly feed: RunFeed },
  runIds: readonly string[],
  waitMs: number,
  signal: AbortSignal,
): Promise<WaitOutcome> {
  const latest = new Map<string, RunRecord>();
  const pending = new Set(runIds);
  let wake: (() => void) | undefined;
  const unwatch = runIds.map((id) =>
    deps.feed.watchRun(id, (event) => {
      latest.set(id, event.run);
      if (event.type !== 'run.finished') return;
      pending.delete(id);
      if (pending.size === 0) wake?.();
    }),
  );
  let timer: NodeJS.Timeout | undefined;
  const onAbort = (): void => wake?.();
  try {
    const stored = await Promise.all(runIds.map((id) => deps.store.getRun(id)));
    stored.forEach((run, index) => {
      const id = runIds[index];
      if (id === undefined) return;
      if (run === undefined) {
        pending.delete(id);
        return;
      }
      // An event that came in during the read is newer than what the read returned.
      if (!latest.has(id)) latest.set(id, run);
      if (FINAL_STATUSES.has(run.status)) pending.delete(id);
    });
    if (pending.size > 0 && waitMs > 0 && !signal.aborted) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(resolve, waitMs);
        signal.addEventListener('abort', onAbort, { once: true });
      });
    }
  } finally {
    for (const stop of unwatch) stop();
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
  }
  if (pending.size > 0) {
    // No final event seen for these: the store knows best (another replica, a missed turn).
    const reread = await Promise.all([...pending].map((id) => deps.store.getRun(id)));
    for (const run of reread) {
      if (run === undefined) continue;
      latest.set(run.id, run);
      if (FINAL_STATUSES.has(run.status)) pending.delete(run.id);
    }
  }
  const runs = runIds.flatMap((id) => {
    const run = latest.get(id);
    return run === undefined ? [] : [run];
  });
  return { runs, complete: runs.every((run) => FINAL_STATUSES.has(run.status)) };
}
