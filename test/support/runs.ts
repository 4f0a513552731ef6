/**
 * Run counting and broker-restart scaffolding shared by the broker source tests: the same
 * steps for RabbitMQ, NATS and ActiveMQ, with the broker-specific commands passed in.
 */
import { withBrokers, type SharedBroker } from './broker-lock.js';
import { eventually } from './eventually.js';
import { startServe, type ServeProcess } from './serve-process.js';

/** Runs per message id, read through GET /v1/runs in pages of 500. */
export async function runsPerMessage(apiUrl: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  let cursor: string | null = null;
  do {
    const query: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
    const response = await fetch(`${apiUrl}/v1/runs?limit=500${query}`);
    const page = (await response.json()) as { runs: { messageId: string }[]; nextCursor: string | null };
    for (const run of page.runs) counts.set(run.messageId, (counts.get(run.messageId) ?? 0) + 1);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return counts;
}

/** How one broker is stopped, started and seen to be back. */
export interface BrokerControl {
  /** Its test lock (broker-lock.ts): held while it is down. */
  readonly lock: SharedBroker;
  stop(): Promise<unknown>;
  start(): Promise<unknown>;
  /** Throws while the broker does not accept clients yet. */
  ready(): Promise<void>;
  /** Names the wait in the timeout error, e.g. "NATS to accept connections again". */
  readonly backAgain: string;
  readonly readyTimeoutMs: number;
  readonly readyEveryMs: number;
}

/**
 * Stops the broker, runs `whileDown`, and starts it again — in a finally, so a failing test
 * never leaves the broker stopped for the next one — then waits until it accepts clients.
 */
export async function withStopped(broker: BrokerControl, whileDown: () => Promise<void>): Promise<void> {
  await withBrokers([broker.lock], async () => {
    await broker.stop();
    try {
      await whileDown();
    } finally {
      await broker.start();
      await eventually(broker.backAgain, async () => {
        await broker.ready();
        return true;
      }, broker.readyTimeoutMs, broker.readyEveryMs);
    }
  });
}

/**
 * Runs `jobwire serve` for `during`, then always ends it with `signal` and waits for the exit:
 * SIGKILL for the crash half of the kill -9 tests, SIGTERM for the clean restart after it.
 */
export async function whileServing<T>(file: string, dataDir: string, signal: NodeJS.Signals, during: (serve: ServeProcess) => Promise<T>): Promise<T> {
  const serve = await startServe(file, dataDir);
  try {
    return await during(serve);
  } finally {
    serve.child.kill(signal);
    await serve.exited;
  }
}
