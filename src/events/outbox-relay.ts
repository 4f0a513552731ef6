/**
 * The outbox relay: delivers what committed transitions left in the outbox (store.ts,
 * OutboxEntry), target by target, and removes each entry once delivered.
 *
 * Per target, one loop at a time:
 *
 *   idle ──notify/timer──► draining: read the oldest batch ──► deliver ──► delete delivered
 *     ▲                        │  (batch full: read the next)      │
 *     │                        └── empty ───────────────────────────┤
 *     └──── backing off (a delivery failed: 250 ms doubling to 30 s) ◄┘
 *
 * - It never blocks a run: the dispatcher only writes entries (inside its own transactions) and
 *   notifies; delivery happens here, after the commit. A target that is down keeps its entries
 *   on disk and backs off; the other targets go on.
 * - At-least-once: an entry is deleted only after its delivery succeeded, so a crash between
 *   the two sends it again at the next start, with the same id (receivers dedupe by it).
 * - Bounded: a target with `maxPending` (lifecycle-event sinks) drops its oldest entries beyond
 *   it, with a warning naming how many; chained messages (work, not news) are never dropped.
 * - An entry whose target is no longer configured stays in the outbox, reported once at start.
 */
import type { Logger } from 'pino';
import { errorMessage, PermanentError } from '../core/errors.js';
import type { OutboxRecord, Store } from '../store/store.js';
import { parsePayload, type Deliverer } from './deliverer.js';

const BATCH = 128;
const FIRST_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 30_000;

export interface OutboxRelayOptions {
  readonly store: Store;
  readonly deliverers: readonly Deliverer[];
  readonly logger: Logger;
}

type TargetState =
  | { readonly phase: 'idle' }
  | { readonly phase: 'draining'; again: boolean }
  | { readonly phase: 'backing-off'; readonly until: number; readonly timer: NodeJS.Timeout };

interface Target {
  readonly deliverer: Deliverer;
  state: TargetState;
  /** Consecutive failed rounds, for the backoff. */
  failures: number;
  /** Entries known to be waiting (counted at start, then by notify and delivery). */
  pending: number;
  delivered: number;
  dropped: number;
  drained: Promise<void>;
}

export class OutboxRelay {
  readonly #targets = new Map<string, Target>();
  #stopped = false;

  constructor(private readonly options: OutboxRelayOptions) {
    for (const deliverer of options.deliverers) {
      this.#targets.set(deliverer.target, { deliverer, state: { phase: 'idle' }, failures: 0, pending: 0, delivered: 0, dropped: 0, drained: Promise.resolve() });
    }
  }

  /** Whether `target` has a deliverer here. */
  has(target: string): boolean {
    return this.#targets.has(target);
  }

  /** Counts what earlier processes left and starts delivering it. */
  async start(): Promise<void> {
    const pending = await this.options.store.outboxPending();
    for (const [name, count] of pending) {
      const target = this.#targets.get(name);
      if (target === undefined) {
        this.options.logger.warn({ target: name, pending: count }, 'outbox entries for a target that is not configured: kept, not delivered');
        continue;
      }
      target.pending = count;
      this.#kick(target);
    }
  }

  /** Entries for these targets were committed. */
  notify(counts: ReadonlyMap<string, number>): void {
    for (const [name, count] of counts) {
      const target = this.#targets.get(name);
      if (target === undefined) continue;
      target.pending += count;
      this.#kick(target);
    }
  }

