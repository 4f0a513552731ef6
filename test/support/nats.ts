/**
 * NATS helpers for the nats source tests: a jobwire config and a directly built NatsSource; an
 * ordinary NATS client (not jobwire's publisher) to create streams, publish and inspect
 * consumers; unique names per test; how to stop and start the server (shared waiting and run
 * counting live in eventually.ts and runs.ts).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { jetstream, jetstreamManager, type ConsumerInfo, type JetStreamClient, type JetStreamManager, type PubAck } from '@nats-io/jetstream';
import { connect, headers as natsHeaders, nanos, type NatsConnection } from '@nats-io/transport-node';
import type { SourceDefinition } from '../../src/config/types.js';
import { createLogger } from '../../src/log.js';
import { NatsSource } from '../../src/sources/nats.js';
import type { Capacity } from '../../src/sources/source.js';
import { eventually } from './eventually.js';
import { withStopped, type BrokerControl } from './runs.js';
import type { StopCase } from './stop-scenarios.js';

export const NATS_URL = process.env['JOBWIRE_TEST_NATS_URL'] ?? 'nats://127.0.0.1:4222';

const run = promisify(execFile);
const NATS_SERVER = '/usr/sbin/nats-server';
/** Exactly how this machine starts its NATS server. */
const START_ARGS = ['--start', '--oknodo', '--background', '--exec', NATS_SERVER, '--', '-a', '127.0.0.1', '-p', '4222', '-js', '-sd', '/var/lib/nats-server', '-l', '/var/log/nats-server.log'];

/** A jobwire config with one nats source `bus` and one job `consume` on `subject`. */
export function config(subject: string, extra: { source?: string; trigger?: string; top?: string; command?: string } = {}): string {
  return `${extra.top ?? ''}
sources:
  bus:
    type: nats
    url: ${NATS_URL}
${extra.source ?? ''}
jobs:
  - name: consume
    on: [{ source: bus, topic: ${JSON.stringify(subject)}${extra.trigger ?? ''} }]
    command: ${extra.command ?? '["true"]'}
`;
}

export const definition = (settings: Record<string, unknown>): SourceDefinition => ({ name: 'bus', type: 'nats', settings: { url: NATS_URL, ...settings }, position: { file: 'test.yaml', line: 1, col: 1 } });

/** A NatsSource built directly, for the tests that control `deliver` and capacity. */
export function directSource(settings: Record<string, unknown> = {}, capacity: Capacity = { admit: async () => undefined }): NatsSource {
  return new NatsSource(definition(settings), {
    logger: createLogger('silent'),
    maxMessageBytes: 1 << 20,
    capacity,
    reconnect: { initialMs: 50, maxMs: 500 },
  });
}

/** Unique per process and call; `subject` is dot-separated, `stream` a valid stream name. */
export function uniqueNames(prefix: string): { subject: string; stream: string } {
  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  return { subject: `jobwire-test.${prefix}.${tag}`, stream: `JOBWIRE_TEST_${prefix}_${tag}`.replace(/[^A-Za-z0-9_-]/g, '_') };
}

/** Fails loudly (never skips) when the broker is absent. */
export async function requireBroker(): Promise<void> {
  try {
    const connection = await connect({ servers: NATS_URL, reconnect: false });
    await jetstreamManager(connection);
    await connection.close();
  } catch (error) {
    throw new Error(`NATS with JetStream is not reachable at ${NATS_URL} (these tests need it; start it with: start-stop-daemon ${START_ARGS.join(' ')}): ${(error as Error).message}`, {
      cause: error,
    });
  }
}

