/**
 * Every broker source's `stop()` is bounded. A graceful stop talks to the broker — cancel the
 * consumers, send the last acks, close the channel, DISCONNECT — and a broker that vanished
 * mid-shutdown without closing the TCP connection (a frozen VM, a dropped route, a proxy that
 * stopped forwarding) answers none of it: the client libraries would wait for a heartbeat to
 * notice, or forever when heartbeats are off. A hung `stop()` hangs jobwire's shutdown with it.
 *
 * So the graceful stop gets `stopTimeoutMs`; past that, a warning names the source and the
 * deadline, the source drops its connection at once (`force`) and `stop()` resolves. Whatever
 * was still unacknowledged goes back to the broker when it notices the dead connection, and is
 * recognised as a duplicate if it had been committed.
 */
import type { Logger } from 'pino';

/** How long a source's graceful stop may take before its connection is dropped. */
export const DEFAULT_STOP_TIMEOUT_MS = 10_000;

export interface BoundedStopOptions {
  readonly timeoutMs: number;
  /** Carries the source's name and type. */
  readonly logger: Logger;
  /** Drops the connection at once, without talking to the broker. Must not throw. */
  readonly force: () => void;
}

/** Resolves when `graceful` settled, or at the deadline after `force` — whichever comes first. */
export async function boundedStop(graceful: Promise<void>, options: BoundedStopOptions): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'deadline'>((resolve) => {
    timer = setTimeout(() => resolve('deadline'), options.timeoutMs);
  });
  const outcome = await Promise.race([
    graceful.then(
      () => 'stopped' as const,
      (error: unknown) => {
        options.logger.warn({ err: error }, 'source stop failed; dropping the connection');
        return 'failed' as const;
      },
    ),
    deadline,
  ]);
  clearTimeout(timer);
  if (outcome === 'stopped') return;
  if (outcome === 'deadline') {
    options.logger.warn(
      { stopTimeoutMs: options.timeoutMs },
      `source did not stop within ${options.timeoutMs} ms (the broker does not answer): dropping the connection; unacknowledged messages return to the broker`,
    );
  }
  options.force();
}
