/**
 * Every delay the fake schedules (kubelet steps, pod retry backoff, deadlines, garbage collection)
 * goes through one Timers object, so close() can cancel them all and nothing fires after the
 * server is gone. Timers are unref'd: a forgotten fake never holds a test process open.
 */
export class Timers {
  private readonly pending = new Set<NodeJS.Timeout>();
  private closed = false;

  /** Runs `fn` after `ms`; returns a cancel function. Nothing runs once closed. */
  after(ms: number, fn: () => void): () => void {
    if (this.closed) return () => undefined;
    const handle = setTimeout(() => {
      this.pending.delete(handle);
      if (!this.closed) fn();
    }, Math.max(0, ms));
    handle.unref();
    this.pending.add(handle);
    return () => {
      clearTimeout(handle);
      this.pending.delete(handle);
    };
  }

  get isClosed(): boolean {
    return this.closed;
  }

  close(): void {
    this.closed = true;
    for (const handle of this.pending) clearTimeout(handle);
    this.pending.clear();
  }
}

/**
 * Coalesces requests to do work for a key into one run on a later turn of the event loop, as a
 * controller's work queue does: many changes to one Job → one sync.
 */
export class WorkQueue {
  private readonly queued = new Set<string>();

  constructor(
    private readonly timers: Timers,
    private readonly work: (key: string) => void,
    private readonly delayMs = 0,
  ) {}

  add(key: string, delayMs = this.delayMs): void {
    if (delayMs > 0) {
      this.timers.after(delayMs, () => this.add(key, 0));
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.timers.after(0, () => {
      this.queued.delete(key);
      this.work(key);
    });
  }
}