  status(): Record<string, unknown>[] {
    return [...this.#targets.values()].map((target) => ({
      target: target.deliverer.target,
      ...target.deliverer.describe(),
      state: target.state.phase,
      pending: target.pending,
      relayed: target.delivered,
      dropped: target.dropped,
    }));
  }

  /**
   * Gives the targets that are delivering up to `timeoutMs` to send what is waiting (a target
   * backing off is not waited for), then stops and closes the deliverers. What is left stays in
   * the outbox for the next start.
   */
  async stop(timeoutMs = 5000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    const settled = async (): Promise<void> => {
      for (;;) {
        const draining = [...this.#targets.values()].filter((target) => target.state.phase === 'draining');
        if (draining.length === 0) return;
        await Promise.all(draining.map((target) => target.drained));
      }
    };
    await Promise.race([settled(), deadline]);
    this.#stopped = true;
    for (const target of this.#targets.values()) {
      if (target.state.phase === 'backing-off') clearTimeout(target.state.timer);
    }
    // A delivery still in flight finishes (or fails) against a closing connection; its entry stays.
    await Promise.race([Promise.all([...this.#targets.values()].map((target) => target.drained)), deadline]);
    clearTimeout(timer);
    await Promise.all([...this.#targets.values()].map((target) => target.deliverer.close().catch(() => undefined)));
  }

  #kick(target: Target): void {
    if (this.#stopped) return;
    switch (target.state.phase) {
      case 'draining':
        target.state.again = true;
        return;
      case 'backing-off':
        return;
      case 'idle': {
        const state = { phase: 'draining' as const, again: false };
        target.state = state;
        target.drained = this.#drain(target, state).catch((error: unknown) => {
          this.options.logger.error({ err: error, target: target.deliverer.target }, 'outbox relay failed; trying again');
          this.#backOff(target);
        });
      }
    }
  }

  async #drain(target: Target, state: { again: boolean }): Promise<void> {
    const { store } = this.options;
    const { deliverer } = target;
    for (;;) {
      if (this.#stopped) return;
      await this.#trim(target);
      state.again = false;
      const batch = await store.outboxBatch(deliverer.target, BATCH);
      if (batch.length === 0) {
        target.pending = 0;
        if (state.again) continue;
        target.state = { phase: 'idle' };
        return;
      }
      const outcomes = deliverer.pipelined
        ? await Promise.allSettled(batch.map((entry) => this.#deliverOne(deliverer, entry)))
        : await this.#oneByOne(deliverer, batch);
      const done: number[] = [];
      let failure: { entry: OutboxRecord; error: unknown } | undefined;
      outcomes.forEach((outcome, index) => {
        const entry = batch[index];
        if (entry === undefined) return;
        if (outcome.status === 'fulfilled') {
          done.push(entry.seq);
          target.delivered++;
        } else if (outcome.reason instanceof PermanentError) {
          done.push(entry.seq);
          target.dropped++;
          this.options.logger.error({ target: deliverer.target, eventId: entry.id, err: outcome.reason }, 'outbox entry can never be delivered; dropped');
        } else {
          failure ??= { entry, error: outcome.reason };
        }
      });
      await store.outboxDelete(done);
      target.pending = Math.max(0, target.pending - done.length);
      if (failure !== undefined) {
        const { entry, error } = failure;
        await store.outboxFailed(entry.seq, errorMessage(error));
        target.failures++;
        this.options.logger.warn(
          { target: deliverer.target, eventId: entry.id, attempts: entry.attempts + 1, err: error, pending: target.pending },
          'outbox delivery failed; backing off',
        );
        this.#backOff(target);
        return;
      }
      target.failures = 0;
      if (batch.length < BATCH && !state.again) {
        target.pending = 0;
        target.state = { phase: 'idle' };
        return;
      }
    }
  }

  async #deliverOne(deliverer: Deliverer, entry: OutboxRecord): Promise<void> {
    let payload;
    try {
      payload = parsePayload(entry);
    } catch (error) {
      throw new PermanentError(errorMessage(error), { cause: error });
    }
    await deliverer.deliver(entry, payload);
  }

  /** In order, stopping at the first failure that may pass (the rest wait for the next round). */
  async #oneByOne(deliverer: Deliverer, batch: readonly OutboxRecord[]): Promise<PromiseSettledResult<void>[]> {
    const outcomes: PromiseSettledResult<void>[] = [];
    for (const entry of batch) {
      try {
        await this.#deliverOne(deliverer, entry);
        outcomes.push({ status: 'fulfilled', value: undefined });
      } catch (error) {
        outcomes.push({ status: 'rejected', reason: error });
        if (!(error instanceof PermanentError)) break;
      }
    }
    return outcomes;
  }

  async #trim(target: Target): Promise<void> {
    const { maxPending, target: name } = target.deliverer;
    if (maxPending === undefined || target.pending <= maxPending) return;
    const dropped = await this.options.store.outboxTrim(name, maxPending);
    target.pending = Math.min(target.pending, maxPending);
    if (dropped > 0) {
      target.dropped += dropped;
      this.options.logger.warn({ target: name, dropped, maxPending }, 'outbox target over its maxPending: the oldest events were dropped');
    }
  }

  #backOff(target: Target): void {
    if (this.#stopped) {
      target.state = { phase: 'idle' };
      return;
    }
    const delay = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** Math.max(0, target.failures - 1));
    const timer = setTimeout(() => {
      target.state = { phase: 'idle' };
      this.#kick(target);
    }, delay);
    timer.unref();
    target.state = { phase: 'backing-off', until: Date.now() + delay, timer };
  }
}
