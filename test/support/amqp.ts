/**
 * RabbitMQ helpers for the amqp source tests: an ordinary amqplib client (not jobwire's
 * publisher) to publish and inspect queues, unique names per test, and how to stop and start
 * the broker (shared waiting and run counting live in eventually.ts and runs.ts).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { connect, type ChannelModel, type ConfirmChannel, type Options } from 'amqplib';
import { createLogger } from '../../src/log.js';
import { AmqpSource } from '../../src/sources/amqp.js';
import type { Capacity } from '../../src/sources/source.js';
import { eventually } from './eventually.js';
import { withStopped, type BrokerControl } from './runs.js';
import type { StopCase } from './stop-scenarios.js';

export const AMQP_URL = process.env['JOBWIRE_TEST_AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';

const run = promisify(execFile);

/** Unique per process and call, so parallel test files never share a queue. */
export function uniqueName(prefix: string): string {
  return `jobwire-test.${prefix}.${process.pid}.${randomBytes(4).toString('hex')}`;
}

/** Fails loudly (never skips) when the broker is absent. */
export async function requireBroker(): Promise<void> {
  try {
    const connection = await connect(AMQP_URL);
    await connection.close();
  } catch (error) {
    throw new Error(`RabbitMQ is not reachable at ${AMQP_URL} (these tests need it; start it with "service rabbitmq-server start"): ${(error as Error).message}`, {
      cause: error,
    });
  }
}

export interface RawClient {
  readonly connection: ChannelModel;
  readonly channel: ConfirmChannel;
  /** Publishes to a queue (default exchange) and waits for the broker's confirm. */
  send(queue: string, payload: string | Buffer, options?: Options.Publish): Promise<void>;
  /** Publishes many without waiting for each, then waits for all confirms. */
  sendMany(queue: string, messages: readonly { payload: string | Buffer; options?: Options.Publish }[]): Promise<void>;
  publish(exchange: string, routingKey: string, payload: string | Buffer, options?: Options.Publish): Promise<void>;
  /** Ready (not unacked) messages in the queue. */
  depth(queue: string): Promise<number>;
  deleteQueues(...queues: string[]): Promise<void>;
  close(): Promise<void>;
}

export async function rawClient(): Promise<RawClient> {
  const connection = await connect(AMQP_URL);
  connection.on('error', () => undefined);
  const channel = await connection.createConfirmChannel();
  channel.on('error', () => undefined);
  const body = (payload: string | Buffer): Buffer => (typeof payload === 'string' ? Buffer.from(payload) : payload);
  const client: RawClient = {
    connection,
    channel,
    async send(queue, payload, options = {}) {
      channel.sendToQueue(queue, body(payload), { persistent: true, ...options });
      await channel.waitForConfirms();
    },
    async sendMany(queue, messages) {
      for (const message of messages) {
        if (!channel.sendToQueue(queue, body(message.payload), { persistent: true, ...message.options })) {
          await new Promise((resolve) => channel.once('drain', resolve));
        }
      }
      await channel.waitForConfirms();
    },
    async publish(exchange, routingKey, payload, options = {}) {
      channel.publish(exchange, routingKey, body(payload), { persistent: true, ...options });
      await channel.waitForConfirms();
    },
    async depth(queue) {
      // A throwaway channel: checkQueue on a missing queue would close the shared one.
      const probe = await connection.createChannel();
      probe.on('error', () => undefined);
      try {
        return (await probe.checkQueue(queue)).messageCount;
      } finally {
        await probe.close().catch(() => undefined);
      }
    },
    async deleteQueues(...queues) {
      const cleanup = await connection.createChannel();
      cleanup.on('error', () => undefined);
      for (const queue of queues) await cleanup.deleteQueue(queue).catch(() => undefined);
      await cleanup.close().catch(() => undefined);
    },
    async close() {
      await connection.close().catch(() => undefined);
    },
  };
  return client;
}

/**
 * Ready and unacknowledged messages of a queue as the broker itself counts them, through
 * rabbitmqctl: a client can only see the ready ones (checkQueue).
 */
export async function brokerCounts(queue: string): Promise<{ ready: number; unacked: number }> {
  const { stdout } = await run('rabbitmqctl', ['list_queues', '--quiet', '--no-table-headers', 'name', 'messages_ready', 'messages_unacknowledged'], { timeout: 60_000 });
  for (const line of stdout.split('\n')) {
    const [name, ready, unacked] = line.trim().split(/\s+/);
    if (name === queue) return { ready: Number(ready), unacked: Number(unacked) };
  }
  throw new Error(`rabbitmqctl does not list queue ${queue}`);
}

/** RabbitMQ's app stopped and started with rabbitmqctl (the Erlang node keeps running). */
const RABBITMQ: BrokerControl = {
  lock: 'rabbitmq',
  stop: () => run('rabbitmqctl', ['stop_app'], { timeout: 120_000 }),
  start: () => run('rabbitmqctl', ['start_app'], { timeout: 120_000 }),
  ready: requireBroker,
  backAgain: 'RabbitMQ to accept connections again',
  readyTimeoutMs: 60_000,
  readyEveryMs: 200,
};

/** Stops the RabbitMQ app around `whileDown`; it is always started again (see `withStopped`). */
export const withBrokerStopped = (whileDown: () => Promise<void>): Promise<void> => withStopped(RABBITMQ, whileDown);

/** An AmqpSource built directly (no jobwire around it), for tests that control `deliver` and capacity. */
export function directSource(queue: string, settings: Record<string, unknown> = {}, capacity: Capacity = { admit: async () => undefined }): { source: AmqpSource; queue: string } {
  const source = new AmqpSource(
    { name: 'rabbit', type: 'amqp', settings: { url: AMQP_URL, ...settings }, position: { file: 'test.yaml', line: 1, col: 1 } },
    { logger: createLogger('silent'), maxMessageBytes: 1 << 20, capacity, reconnect: { initialMs: 50, maxMs: 500 } },
  );
  return { source, queue };
}

/** The amqp source for stop-scenarios.ts: heartbeats off, a fresh queue. */
export const stopCase: StopCase = {
  port: Number(new URL(AMQP_URL).port || 5672),
  async setup(proxyPort, context) {
    const url = new URL(AMQP_URL);
    url.port = String(proxyPort);
    const queue = uniqueName('stop');
    const source = new AmqpSource({ name: 'rabbit', type: 'amqp', settings: { url: url.href, heartbeatMs: 0 }, position: { file: 'test.yaml', line: 1, col: 1 } }, context);
    const raw = await rawClient();
    return {
      source,
      topic: queue,
      publish: () => raw.send(queue, '{"held":true}', { messageId: 'held-1', contentType: 'application/json' }),
      // RabbitMQ requeues an unacked message when its consumer's connection closes.
      backOnBroker: () => eventually('the unacked message back in the queue', async () => ((await raw.depth(queue)) === 1 ? true : undefined), 30_000),
      async cleanup() {
        await raw.deleteQueues(queue);
        await raw.close();
      },
    };
  },
};
