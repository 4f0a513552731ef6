/**
 * What the NATS source's per-subject loops (JetStream consumer or core subscription) share: the
 * things they need from the source, and the small "stop" latch every wait races against so that
 * `stop()` never hangs behind a full backlog or a reconnect delay.
 */
import type { Logger } from 'pino';
import type { Capacity, DeliverFn } from './source.js';
import { ABORTED, stopController, unlessAborted } from './unless-aborted.js';

export interface ConsumptionContext {
  readonly source: string;
  /** Carries the source's name. */
  readonly logger: Logger;
  readonly deliver: DeliverFn;
  readonly capacity: Capacity;
  readonly maxMessageBytes: number;
  readonly reconnect: { readonly initialMs: number; readonly maxMs: number };
}

/** One subject's message loop. */
export interface Consumption {
  /** Resolves when the loop has ended (after `stop`, or when its connection closed). */
  readonly done: Promise<void>;
  /** Stops taking messages, lets the one being delivered finish, returns the rest to the broker. */
  stop(): Promise<void>;
}

/** A one-way latch: `stopped` resolves once `stop()` was called. Waits on it leave nothing behind (unless-aborted.ts). */
export class StopLatch {
  private readonly controller = stopController();
  readonly stopped: Promise<void> = new Promise<void>((resolve) => {
    this.controller.signal.addEventListener('abort', () => resolve(), { once: true });
  });

  get isStopped(): boolean {
    return this.controller.signal.aborted;
  }

  stop(): void {
    this.controller.abort();
  }

  /** Waits `ms` or until stopped; true when the wait ran out, false when stopped. */
  async sleep(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const slept = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), ms);
    });
    try {
      return (await unlessAborted(slept, this.controller.signal)) === true;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Waits for capacity or stop; true when admitted. */
  async admit(capacity: Capacity): Promise<boolean> {
    return (await unlessAborted(capacity.admit(), this.controller.signal)) !== ABORTED && !this.isStopped;
  }
}