export interface PublishOptions {
  readonly msgID?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface RawClient {
  readonly connection: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** Creates a file-backed stream capturing `subjects` (deleted by `close`). */
  createStream(name: string, subjects: readonly string[], duplicateWindowMs?: number): Promise<void>;
  /** JetStream publish, waiting for the PubAck. */
  publish(subject: string, payload: string | Uint8Array, options?: PublishOptions): Promise<PubAck>;
  /** Like `publish`, retried until the server answers (across a broker restart). */
  publishSurely(subject: string, payload: string | Uint8Array, options?: PublishOptions): Promise<PubAck>;
  consumer(stream: string, name: string): Promise<ConsumerInfo>;
  close(): Promise<void>;
}

export async function rawClient(): Promise<RawClient> {
  const connection = await connect({ servers: NATS_URL, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  const js = jetstream(connection);
  const jsm = await jetstreamManager(connection);
  const streams: string[] = [];
  const client: RawClient = {
    connection,
    js,
    jsm,
    async createStream(name, subjects, duplicateWindowMs) {
      await jsm.streams.add({ name, subjects: [...subjects], ...(duplicateWindowMs === undefined ? {} : { duplicate_window: nanos(duplicateWindowMs) }) });
      streams.push(name);
    },
    async publish(subject, payload, options = {}) {
      const entries = Object.entries(options.headers ?? {});
      const hdrs = natsHeaders();
      for (const [key, value] of entries) hdrs.set(key, value);
      return js.publish(subject, payload, {
        ...(entries.length === 0 ? {} : { headers: hdrs }),
        ...(options.msgID === undefined ? {} : { msgID: options.msgID }),
      });
    },
    async publishSurely(subject, payload, options = {}) {
      const deadline = Date.now() + 60_000;
      for (;;) {
        try {
          return await client.publish(subject, payload, options);
        } catch (error) {
          // A publish that timed out may have been stored: the msgID makes the retry a no-op.
          if (Date.now() > deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
    },
    async consumer(stream, name) {
      return jsm.consumers.info(stream, name);
    },
    async close() {
      for (const name of streams) await jsm.streams.delete(name).catch(() => undefined);
      await connection.close().catch(() => undefined);
    },
  };
  return client;
}

/** This machine's NATS server, stopped and started with its usual start-stop-daemon command. */
const NATS: BrokerControl = {
  lock: 'nats',
  // --retry: TERM, wait up to 10 s for the process to exit, then KILL.
  stop: () => run('start-stop-daemon', ['--stop', '--oknodo', '--exec', NATS_SERVER, '--retry', '10'], { timeout: 30_000 }),
  start: () => run('start-stop-daemon', START_ARGS, { timeout: 30_000 }),
  // Ready means JetStream answers too, not just the port.
  ready: requireBroker,
  backAgain: 'NATS to accept connections again',
  readyTimeoutMs: 60_000,
  readyEveryMs: 100,
};

/** Stops the NATS server around `whileDown`; it is always started again (see `withStopped`). */
export const withBrokerStopped = (whileDown: () => Promise<void>): Promise<void> => withStopped(NATS, whileDown);

/** The nats source for stop-scenarios.ts: a fresh stream, a long ack wait. */
export const stopCase: StopCase = {
  port: Number(new URL(NATS_URL).port || 4222),
  async setup(proxyPort, context) {
    const { subject, stream } = uniqueNames('stop');
    const raw = await rawClient();
    await raw.createStream(stream, [subject]);
    const url = new URL(NATS_URL);
    url.port = String(proxyPort);
    // A long ack wait: the unacked message stays "awaiting its ack" for the whole check.
    const source = new NatsSource(definition({ url: url.href, stream, durable: 'stop', ackWaitMs: 120_000 }), context);
    return {
      source,
      topic: subject,
      publish: async () => {
        await raw.publish(subject, '{"held":true}', { msgID: 'held-1' });
      },
      backOnBroker: () =>
        eventually('the message still awaiting its ack on the server', async () => {
          const info = await raw.consumer(stream, 'stop');
          return info.num_ack_pending + info.num_pending === 1 && info.delivered.consumer_seq >= 1 ? true : undefined;
        }),
      cleanup: () => raw.close(),
    };
  },
};
