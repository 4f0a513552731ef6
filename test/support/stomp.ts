/**
 * ActiveMQ helpers for the stomp source tests: an ordinary STOMP client (@stomp/stompjs over
 * @stomp/tcp-wrapper, the library's documented Node setup — not jobwire's code) to publish and
 * to look into queues, unique names per test, and a broker restart that always leaves ActiveMQ
 * running. The broker is the one `.ci/activemq.sh` installs.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { Client, type IMessage, type StompHeaders } from '@stomp/stompjs';
import { TCPWrapper } from '@stomp/tcp-wrapper';

export const STOMP_HOST = '127.0.0.1';
export const STOMP_PORT = Number(process.env['JOBWIRE_TEST_STOMP_PORT'] ?? 61613);
export const STOMP_URL = `stomp://${STOMP_HOST}:${STOMP_PORT}`;
/** The TLS connector and the throwaway CA's client files that `.ci/activemq.sh` makes. */
export const STOMP_TLS_URL = 'stomp+ssl://127.0.0.1:61614';
export const TLS_CLIENT_DIR = '/etc/activemq/jobwire-tls/client';

const run = promisify(execFile);

/** Unique per process and call, so parallel test files never share a destination. */
export function uniqueName(prefix: string): string {
  return `jobwire-test.${prefix}.${process.pid}.${randomBytes(4).toString('hex')}`;
}

export interface RawClient {
  /** SENDs with a receipt and waits for it. */
  send(destination: string, body: string | Uint8Array, headers?: StompHeaders): Promise<void>;
  /** SENDs many; the receipt on the last one confirms them all (a connection's frames are in order). */
  sendMany(destination: string, messages: readonly { body: string; headers?: StompHeaders }[]): Promise<void>;
  /** Consumes (auto ack) what arrives until nothing came for `quietMs`. */
  drain(destination: string, options?: { quietMs?: number; selector?: string; max?: number }): Promise<IMessage[]>;
  /** Subscribes with client-individual acks and never acks: holds messages like a stuck consumer. */
  hold(destination: string, prefetch: number): Promise<{ readonly received: IMessage[]; release(): void }>;
  close(): Promise<void>;
}

export async function rawClient(): Promise<RawClient> {
  const client = new Client({
    webSocketFactory: () => new TCPWrapper(STOMP_HOST, STOMP_PORT),
    connectHeaders: { host: 'localhost' },
    reconnectDelay: 0,
    heartbeatIncoming: 0,
    heartbeatOutgoing: 0,
    debug: () => undefined,
  });
  await new Promise<void>((resolve, reject) => {
    client.onConnect = () => resolve();
    client.onStompError = (frame) => reject(new Error(`STOMP ERROR: ${frame.headers['message'] ?? ''}`));
    client.onWebSocketClose = () => reject(new Error(`ActiveMQ is not reachable at ${STOMP_URL}`));
    client.activate();
  });
  let receipts = 0;
  const sendWithReceipt = (destination: string, body: string | Uint8Array, headers: StompHeaders): Promise<void> => {
    receipts += 1;
    const receipt = `raw-${receipts}`;
    const confirmed = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no RECEIPT for SEND to ${destination}`)), 15_000);
      client.watchForReceipt(receipt, () => {
        clearTimeout(timer);
        resolve();
      });
    });
    const frame = typeof body === 'string' ? { body } : { binaryBody: body };
    client.publish({ destination, ...frame, headers: { persistent: 'true', ...headers, receipt } });
    return confirmed;
  };
  return {
    send: (destination, body, headers = {}) => sendWithReceipt(destination, body, headers),
    async sendMany(destination, messages) {
      const last = messages.length - 1;
      for (const [index, message] of messages.entries()) {
        if (index === last) await sendWithReceipt(destination, message.body, message.headers ?? {});
        else client.publish({ destination, body: message.body, headers: { persistent: 'true', ...message.headers } });
      }
    },
    async drain(destination, options = {}) {
      const received: IMessage[] = [];
      const quietMs = options.quietMs ?? 1000;
      let last = Date.now();
      const subscription = client.subscribe(
        destination,
        (message) => {
          received.push(message);
          last = Date.now();
        },
        { ack: 'auto', ...(options.selector === undefined ? {} : { selector: options.selector }) },
      );
      while (Date.now() - last < quietMs && received.length < (options.max ?? Infinity)) await sleep(50);
      subscription.unsubscribe();
      return received;
    },
    async hold(destination, prefetch) {
      const received: IMessage[] = [];
      const subscription = client.subscribe(destination, (message) => received.push(message), {
        ack: 'client-individual',
        'activemq.prefetchSize': String(prefetch),
      });
      return { received, release: () => subscription.unsubscribe() };
    },
    async close() {
      await client.deactivate();
    },
  };
}

/** Fails loudly (never skips) when ActiveMQ is absent. */
export async function requireBroker(): Promise<void> {
  try {
    const client = await rawClient();
    await client.close();
  } catch (error) {
    throw new Error(`ActiveMQ does not answer STOMP at ${STOMP_URL} (these tests need it: run "bash .ci/activemq.sh" as root): ${(error as Error).message}`, {
      cause: error,
    });
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns a value other than undefined. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last === undefined ? '' : `: ${String(last)}`}`);
    await sleep(everyMs);
  }
}

/**
 * Stops ActiveMQ, runs `whileDown`, and starts it again — in a finally, so a failing test never
 * leaves the broker stopped for the next one — then waits until it answers STOMP.
 */
export async function withBrokerStopped(whileDown: () => Promise<void>): Promise<void> {
  await run('/etc/init.d/activemq', ['stop'], { timeout: 120_000 });
  try {
    await whileDown();
  } finally {
    await run('/etc/init.d/activemq', ['start'], { timeout: 120_000 });
    await eventually('ActiveMQ to answer STOMP again', async () => {
      await requireBroker();
      return true;
    }, 90_000, 250);
  }
}

/** Runs per message id, read through GET /v1/runs in pages of 500. */
export async function runsPerMessage(apiUrl: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  let cursor: string | null = null;
  do {
    const query: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
    const response = await fetch(`${apiUrl}/v1/runs?limit=500${query}`);
    const page = (await response.json()) as { runs: { messageId: string }[]; nextCursor: string | null };
    for (const entry of page.runs) counts.set(entry.messageId, (counts.get(entry.messageId) ?? 0) + 1);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return counts;
}
