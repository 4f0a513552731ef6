/**
 * Run transitions as this jobwire commits them, for whoever follows runs without polling the
 * store: callers waiting on `?wait=`, `GET /v1/events` streams, metrics. Every event is
 * published after its transition was committed, so what a listener sees is already durable.
 *
 *   run.queued   — a new run, or one queued again for a retry
 *   run.started  — an attempt is running
 *   run.finished — the run reached a final state (succeeded, failed, timed_out, cancelled)
 *
 * Publishing costs a map lookup when nobody listens. A watcher of one run is a callback in a map
 * keyed by run id (thousands of waiting callers cost thousands of entries, no timers, no
 * threads); a stream is an async iterable with a bounded buffer — a consumer that falls behind
 * is ended with `overflowed` set rather than letting the buffer grow (bounded everything).
 *
 * Only transitions made by this process are seen: with several replicas (PostgreSQL), a run
 * another replica finishes is seen through the store (waiters re-read it when their wait ends).
 */
import type { RunRecord } from '../core/run.js';

export type RunEvent =
  | { readonly type: 'run.queued'; readonly run: RunRecord; readonly at: number }
  | { readonly type: 'run.started'; readonly run: RunRecord; readonly at: number }
  | { readonly type: 'run.finished'; readonly run: RunRecord; readonly at: number };

export type RunEventType = RunEvent['type'];

export interface RunEventFilter {
  readonly job?: string;
  readonly correlationId?: string;
  readonly runId?: string;
  readonly types?: ReadonlySet<RunEventType>;
}

export type RunListener = (event: RunEvent) => void;

export interface RunStreamOptions {
  /** Events held for a consumer that has not read them yet; past this the stream ends (default 1,000). */
  readonly maxBuffered?: number;
}

/** A live subscription: iterate it; `close()` ends it (the iteration then returns). */
export interface RunStream extends AsyncIterable<RunEvent> {
  /** True when the stream ended because its consumer fell more than `maxBuffered` events behind. */
  readonly overflowed: boolean;
  close(): void;
}

export class RunFeed {
  readonly #byRun = new Map<string, Set<RunListener>>();
  readonly #streams = new Set<FeedStream>();
  readonly #observers = new Set<RunListener>();
  #closed = false;

  /** Called by the dispatcher and the inbox after a transition was committed. */
  publish(event: RunEvent): void {
    for (const observer of this.#observers) observer(event);
    const watchers = this.#byRun.get(event.run.id);
    if (watchers !== undefined) for (const watcher of [...watchers]) watcher(event);
    for (const stream of this.#streams) stream.offer(event);
  }

  /** Every event, synchronously (metrics, test hooks). Returns the unsubscribe function. */
  observe(listener: RunListener): () => void {
    this.#observers.add(listener);
    return () => this.#observers.delete(listener);
  }

  /** The events of one run. Returns the unsubscribe function; call it when done. */
  watchRun(runId: string, listener: RunListener): () => void {
    let watchers = this.#byRun.get(runId);
    if (watchers === undefined) {
      watchers = new Set();
      this.#byRun.set(runId, watchers);
    }
    watchers.add(listener);
    return () => {
      const current = this.#byRun.get(runId);
      if (current === undefined) return;
      current.delete(listener);
      if (current.size === 0) this.#byRun.delete(runId);
    };
  }

  /** The events that match `filter`, from now on, as an async iterable. */
  stream(filter: RunEventFilter, options: RunStreamOptions = {}): RunStream {
    const stream = new FeedStream(filter, options.maxBuffered ?? 1000, () => this.#streams.delete(stream));
    if (this.#closed) stream.close();
    else this.#streams.add(stream);
    return stream;
  }

  /** Runs watched, their watchers, and open streams, for `status` views, metrics and tests. */
  get listeners(): { readonly runs: number; readonly watchers: number; readonly streams: number } {
    let watchers = 0;
    for (const set of this.#byRun.values()) watchers += set.size;
    return { runs: this.#byRun.size, watchers, streams: this.#streams.size };
  }

  /** Ends every stream (shutdown); later streams end at once. Run watchers are their owners' to drop. */
  close(): void {
    this.#closed = true;
    for (const stream of [...this.#streams]) stream.close();
  }
}

export function matchesFilter(filter: RunEventFilter, event: RunEvent): boolean {
  if (filter.types !== undefined && !filter.types.has(event.type)) return false;
  if (filter.job !== undefined && event.run.job !== filter.job) return false;
  if (filter.runId !== undefined && event.run.id !== filter.runId) return false;
  return filter.correlationId === undefined || event.run.correlationId === filter.correlationId;
}

class FeedStream implements RunStream {
  readonly #buffer: RunEvent[] = [];
  #waiting: ((result: IteratorResult<RunEvent>) => void) | undefined;
  #ended = false;
  #overflowed = false;

  constructor(
    private readonly filter: RunEventFilter,
    private readonly maxBuffered: number,
    private readonly onEnd: () => void,
  ) {}

  get overflowed(): boolean {
    return this.#overflowed;
  }

  offer(event: RunEvent): void {
    if (this.#ended || !matchesFilter(this.filter, event)) return;
    const waiting = this.#waiting;
    if (waiting !== undefined) {
      this.#waiting = undefined;
      waiting({ value: event, done: false });
      return;
    }
    if (this.#buffer.length >= this.maxBuffered) {
      this.#overflowed = true;
      this.close();
      return;
    }
    this.#buffer.push(event);
  }

  close(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.onEnd();
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<RunEvent> {
    return {
      next: () => {
        const buffered = this.#buffer.shift();
        if (buffered !== undefined) return Promise.resolve({ value: buffered, done: false });
        if (this.#ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => {
          this.#waiting = resolve;
        });
      },
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
