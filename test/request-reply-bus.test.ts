/**
 * Reply-to over the buses, each broker's own RPC pattern, against the real brokers: an AMQP
 * request with `reply_to` + `correlation_id` (a named reply queue and RabbitMQ's direct
 * reply-to), a core NATS request (`nc.request`), a STOMP SEND with a `reply-to` header. The run's
 * result comes back on the named destination with the caller's correlation id; two requests with
 * the same payload are two requests; a reply whose queue is gone is dropped, not retried forever.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ConsumeMessage } from 'amqplib';
import * as amqp from './support/amqp.js';
import { eventually } from './support/eventually.js';
import { startHarness, type Harness } from './support/harness.js';
import * as nats from './support/nats.js';
import * as stomp from './support/stomp.js';

interface ReplyBody {
  id: string;
  job: string;
  status: string;
  exitCode: number | null;
  output: Record<string, unknown> | null;
  correlationId: string;
}

const JOB_SCRIPT = `
    env: { N: "\${{ string(message.body.n) }}" }
    script: |
      printf '{"square": %s}' "$((N * N))" > "$JOBWIRE_OUTPUT"`;

describe('reply-to over AMQP (RabbitMQ)', () => {
  const queue = amqp.uniqueName('rpc');
  const replies = amqp.uniqueName('rpc-replies');
  let h: Harness;
  let client: amqp.RawClient;
  before(async () => {
    await amqp.requireBroker();
    h = await startHarness(`
sources:
  rabbit: { type: amqp, url: "${amqp.AMQP_URL}" }
jobs:
  - name: square
    on: [{ source: rabbit, topic: "${queue}" }]${JOB_SCRIPT}
`);
    client = await amqp.rawClient();
    await client.channel.assertQueue(replies, { durable: false, autoDelete: false });
    await eventually('the source to connect', async () => ((await h.get('/v1/sources')).json.sources?.[0]?.status?.state === 'connected' ? true : undefined));
  });
  after(async () => {
    await client.deleteQueues(queue, replies);
    await client.close();
    await h.close();
  });

  it('answers each request on its reply_to queue with its correlation_id, identical payloads included', async () => {
    const got: ConsumeMessage[] = [];
    await client.channel.consume(replies, (message) => message !== null && got.push(message), { noAck: true });
    for (const correlationId of ['req-1', 'req-2']) {
      await client.send(queue, JSON.stringify({ n: 7 }), { replyTo: replies, correlationId, contentType: 'application/json' });
    }
    await eventually('two replies', () => (got.length >= 2 ? true : undefined));
    const byCorrelation = new Map(got.map((message) => [message.properties.correlationId as string, message]));
    assert.deepEqual([...byCorrelation.keys()].sort(), ['req-1', 'req-2']);
    for (const [correlationId, message] of byCorrelation) {
      const body = JSON.parse(message.content.toString('utf8')) as ReplyBody;
      assert.equal(body.status, 'succeeded');
      assert.equal(body.exitCode, 0);
      assert.deepEqual(body.output, { square: 49 });
      assert.equal(body.correlationId, correlationId);
      assert.equal(message.properties.contentType, 'application/json');
      assert.equal(message.properties.messageId, `${body.id}/reply`);
      assert.equal(message.properties.headers?.['jobwire-status'], 'succeeded');
    }
  });

  it("answers on RabbitMQ's direct reply-to pseudo-queue", async () => {
    const direct = await client.connection.createChannel();
    try {
      const answer = new Promise<ConsumeMessage>((resolve) => {
        void direct.consume('amq.rabbitmq.reply-to', (message) => message !== null && resolve(message), { noAck: true });
      });
      // Sent on the channel that consumes the pseudo-queue, as RabbitMQ requires.
      direct.sendToQueue(queue, Buffer.from(JSON.stringify({ n: 3 })), { replyTo: 'amq.rabbitmq.reply-to', correlationId: 'direct-1' });
      const message = await answer;
      assert.equal(message.properties.correlationId, 'direct-1');
      assert.deepEqual((JSON.parse(message.content.toString('utf8')) as ReplyBody).output, { square: 9 });
    } finally {
      await direct.close().catch(() => undefined);
    }
  });

  it('drops a reply whose queue is gone instead of retrying it forever', async () => {
    const gone = amqp.uniqueName('gone');
    await client.send(queue, JSON.stringify({ n: 2 }), { replyTo: gone, correlationId: 'nobody-waits' });
    await eventually('the reply to be dropped', () =>
      h.logs.some((line) => line['msg'] !== undefined && JSON.stringify(line).includes(`reply queue \\"${gone}\\" is gone`)) ? true : undefined,
    );
    // Logged before the delete commits: the entry leaves the outbox a moment later.
    const target = await eventually('the reply target to drop it', async () => {
      const targets = (await h.get('/v1/outbox')).json.targets as { target: string; pending: number; dropped: number; state: string }[];
      const replies = targets.find((entry) => entry.target === 'reply:rabbit');
      return replies !== undefined && replies.dropped === 1 && replies.pending === 0 ? replies : undefined;
    });
    assert.equal(target.state, 'idle', 'not backing off: nothing is retried');
  });
});

describe('reply-to over core NATS (request/reply)', () => {
  const { subject } = nats.uniqueNames('rpc');
  let h: Harness;
  let client: nats.RawClient;
  before(async () => {
    await nats.requireBroker();
    h = await startHarness(`
sources:
  bus: { type: nats, url: "${nats.NATS_URL}", mode: core }
jobs:
  - name: square
    on: [{ source: bus, topic: "${subject}" }]${JOB_SCRIPT}
`);
    client = await nats.rawClient();
    await eventually('the source to connect', async () => ((await h.get('/v1/sources')).json.sources?.[0]?.status?.state === 'connected' ? true : undefined));
  });
  after(async () => {
    await client.close();
    await h.close();
  });

  it('answers nc.request with the run result; two identical requests get one answer each', async () => {
    const payload = JSON.stringify({ n: 5 });
    const answers = await Promise.all([0, 1].map(() => client.connection.request(subject, payload, { timeout: 20_000 })));
    const bodies = answers.map((answer) => JSON.parse(answer.string()) as ReplyBody);
    for (const body of bodies) {
      assert.equal(body.status, 'succeeded');
      assert.deepEqual(body.output, { square: 25 });
    }
    assert.notEqual(bodies[0]?.id, bodies[1]?.id, 'two runs, one per request');
  });
});

describe('reply-to over STOMP (ActiveMQ)', () => {
  const queue = stomp.uniqueName('rpc');
  const replies = `/queue/${stomp.uniqueName('rpc-replies')}`;
  let h: Harness;
  let client: stomp.RawClient;
  before(async () => {
    await stomp.requireBroker();
    h = await startHarness(`
sources:
  umb: { type: stomp, url: "${stomp.STOMP_URL}" }
jobs:
  - name: square
    on: [{ source: umb, topic: "/queue/${queue}" }]${JOB_SCRIPT}
`);
    client = await stomp.rawClient();
    await eventually('the source to connect', async () => ((await h.get('/v1/sources')).json.sources?.[0]?.status?.state === 'connected' ? true : undefined));
  });
  after(async () => {
    await client.close();
    await h.close();
  });

  it('answers a SEND with reply-to on that destination, with its correlation-id', async () => {
    await client.send(`/queue/${queue}`, JSON.stringify({ n: 4 }), { 'reply-to': replies, 'correlation-id': 'stomp-req-1', 'content-type': 'application/json' });
    const [reply] = await eventuallyDrained(client, replies);
    assert.equal(reply?.headers['correlation-id'], 'stomp-req-1');
    const body = JSON.parse(reply?.body ?? '{}') as ReplyBody;
    assert.equal(body.status, 'succeeded');
    assert.deepEqual(body.output, { square: 16 });
  });
});

async function eventuallyDrained(client: stomp.RawClient, destination: string): Promise<Awaited<ReturnType<stomp.RawClient['drain']>>> {
  return eventually('a STOMP reply', async () => {
    const got = await client.drain(destination, { quietMs: 300, max: 1 });
    return got.length > 0 ? got : undefined;
  });
}
