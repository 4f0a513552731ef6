/**
 * ActiveMQ helpers for the stomp source tests: an ordinary STOMP client (@stomp/stompjs over
 * @stomp/tcp-wrapper, the library's documented Node setup — not jobwire's code) to publish and
 * to look into queues, unique names per test, and how to stop and start ActiveMQ (shared waiting
 * and run counting live in eventually.ts and runs.ts). The broker is the one `.ci/activemq.sh`
 * installs.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { Client, type IMessage, type StompHeaders } from '@stomp/stompjs';
import { TCPWrapper } from '@stomp/tcp-wrapper';
import { createStompSource } from '../../src/sources/stomp.js';
import { eventually, sleep } from './eventually.js';
import { withStopped, type BrokerControl } from './runs.js';
import type { StopCase } from './stop-scenarios.js';

export const STOMP_HOST = '127.0.0.1';
export const STOMP_PORT = Number(process.env['JOBWIRE_TEST_STOMP_PORT'] ?? 61613);
export const STOMP_URL = `stomp://${STOMP_HOST}:${STOMP_PORT}`;
/** The TLS connector and the throwaway CA's client files that `.ci/activemq.sh` makes. */
export const STOMP_TLS_URL = 'stomp+ssl://127.0.0.1:61614';
export const TLS_CLIENT_DIR = '/etc/activemq/jobwire-tls/client';

const run = promisify(execFile);
const CONNECT_TIMEOUT_MS = 15_000;
const CLOSE_TIMEOUT_MS = 5_000;

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
  // Bounded: a broker that accepts the TCP connection but never answers (starting, stopping,
  // restarted by another test run) must fail the test, not hang it.
  let timer: NodeJS.Timeout | undefined;
  await new Promise<void>((resolve, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`ActiveMQ at ${STOMP_URL} sent no CONNECTED within ${CONNECT_TIMEOUT_MS} ms`));
      void client.deactivate({ force: true });
    }, CONNECT_TIMEOUT_MS);
    client.onConnect = () => resolve();
    client.onStompError = (frame) => reject(new Error(`STOMP ERROR: ${frame.headers['message'] ?? ''}`));
    client.onWebSocketClose = () => reject(new Error(`ActiveMQ is not reachable at ${STOMP_URL}`));
    client.activate();
  }).finally(() => clearTimeout(timer));
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
      // DISCONNECT waits for the broker's RECEIPT: bounded, then the socket is dropped.
      const closed = await Promise.race([client.deactivate().then(() => true), sleep(CLOSE_TIMEOUT_MS).then(() => false)]);
      if (!closed) await client.deactivate({ force: true });
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

/** The ActiveMQ that `.ci/activemq.sh` installs, stopped and started with its init script. */
const ACTIVEMQ: BrokerControl = {
  lock: 'activemq',
  stop: () => run('/etc/init.d/activemq', ['stop'], { timeout: 120_000 }),
  start: () => run('/etc/init.d/activemq', ['start'], { timeout: 120_000 }),
  ready: requireBroker,
  backAgain: 'ActiveMQ to answer STOMP again',
  readyTimeoutMs: 90_000,
  readyEveryMs: 250,
};

/** Stops ActiveMQ around `whileDown`; it is always started again (see `withStopped`). */
export const withBrokerStopped = (whileDown: () => Promise<void>): Promise<void> => withStopped(ACTIVEMQ, whileDown);

/** The stomp source for stop-scenarios.ts: heartbeats off, a fresh queue. */
export const stopCase: StopCase = {
  port: STOMP_PORT,
  async setup(proxyPort, context) {
    const destination = `/queue/${uniqueName('stop')}`;
    const settings = { url: `stomp://${STOMP_HOST}:${proxyPort}`, heartbeatMs: 0 };
    const source = createStompSource({ name: 'amq', type: 'stomp', settings, position: { file: 'test.yaml', line: 1, col: 1 } }, context);
    const raw = await rawClient();
    return {
      source,
      topic: destination,
      publish: () => raw.send(destination, '{"held":true}', { 'content-type': 'application/json' }),
      // ActiveMQ redelivers an unacked message to the next consumer once the connection is gone.
      backOnBroker: () =>
        eventually('the unacked message back on the queue', async () => ((await raw.drain(destination, { quietMs: 500, max: 1 })).length === 1 ? true : undefined), 30_000, 100),
      cleanup: () => raw.close(),
    };
  },
};
