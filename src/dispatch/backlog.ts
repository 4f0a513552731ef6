/**
 * Counts runs waiting in the store (`queued`) and holds broker sources back while there are too
 * many, so a deep broker queue stays in the broker — where other consumers and autoscalers can
 * see it — instead of draining into jobwire faster than it can run it. The count is kept in
 * memory (seeded from the store at start) so `admit` costs nothing on the hot path.
 *
 * The limit is soft: `admit` reserves nothing, so when room opens every waiting source passes
 * and the overshoot is bounded by the sources' prefetch — which already bounds memory.
 */
import type { Capacity } from '../sources/source.js';

export class Backlog implements Capacity {
  private queued = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  get size(): number {
    return this.queued;
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
    this.release();
  }

  admit(): Promise<void> {
    if (this.queued < this.limit) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private release(): void {
    while (this.queued < this.limit && this.waiters.length > 0) this.waiters.shift()?.();
  }
}
