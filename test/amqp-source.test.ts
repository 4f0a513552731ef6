/**
 * The `amqp` source against the real RabbitMQ on this machine (no mocks): messages are published
 * with amqplib directly, as any upstream producer would. Each test uses its own queues.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startHarness, tempDir, type Harness } from './support/harness.js';
import { AMQP_URL, brokerCounts, directSource, rawClient, requireBroker, stopCase, uniqueName, withBrokerStopped, type RawClient } from './support/amqp.js';
import { stopWhenBrokerVanishes } from './support/stop-scenarios.js';
import { deferred, eventually, sleep } from './support/eventually.js';
import { runsPerMessage, whileServing } from './support/runs.js';
import { holdGate } from './support/hold-gate.js';
import { AmqpPublishError, createAmqpPublisher } from '../src/sources/amqp-publisher.js';
import { AmqpTopicError, AmqpTopologyMismatchError } from '../src/sources/amqp-topology.js';
import type { Capacity, DeliverFn } from '../src/sources/source.js';
import type { Message } from '../src/core/message.js';
import { createLogger } from '../src/log.js';

function config(queue: string, extra: { source?: string; job?: string; top?: string } = {}): string {
  return `${extra.top ?? ''}
sources:
  rabbit:
    type: amqp
    url: ${AMQP_URL}
    prefetch: 10
${extra.source ?? ''}
jobs:
  - name: consume
    on: [{ source: rabbit, topic: ${JSON.stringify(queue)} }]
    command: ["true"]
${extra.job ?? ''}`;
}

async function runsFor(h: Harness, messageId: string): Promise<any[]> {
  const { json } = await h.get(`/v1/runs?messageId=${encodeURIComponent(messageId)}&limit=500`);
  return json.runs;
}

describe('amqp source (RabbitMQ)', () => {
  let client: RawClient;
  const created: string[] = [];
  const queue = (prefix: string): string => {
    const name = uniqueName(prefix);
    created.push(name);
    return name;
  };

  before(async () => {
    await requireBroker();
    client = await rawClient();
  });
  after(async () => {
    await client.close();
    // A fresh connection: the shared one may have died with a broker restart.
    const cleanup = await rawClient();
    await cleanup.deleteQueues(...created);
    await cleanup.close();
  });

  // The broker vanishing mid-shutdown, through a proxy (no restart of the shared broker).
  stopWhenBrokerVanishes(stopCase);

  it('runs the job once for a message from an ordinary client, with AMQP properties as headers', async () => {
    const q = queue('basic');
    const h = await startHarness(config(q));
    try {
      await client.send(q, JSON.stringify({ order: 42 }), { messageId: 'order-42', correlationId: 'corr-42', contentType: 'application/json', headers: { tenant: 'acme', attempt: 3 } });
      const [run] = await eventually('a run', async () => ((await runsFor(h, 'order-42')).length > 0 ? runsFor(h, 'order-42') : undefined));
      assert.equal((await h.waitForRun(run.id)).status, 'succeeded');
      const stored = await h.jobwire.store.getMessage('rabbit', 'order-42');
      assert.deepEqual(stored?.body, { order: 42 });
      assert.equal(stored?.correlationId, 'corr-42');
      assert.equal(stored?.headers['tenant'], 'acme');
      assert.equal(stored?.headers['attempt'], '3');
      assert.equal(stored?.headers['content-type'], 'application/json');
      assert.equal(stored?.headers['message-id'], 'order-42');
      await eventually('the ack', async () => ((await client.depth(q)) === 0 ? true : undefined));
      assert.equal((await runsFor(h, 'order-42')).length, 1);
    } finally {
      await h.close();
    }
  });

  it('acks a message that matches no filter without running it', async () => {
    const q = queue('nomatch');
    const h = await startHarness(config(q).replace(`topic: ${JSON.stringify(q)} }`, `topic: ${JSON.stringify(q)}, if: 'message.body.kind == "build"' }`));
    try {
      await client.send(q, '{"kind":"lint"}', { messageId: 'lint-1', contentType: 'application/json' });
      await client.send(q, '{"kind":"build"}', { messageId: 'build-1', contentType: 'application/json' });
      await eventually('the build run', async () => ((await runsFor(h, 'build-1')).length === 1 ? true : undefined));
      assert.deepEqual(await runsFor(h, 'lint-1'), []);
      assert.deepEqual((await h.jobwire.store.getMessage('rabbit', 'lint-1'))?.matchedJobs, []);
      await h.close();
      assert.equal(await client.depth(q), 0, 'both messages were acked');
    } catch (error) {
      await h.close();
      throw error;
    }
  });

  it('dead-letters malformed messages with the reason and the correlation id, and keeps the queue flowing', async () => {
    const q = queue('malformed');
    const dlx = uniqueName('dlx');
    const dlq = queue('dlq');
    await client.channel.assertExchange(dlx, 'fanout', { durable: false, autoDelete: true });
    await client.channel.assertQueue(dlq, { durable: false });
    await client.channel.bindQueue(dlq, dlx, '');
    const h = await startHarness(config(q, { source: `    deadLetterExchange: ${JSON.stringify(dlx)}`, top: 'limits: { maxMessageSize: 1KiB }' }));
    try {
      await client.send(q, '{"broken": ', { messageId: 'bad-json', correlationId: 'corr-bad', contentType: 'application/json' });
      await client.send(q, JSON.stringify({ big: 'x'.repeat(2048) }), { messageId: 'too-big', correlationId: 'corr-big', contentType: 'application/json' });
      await client.send(q, '{"fine":true}', { messageId: 'fine', contentType: 'application/json' });
      await eventually('the run of the message behind them', async () => ((await runsFor(h, 'fine')).length === 1 ? true : undefined));
      await eventually('both rejects in the DLQ', async () => ((await client.depth(dlq)) === 2 ? true : undefined));
      const reasons = new Map(h.logs.filter((line) => line['reason'] !== undefined).map((line) => [line['correlationId'], String(line['reason'])]));
      assert.match(reasons.get('corr-bad') ?? '', /not valid JSON/);
      assert.match(reasons.get('corr-big') ?? '', /over limits\.maxMessageSize/);
      const dead = await client.channel.get(dlq, { noAck: true });
      assert.ok(dead !== false);
      assert.equal(dead.properties.headers?.['x-first-death-reason'], 'rejected');
      assert.deepEqual(await runsFor(h, 'bad-json'), []);
    } finally {
      await h.close();
      await client.channel.deleteExchange(dlx).catch(() => undefined);
    }
  });

  it('runs a duplicate once: same messageId twice, and the same bytes without an id twice (content hash)', async () => {
    const q = queue('dupes');
    const h = await startHarness(config(q));
    try {
      await client.send(q, '{"n":1}', { messageId: 'dup-1', contentType: 'application/json' });
      await client.send(q, '{"n":1}', { messageId: 'dup-1', contentType: 'application/json' });
      await client.send(q, 'same bytes');
      await client.send(q, 'same bytes');
      await client.send(q, '{"n":2}', { messageId: 'last', contentType: 'application/json' });
      await eventually('the last run', async () => ((await runsFor(h, 'last')).length === 1 ? true : undefined));
      await eventually('all acked', async () => ((await client.depth(q)) === 0 ? true : undefined));
      const counts = await runsPerMessage(h.url);
      assert.equal(counts.get('dup-1'), 1);
      const hashed = [...counts.keys()].filter((id) => id.startsWith('sha256:'));
      assert.equal(hashed.length, 1);
      assert.equal(counts.get(hashed[0] ?? ''), 1);
    } finally {
      await h.close();
    }
  });

  it('maps binary CloudEvents headers (cloudEvents: and ce_) and binds a queue to an exchange', async () => {
    const q = queue('ce');
    const exchange = uniqueName('events');
    const h = await startHarness(
      config(q, { source: `    queues:\n      ${JSON.stringify(q)}: { exchange: ${JSON.stringify(exchange)}, routingKey: "build.*" }` }).replace(
        `topic: ${JSON.stringify(q)} }`,
        `topic: ${JSON.stringify(q)}, type: com.example.built, jsonpath: { property: "$.data.artifact", match: app } }`,
      ),
    );
    try {
      const event = (prefix: string, id: string) => ({
        contentType: 'application/json',
        headers: { [`${prefix}specversion`]: '1.0', [`${prefix}type`]: 'com.example.built', [`${prefix}id`]: id, [`${prefix}source`]: '/ci' },
      });
      await client.publish(exchange, 'build.done', '{"artifact":"app"}', event('cloudEvents:', 'ce-1'));
      await client.publish(exchange, 'build.done', '{"artifact":"app"}', event('ce_', 'ce-2'));
      for (const id of ['ce-1', 'ce-2']) {
        const runs = await eventually(`the run of ${id}`, async () => {
          const { json } = await h.get(`/v1/runs?correlationId=${id}`);
          return json.runs.length === 1 ? json.runs : undefined;
        });
        const stored = await h.jobwire.store.getMessage('rabbit', runs[0].messageId);
        assert.equal(stored?.cloudEvent?.id, id);
        assert.equal(stored?.headers['amqp-routing-key'], 'build.done');
      }
    } finally {
      await h.close();
      await client.channel.deleteExchange(exchange).catch(() => undefined);
    }
  });

  it('requeues when deliver fails for another reason than bad input, and acks the redelivery', async () => {
    const q = queue('requeue');
    const { source } = directSource(q);
    const seen: Message[] = [];
    const deliver: DeliverFn = async ({ message }) => {
      seen.push(message);
      if (seen.length === 1) throw new Error('store unavailable');
    };
    await source.start([q], deliver);
    try {
      await client.send(q, 'retry me', { messageId: 'rq-1' });
      await eventually('the redelivery', () => (seen.length === 2 ? true : undefined));
      assert.deepEqual(seen.map((message) => message.id), ['rq-1', 'rq-1']);
    } finally {
      await source.stop();
    }
    assert.equal(await client.depth(q), 0);
    await sleep(200);
    assert.equal(seen.length, 2, 'acked after the successful delivery: not delivered again');
  });

  it('keeps at most `prefetch` messages unacked and waits for capacity before delivering', async () => {
    const q = queue('prefetch');
    const gate = deferred();
    let admitOpen = false;
    const waiting: (() => void)[] = [];
    const capacity: Capacity = { admit: () => (admitOpen ? Promise.resolve() : new Promise<void>((resolve) => waiting.push(resolve))) };
    const { source } = directSource(q, { prefetch: 5 }, capacity);
    let calls = 0;
    let active = 0;
    let maxActive = 0;
    await source.start([q], async () => {
      calls += 1;
      active += 1;
      maxActive = Math.max(maxActive, active);
      await gate.promise;
      active -= 1;
    });
    try {
      await client.sendMany(q, Array.from({ length: 20 }, (_, i) => ({ payload: `m${i}`, options: { messageId: `p-${i}` } })));
      await sleep(300);
      assert.equal(calls, 0, 'nothing delivered while the backlog is full');
      assert.equal(waiting.length, 5, 'only `prefetch` messages reached jobwire');
      admitOpen = true;
      for (const resolve of waiting.splice(0)) resolve();
      await eventually('five in deliver', () => (calls === 5 ? true : undefined));
      await sleep(300);
      assert.equal(calls, 5, 'no more than prefetch unacked');
      gate.resolve();
      await eventually('all delivered', () => (calls === 20 ? true : undefined));
      assert.ok(maxActive <= 5, `at most 5 in flight, saw ${maxActive}`);
    } finally {
      gate.resolve();
      await source.stop();
    }
  });

  it('stops gracefully: in-flight deliveries finish and are acked, the rest returns to the queue', async () => {
    const q = queue('stop');
    const gate = deferred();
    let admitted = 0;
    const capacity: Capacity = { admit: () => (++admitted <= 2 ? Promise.resolve() : new Promise<void>(() => undefined)) };
    const { source } = directSource(q, { prefetch: 10 }, capacity);
    const delivered: string[] = [];
    let finished = 0;
    await source.start([q], async ({ message }) => {
      delivered.push(message.id);
      await gate.promise;
      finished += 1;
    });
    await client.sendMany(q, Array.from({ length: 5 }, (_, i) => ({ payload: `s${i}`, options: { messageId: `s-${i}` } })));
    await eventually('two in flight', () => (delivered.length === 2 ? true : undefined));
    const stopping = source.stop();
    await sleep(100);
    assert.equal(finished, 0);
    gate.resolve();
    await stopping;
    assert.equal(finished, 2);
    assert.equal(source.status().state, 'stopped');
    await eventually('the undelivered back in the queue', async () => ((await client.depth(q)) >= 3 ? true : undefined));
    await sleep(100);
    assert.equal(await client.depth(q), 3, 'the three never delivered are back in the queue; the two done were acked');
  });

  it('acks committed messages together, but never past one still being recorded', async () => {
    const q = queue('acks');
    const hold = deferred();
    const { source } = directSource(q, { prefetch: 10 });
    const delivered: string[] = [];
    await source.start([q], async ({ message }) => {
      delivered.push(message.id);
      if (message.id === 'a-0') await hold.promise;
    });
    try {
      await client.sendMany(q, Array.from({ length: 5 }, (_, i) => ({ payload: `a${i}`, options: { messageId: `a-${i}` } })));
      await eventually('all five delivered', () => (delivered.length === 5 ? true : undefined));
      // The four after the held one are committed and acked; an ack for "up to the last" would
      // have taken the held one with it.
      const counts = await eventually('only the held message unacked', async () => {
        const current = await brokerCounts(q);
        return current.unacked === 1 ? current : undefined;
      }, 30_000, 250);
      assert.deepEqual(counts, { ready: 0, unacked: 1 });
      hold.resolve();
      await eventually('all acked', async () => {
        const current = await brokerCounts(q);
        return current.unacked === 0 && current.ready === 0 ? true : undefined;
      }, 30_000, 250);
    } finally {
      hold.resolve();
      await source.stop();
    }
  });

  it('refuses a wildcard topic and a queue whose arguments differ, naming the source, queue and argument', async () => {
    await assert.rejects(directSource('x').source.start(['orders.*'], async () => undefined), (error: unknown) => {
      assert.ok(error instanceof AmqpTopicError);
      assert.match(error.message, /source "rabbit".*"orders\.\*"/);
      return true;
    });
    const q = queue('mismatch');
    await client.channel.assertQueue(q, { durable: true });
    const { source } = directSource(q, { deadLetterExchange: 'some-dlx' });
    await assert.rejects(source.start([q], async () => undefined), (error: unknown) => {
      assert.ok(error instanceof AmqpTopologyMismatchError);
      assert.match(error.message, new RegExp(`queue "${q.replace(/\./g, '\\.')}".*x-dead-letter-exchange`));
      return true;
    });
    await source.stop();
  });

  it('reports reconnecting with attempt and last error while the broker is unreachable', async () => {
    const { source } = directSource('unreachable', { url: 'amqp://guest:guest@127.0.0.1:1' });
    await source.start(['unreachable'], async () => undefined);
    try {
      const status = await eventually('two attempts', () => {
        const current = source.status();
        return current.state === 'reconnecting' && current.attempt >= 2 ? current : undefined;
      });
      assert.match(status.lastError, /ECONNREFUSED/);
    } finally {
      await source.stop();
    }
  });

  it('publishes with a confirm channel: persistent, message-id kept or generated, unroutable reported', async () => {
    const q = queue('publisher');
    await client.channel.assertQueue(q, { durable: true });
    const definition = { name: 'rabbit', type: 'amqp', settings: { url: AMQP_URL }, position: { file: 'x.yaml', line: 1, col: 1 } };
    const publisher = await createAmqpPublisher(definition, { logger: createLogger('silent') });
    try {
      await publisher.publish(q, Buffer.from('{"a":1}'), { 'message-id': 'pub-1', 'correlation-id': 'c-1', 'content-type': 'application/json', 'ce-type': 't', 'x-team': 'ops' });
      await publisher.publish(q, Buffer.from('second'), {});
      const first = await client.channel.get(q, { noAck: true });
      const second = await client.channel.get(q, { noAck: true });
      assert.ok(first !== false && second !== false);
      assert.equal(first.properties.messageId, 'pub-1');
      assert.equal(first.properties.correlationId, 'c-1');
      assert.equal(first.properties.contentType, 'application/json');
      assert.equal(first.properties.deliveryMode, 2);
      assert.deepEqual(first.properties.headers, { ce_type: 't', 'x-team': 'ops' });
      assert.match(String(second.properties.messageId), /^[0-9a-f-]{36}$/);
      await assert.rejects(publisher.publish(uniqueName('missing'), Buffer.from('x'), {}), (error: unknown) => error instanceof AmqpPublishError && /routes to no queue/.test(error.message));
    } finally {
      await publisher.close();
    }
  });

  it('reconnects after a broker restart while messages flow, and runs every message exactly once', { timeout: 180_000 }, async () => {
    const q = queue('restart');
    const top = 'dispatcher: { concurrency: 4, maxQueuedRuns: 8 }';
    const gate = holdGate();
    const h = await startHarness(config(q, { top }).replace('command: ["true"]', `command: ${gate.command}`));
    try {
      const batch = (from: number, count: number) => Array.from({ length: count }, (_, i) => ({ payload: `{"n":${from + i}}`, options: { messageId: `r-${from + i}`, contentType: 'application/json' } }));
      await client.sendMany(q, batch(0, 300));
      await eventually('some runs before the restart', async () => ((await runsPerMessage(h.url)).size >= 40 ? true : undefined));
      // Runs in flight wait through the restart: their acks then belong to a dead channel.
      gate.hold();
      let sawReconnecting: any;
      await withBrokerStopped(async () => {
        sawReconnecting = await eventually('status reconnecting', async () => {
          const { json } = await h.get('/v1/sources');
          const status = json.sources.find((s: any) => s.name === 'rabbit')?.status;
          return status?.state === 'reconnecting' && status.attempt >= 1 ? status : undefined;
        }, 60_000);
        await sleep(1500);
      });
      assert.ok(sawReconnecting.lastError.length > 0);
      assert.ok((await runsPerMessage(h.url)).size < 300, 'the restart happened while messages were still flowing');
      gate.release();
      const again = await rawClient();
      try {
        await again.sendMany(q, batch(300, 100));
      } finally {
        await again.close();
      }
      const counts = await eventually('a run for each of the 400 messages', async () => {
        const current = await runsPerMessage(h.url);
        return current.size === 400 ? current : undefined;
      }, 120_000, 250);
      assert.deepEqual([...counts.values()].filter((count) => count !== 1), [], 'exactly one run per message');
      const { json } = await h.get('/v1/sources');
      assert.equal(json.sources.find((s: any) => s.name === 'rabbit')?.status.state, 'connected');
      assert.ok(h.logs.some((line) => line['source'] === 'rabbit' && /reconnecting in \d+ ms \(attempt \d+\)/.test(String(line['msg']))));
    } finally {
      gate.release();
      await h.close();
      client = await reopened(client);
    }
  });

  it('after kill -9 in the middle of a burst of 1,000 messages, every message has exactly one run', { timeout: 180_000 }, async () => {
    const q = queue('kill9');
    const dir = tempDir();
    const file = path.join(dir, 'jobwire.yaml');
    writeFileSync(file, config(q, { top: 'dispatcher: { concurrency: 4, maxQueuedRuns: 20 }' }));
    // Declared as jobwire declares it, so the burst waits in the queue before jobwire starts.
    await client.channel.assertQueue(q, { durable: true });
    await client.sendMany(q, Array.from({ length: 1000 }, (_, i) => ({ payload: `{"n":${i}}`, options: { messageId: `k-${i}`, contentType: 'application/json' } })));
    await whileServing(file, path.join(dir, 'data'), 'SIGKILL', async (first) => {
      const before = await eventually('a part of the burst', async () => {
        const { size } = await runsPerMessage(first.url);
        return size >= 150 ? size : undefined;
      }, 60_000);
      assert.ok(before < 1000, `killed in the middle of the burst (${before} of 1000 recorded)`);
    });
    await whileServing(file, path.join(dir, 'data'), 'SIGTERM', async (second) => {
      const counts = await eventually('a run for each of the 1,000 messages', async () => {
        const current = await runsPerMessage(second.url);
        return current.size === 1000 ? current : undefined;
      }, 120_000, 250);
      await eventually('the queue drained', async () => ((await client.depth(q)) === 0 ? true : undefined));
      assert.deepEqual([...counts.values()].filter((count) => count !== 1), [], 'exactly one run per message');
    });
  });
});

/** The shared client's connection died with the broker restart: open a new one. */
async function reopened(old: RawClient): Promise<RawClient> {
  await old.close();
  return rawClient();
}
