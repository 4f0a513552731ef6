/**
 * Lifecycle events to a bus sink on each real broker (RabbitMQ, NATS JetStream, ActiveMQ over
 * STOMP), read back with an ordinary client of that bus. Midway through, the connection to the
 * sink's broker is cut for 3 s (through a TCP proxy, so the broker the other tests share keeps
 * running): no event is lost, and deduplicated by id every run has exactly one started and one
 * finished event.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as amqp from './support/amqp.js';
import { withBrokers } from './support/broker-lock.js';
import { eventually, sleep } from './support/eventually.js';
import { startHarness } from './support/harness.js';
import * as nats from './support/nats.js';
import * as stomp from './support/stomp.js';
import { TcpProxy } from './support/tcp-proxy.js';

const RUNS = 40;

interface BusEvent {
  readonly event: Record<string, unknown>;
  /** The correlation id as the bus carries it (AMQP property, STOMP/NATS header). */
  readonly correlationHeader: string | undefined;
}

interface SinkBroker {
  readonly port: number;
  /** The source's settings, with the proxy's port in place of the broker's. */
  source(proxyPort: number): string;
  readonly topic: string;
  /** Every event on the bus so far. */
  read(): Promise<BusEvent[]>;
  close(): Promise<void>;
}

async function rabbitMq(): Promise<SinkBroker> {
  await amqp.requireBroker();
  const client = await amqp.rawClient();
  const queue = amqp.uniqueName('events');
  await client.channel.assertQueue(queue, { durable: true });
  const seen: BusEvent[] = [];
  await client.channel.consume(queue, (message) => {
    if (message === null) return;
    seen.push({ event: JSON.parse(message.content.toString('utf8')) as Record<string, unknown>, correlationHeader: message.properties.correlationId as string | undefined });
    client.channel.ack(message);
  });
  return {
    port: 5672,
    source: (port) => `{ type: amqp, url: "amqp://guest:guest@127.0.0.1:${port}" }`,
    topic: queue,
    read: async () => seen,
    async close() {
      await client.deleteQueues(queue);
      await client.close();
    },
  };
}

async function jetStream(): Promise<SinkBroker> {
  await nats.requireBroker();
  const client = await nats.rawClient();
  const { subject, stream } = nats.uniqueNames('events');
  await client.createStream(stream, [subject]);
  return {
    port: 4222,
    source: (port) => `{ type: nats, url: "nats://127.0.0.1:${port}", stream: "${stream}" }`,
    topic: subject,
    async read() {
      const info = await client.jsm.streams.info(stream);
      const events: BusEvent[] = [];
      for (let seq = 1; seq <= info.state.last_seq; seq++) {
        const stored = await client.jsm.streams.getMessage(stream, { seq });
        if (stored === null) continue;
        events.push({ event: stored.json<Record<string, unknown>>(), correlationHeader: stored.header.get('correlation-id') || undefined });
      }
      return events;
    },
    close: () => client.close(),
  };
}

async function activeMq(): Promise<SinkBroker> {
  await stomp.requireBroker();
  const client = await stomp.rawClient();
  const destination = `/queue/${stomp.uniqueName('events')}`;
  const seen: BusEvent[] = [];
  return {
    port: stomp.STOMP_PORT,
    source: (port) => `{ type: stomp, url: "stomp://127.0.0.1:${port}" }`,
    topic: destination,
    async read() {
      for (const message of await client.drain(destination, { quietMs: 300 })) {
        seen.push({ event: JSON.parse(message.body) as Record<string, unknown>, correlationHeader: message.headers['correlation-id'] });
      }
      return seen;
    },
    close: () => client.close(),
  };
}


async function scenario(open: () => Promise<SinkBroker>): Promise<void> {
  const broker = await open();
  const proxy = await TcpProxy.start({ host: '127.0.0.1', port: broker.port });
  const h = await startHarness(`
sources:
  bus: ${broker.source(proxy.port)}
events:
  sinks:
    bus-events: { source: bus, topic: ${JSON.stringify(broker.topic)} }
jobs:
  - name: work
    on: [{ source: http, topic: work }]
    script: echo "work $JOBWIRE_MESSAGE_ID"
`);
  try {
    const runIds: string[] = [];
    for (let i = 0; i < RUNS; i++) {
      if (i === RUNS / 2) proxy.cut();
      const posted = await h.post('/v1/messages', { id: `m-${i}`, topic: 'work', headers: { 'correlation-id': `corr-${i}` }, body: { i } });
      assert.equal(posted.status, 202);
      runIds.push(posted.json.runs[0].id as string);
    }
    for (const id of runIds) assert.equal((await h.waitForRun(id)).status, 'succeeded', 'runs never wait for the sink');
    await sleep(3000);
    const waiting = (await h.get('/v1/outbox')).json.targets[0] as { pending: number; lastError: string | null };
    assert.ok(waiting.pending > 0, 'the events of the cut-off half wait in the outbox');
    assert.notEqual(waiting.lastError, null);
    proxy.restore();
    const events = await eventually(
      `${2 * RUNS} distinct events on the bus`,
      async () => {
        const all = await broker.read();
        return new Set(all.map((e) => e.event['id'])).size >= 2 * RUNS ? all : undefined;
      },
      60_000,
      250,
    );
    const byId = new Map(events.map((e) => [String(e.event['id']), e]));
    for (const [index, id] of runIds.entries()) {
      const mine = [...byId.values()].filter((e) => (e.event['data'] as Record<string, unknown>)['runId'] === id);
      assert.deepEqual(mine.map((e) => e.event['type']).sort(), ['io.jobwire.run.finished', 'io.jobwire.run.started'], `run ${index}`);
      for (const e of mine) {
        assert.equal(e.event['correlationid'], `corr-${index}`);
        assert.equal(e.correlationHeader, `corr-${index}`, 'the broker correlation header');
      }
      const finished = mine.find((e) => e.event['type'] === 'io.jobwire.run.finished')?.event;
      const data = finished?.['data'] as Record<string, unknown>;
      assert.equal(data['status'], 'succeeded');
      assert.equal(data['exitCode'], 0);
      assert.equal(data['job'], 'work');
      assert.equal(data['logTail'], `work m-${index}\n`);
    }
    await eventually('an empty outbox', async () => ((await h.get('/v1/outbox')).json.targets[0].pending === 0 ? true : undefined), 10_000);
  } finally {
    await h.close();
    await proxy.close();
    await broker.close();
  }
}

describe('lifecycle events to a bus sink, the sink broker cut off mid-stream', () => {
  it('RabbitMQ', { timeout: 600_000 }, () => withBrokers(['rabbitmq'], () => scenario(rabbitMq)));
  it('NATS JetStream', { timeout: 600_000 }, () => withBrokers(['nats'], () => scenario(jetStream)));
  it('ActiveMQ over STOMP', { timeout: 600_000 }, () => withBrokers(['activemq'], () => scenario(activeMq)));
});
