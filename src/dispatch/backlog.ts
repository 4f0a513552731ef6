/**
 * Counts runs waiting in the store (`queued`) and holds broker sources back while there are too
 * many, so a deep broker queue stays in the broker — where other consumers and autoscalers can
 * see it — instead of draining into jobwire faster than it can run it. The count is kept in
 * memory (seeded from the store at start) so `admit` costs nothing on the hot path.
 *
 * The limit is soft for sources: `admit` reserves nothing, so when room opens every waiting
 * source passes and the overshoot is bounded by the sources' prefetch — which already bounds
 * memory. The HTTP API does not wait: `isFull` answers its callers 429 at once, with a
 * Retry-After from how fast the backlog drained lately (`secondsToRoom`).
 */
import type { Capacity } from '../sources/source.js';

/** Claims are counted in one-second buckets over this many seconds. */
const RATE_WINDOW_SECONDS = 10;

export class Backlog implements Capacity {
  private queued = 0;
  private readonly waiters: (() => void)[] = [];
  /** Runs claimed per second, for the last RATE_WINDOW_SECONDS seconds (ring by second). */
  private readonly claimedPerSecond = new Array<number>(RATE_WINDOW_SECONDS).fill(0);
  private lastSecond = 0;

  constructor(
    private readonly limit: number,
    private readonly nowSeconds: () => number = () => Math.floor(Date.now() / 1000),
  ) {}

  get size(): number {
    return this.queued;
  }

  get maxQueued(): number {
    return this.limit;
  }

  get isFull(): boolean {
    return this.queued >= this.limit;
  }

  reset(queued: number): void {
    this.queued = queued;
    this.release();
  }

  add(count: number): void {
    this.queued += count;
  }

  remove(count: number): void {
    this.queued = Math.max(0, this.queued - count);
    if (count > 0) this.countClaims(count);
    this.release();
  }

  admit(): Promise<void> {
    if (this.queued < this.limit) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** How long until there is room, at the drain rate of the last seconds: 1 to 60 s. */
  secondsToRoom(): number {
    this.advance();
    const claimed = this.claimedPerSecond.reduce((sum, count) => sum + count, 0);
    const perSecond = claimed / RATE_WINDOW_SECONDS;
    const excess = this.queued - this.limit + 1;
    if (perSecond <= 0) return 60;
    return Math.min(60, Math.max(1, Math.ceil(excess / perSecond)));
  }

  private countClaims(count: number): void {
    this.advance();
    const slot = this.lastSecond % RATE_WINDOW_SECONDS;
    this.claimedPerSecond[slot] = (this.claimedPerSecond[slot] ?? 0) + count;
  }

  /** Clears the buckets of the seconds that passed since the last count. */
  private advance(): void {
    const now = this.nowSeconds();
    const passed = Math.min(RATE_WINDOW_SECONDS, now - this.lastSecond);
    for (let step = 1; step <= passed; step++) this.claimedPerSecond[(this.lastSecond + step) % RATE_WINDOW_SECONDS] = 0;
    if (now > this.lastSecond) this.lastSecond = now;
  }

  private release(): void {
    while (this.queued < this.limit && this.waiters.length > 0) this.waiters.shift()?.();
  }
}
