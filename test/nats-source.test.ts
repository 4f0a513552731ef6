/**
 * The `nats` source against the real NATS server with JetStream on this machine (no mocks):
 * messages are published with the NATS client directly, as any upstream producer would. Each
 * test uses its own stream and subjects; the streams are deleted at the end.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, headers as natsHeaders, type Msg } from '@nats-io/transport-node';
import { InvalidInputError } from '../src/core/errors.js';
import type { Message } from '../src/core/message.js';
import { createLogger } from '../src/log.js';
import { createNatsPublisher } from '../src/sources/nats.js';
import { NatsSetupError } from '../src/sources/nats-jetstream-setup.js';
import { NatsSettingsError } from '../src/sources/nats-settings.js';
import type { Capacity, DeliverFn } from '../src/sources/source.js';
import { startHarness, tempDir, type Harness } from './support/harness.js';
import {
  NATS_URL,
  config,
  definition,
  directSource,
  rawClient,
  requireBroker,
  stopCase,
  uniqueNames,
  withBrokerStopped,
  type RawClient,
} from './support/nats.js';
import { deferred, eventually, sleep } from './support/eventually.js';
import { runsPerMessage, whileServing } from './support/runs.js';
import { holdGate } from './support/hold-gate.js';
import { stopWhenBrokerVanishes } from './support/stop-scenarios.js';

async function runsFor(h: Harness, messageId: string): Promise<any[]> {
  const { json } = await h.get(`/v1/runs?messageId=${encodeURIComponent(messageId)}&limit=500`);
  return json.runs;
}

describe('nats source (JetStream)', () => {
  let client: RawClient;

  /** A fresh stream capturing `<subject>.>` and `<subject>`; the test's subjects live below it. */
  async function stream(prefix: string, duplicateWindowMs?: number): Promise<{ subject: string; stream: string }> {
    const names = uniqueNames(prefix);
    await client.createStream(names.stream, [names.subject, `${names.subject}.>`], duplicateWindowMs);
    return names;
  }

  before(async () => {
    await requireBroker();
    client = await rawClient();
  });
  after(async () => {
    await client.close();
  });

  // The broker vanishing mid-shutdown, through a proxy (no restart of the shared broker).
  stopWhenBrokerVanishes(stopCase);

  it('runs the job once for a message from an ordinary client, with its headers, and acks it', async () => {
    const { subject, stream: name } = await stream('basic');
    const h = await startHarness(config(subject));
    try {
      await client.publish(subject, JSON.stringify({ order: 42 }), { msgID: 'order-42', headers: { 'correlation-id': 'corr-42', 'content-type': 'application/json', tenant: 'acme' } });
      const [run] = await eventually('a run', async () => ((await runsFor(h, 'order-42')).length > 0 ? runsFor(h, 'order-42') : undefined));
      assert.equal((await h.waitForRun(run.id)).status, 'succeeded');
      const stored = await h.jobwire.store.getMessage('bus', 'order-42');
      assert.deepEqual(stored?.body, { order: 42 });
      assert.equal(stored?.correlationId, 'corr-42');
      assert.equal(stored?.topic, subject);
      assert.equal(stored?.headers['tenant'], 'acme');
      assert.equal(stored?.headers['nats-msg-id'], 'order-42');
      await eventually('the ack', async () => {
        const info = await client.consumer(name, 'jobwire-bus');
        return info.num_ack_pending === 0 && info.num_pending === 0 && info.ack_floor.stream_seq === 1 ? true : undefined;
      });
      assert.equal((await runsFor(h, 'order-42')).length, 1);
      const { json } = await h.get('/v1/sources');
      assert.equal(json.sources.find((s: any) => s.name === 'bus')?.status.state, 'connected');
    } finally {
      await h.close();
    }
  });

  it('consumes a wildcard subject and acks a message that matches no filter without running it', async () => {
    const { subject, stream: name } = await stream('wild');
    const h = await startHarness(config(`${subject}.*`, { trigger: `, if: 'message.body.kind == "build"'` }));
    try {
      await client.publish(`${subject}.lint`, '{"kind":"lint"}', { msgID: 'lint-1' });
      await client.publish(`${subject}.build`, '{"kind":"build"}', { msgID: 'build-1' });
      await eventually('the build run', async () => ((await runsFor(h, 'build-1')).length === 1 ? true : undefined));
      assert.deepEqual(await runsFor(h, 'lint-1'), []);
      assert.deepEqual((await h.jobwire.store.getMessage('bus', 'lint-1'))?.matchedJobs, []);
      assert.equal((await h.jobwire.store.getMessage('bus', 'build-1'))?.topic, `${subject}.build`);
      await eventually('both acked', async () => ((await client.consumer(name, 'jobwire-bus')).ack_floor.stream_seq === 2 ? true : undefined));
    } finally {
      await h.close();
    }
  });

  it('terminates malformed messages with the reason and the correlation id, and keeps the subject flowing', async () => {
    const { subject, stream: name } = await stream('malformed');
    const h = await startHarness(config(subject, { top: 'limits: { maxMessageSize: 1KiB }', source: '    ackWaitMs: 1000' }));
    try {
      await client.publish(subject, '{"broken": ', { msgID: 'bad-json', headers: { 'correlation-id': 'corr-bad', 'content-type': 'application/json' } });
      await client.publish(subject, JSON.stringify({ big: 'x'.repeat(2048) }), { msgID: 'too-big', headers: { 'correlation-id': 'corr-big' } });
      await client.publish(subject, '{"fine":true}', { msgID: 'fine' });
      await eventually('the run of the message behind them', async () => ((await runsFor(h, 'fine')).length === 1 ? true : undefined));
      const reasons = new Map(h.logs.filter((line) => line['reason'] !== undefined).map((line) => [line['correlationId'], String(line['reason'])]));
      assert.match(reasons.get('corr-bad') ?? '', /not valid JSON/);
      assert.match(reasons.get('corr-big') ?? '', /over the limit.*limits\.maxMessageSize/);
      // Terminated, not merely unacked: nothing comes back after the ack wait (1 s) has passed.
      await sleep(2500);
      const info = await client.consumer(name, 'jobwire-bus');
      assert.equal(info.num_ack_pending, 0);
      assert.equal(info.num_redelivered, 0);
      assert.equal(info.delivered.consumer_seq, 3, 'each message delivered once');
      assert.deepEqual(await runsFor(h, 'bad-json'), []);
    } finally {
      await h.close();
    }
  });

  it('runs a duplicate once: the same Nats-Msg-Id stored twice, and the same bytes without an id twice', async () => {
    // A 100 ms duplicate window lets the stream store the second copy, as after its window ran out.
    const { subject } = await stream('dupes', 100);
    const h = await startHarness(config(subject));
    try {
      await client.publish(subject, '{"n":1}', { msgID: 'dup-1' });
      await sleep(300);
      const second = await client.publish(subject, '{"n":1}', { msgID: 'dup-1' });
      assert.equal(second.duplicate, false, 'the stream stored the message twice');
      await client.publish(subject, 'same bytes');
      await client.publish(subject, 'same bytes');
      await client.publish(subject, 'other bytes');
      await client.publish(subject, '{"n":2}', { msgID: 'last' });
      await eventually('the last run', async () => ((await runsFor(h, 'last')).length === 1 ? true : undefined));
      await sleep(200);
      const counts = await runsPerMessage(h.url);
      assert.equal(counts.get('dup-1'), 1);
      const hashed = [...counts.keys()].filter((id) => id.startsWith('sha256:'));
      assert.equal(hashed.length, 2, 'one run for "same bytes", one for "other bytes"');
      assert.deepEqual(hashed.map((id) => counts.get(id)), [1, 1]);
    } finally {
      await h.close();
    }
  });

  it('naks with nakDelayMs when deliver fails for another reason than bad input, terms on bad input', async () => {
    const { subject, stream: name } = await stream('nak');
    const source = directSource({ nakDelayMs: 300, ackWaitMs: 60_000 });
    const seen: { id: string; at: number }[] = [];
    const deliver: DeliverFn = async ({ message }) => {
      seen.push({ id: message.id, at: Date.now() });
      if (message.id === 'flaky' && seen.filter((entry) => entry.id === 'flaky').length === 1) throw new Error('store unavailable');
      if (message.id === 'invalid') throw new InvalidInputError('a trigger requires $.x');
    };
    await source.start([subject], deliver);
    try {
      await client.publish(subject, 'retry me', { msgID: 'flaky' });
      await client.publish(subject, 'reject me', { msgID: 'invalid' });
      await eventually('the redelivery', () => (seen.filter((entry) => entry.id === 'flaky').length === 2 ? true : undefined));
      const [first, again] = seen.filter((entry) => entry.id === 'flaky');
      assert.ok(again !== undefined && first !== undefined && again.at - first.at >= 250, 'redelivered after the nak delay, long before the ack wait');
      await eventually('both settled', async () => ((await client.consumer(name, 'jobwire-bus')).num_ack_pending === 0 ? true : undefined));
      await sleep(500);
      assert.deepEqual(seen.map((entry) => entry.id).sort(), ['flaky', 'flaky', 'invalid'], 'acked after success; the invalid one terminated, not redelivered');
    } finally {
      await source.stop();
    }
  });

  it('keeps at most maxAckPending unacked on the server and waits for capacity before delivering', async () => {
    const { subject, stream: name } = await stream('bounded');
    let admitOpen = false;
    const waiting: (() => void)[] = [];
    const capacity: Capacity = { admit: () => (admitOpen ? Promise.resolve() : new Promise<void>((resolve) => waiting.push(resolve))) };
    const source = directSource({ maxAckPending: 5 }, capacity);
    let calls = 0;
    await source.start([subject], async () => {
      calls += 1;
    });
    try {
      await Promise.all(Array.from({ length: 20 }, (_, i) => client.publish(subject, `m${i}`, { msgID: `p-${i}` })));
      // Under load the five may take a moment to arrive; then nothing more comes while they wait.
      await eventually('the five handed out wait for capacity', () => (waiting.length === 5 ? true : undefined), 10_000);
      await sleep(500);
      assert.equal(waiting.length, 5, 'no more than maxAckPending are handed out');
      assert.equal(calls, 0, 'nothing delivered while the backlog is full');
      const info = await client.consumer(name, 'jobwire-bus');
      assert.equal(info.num_ack_pending, 5, 'the server hands out no more than maxAckPending');
      assert.equal(info.num_pending, 15);
      admitOpen = true;
      for (const resolve of waiting.splice(0)) resolve();
      await eventually('all delivered', () => (calls === 20 ? true : undefined));
      await eventually('all acked', async () => ((await client.consumer(name, 'jobwire-bus')).ack_floor.stream_seq === 20 ? true : undefined));
    } finally {
      // Open the gate first: a failed assertion must not leave deliveries waiting forever.
      admitOpen = true;
      for (const resolve of waiting.splice(0)) resolve();
      await source.stop();
    }
  });

  it('stops gracefully: deliveries in flight finish and are acked, the rest goes back within seconds', async () => {
    const { subject } = await stream('stop');
    const gate = deferred();
    let admitted = 0;
    // Two messages get capacity; the others wait for it until the stop.
    const capacity: Capacity = { admit: () => (++admitted <= 2 ? Promise.resolve() : new Promise<void>(() => undefined)) };
    const first = directSource({ ackWaitMs: 60_000 }, capacity);
    const delivered: string[] = [];
    let finished = 0;
    await first.start([subject], async ({ message }) => {
      delivered.push(message.id);
      await gate.promise;
      finished += 1;
    });
    await Promise.all(Array.from({ length: 5 }, (_, i) => client.publish(subject, `s${i}`, { msgID: `s-${i}` })));
    await eventually('two in flight', () => (delivered.length === 2 ? true : undefined));
    const stopping = first.stop();
    await sleep(150);
    assert.equal(finished, 0, 'stop waits for the deliveries in flight');
    gate.resolve();
    await stopping;
    assert.equal(finished, 2);
    assert.equal(first.status().state, 'stopped');
    // The other three were nak'ed at stop: a new consumer gets them within seconds, not after the 60 s ack wait.
    const second = directSource({ ackWaitMs: 60_000 });
    const later: string[] = [];
    await second.start([subject], async ({ message }) => {
      later.push(message.id);
    });
    try {
      await eventually('the three returned messages', () => (later.length === 3 ? true : undefined), 8000);
      await sleep(300);
      assert.deepEqual([...delivered, ...later].sort(), ['s-0', 's-1', 's-2', 's-3', 's-4'], 'the two done were acked before stop returned: not delivered again');
    } finally {
      await second.stop();
    }
  });

  it('gives one consumer per subject to a source with several topics', async () => {
    const { subject, stream: name } = await stream('multi');
    const source = directSource();
    const seen: Message[] = [];
    await source.start([`${subject}.a`, `${subject}.b.>`], async ({ message }) => {
      seen.push(message);
    });
    try {
      await client.publish(`${subject}.a`, 'one', { msgID: 'a-1' });
      await client.publish(`${subject}.b.x.y`, 'two', { msgID: 'b-1' });
      await client.publish(`${subject}.c`, 'not consumed', { msgID: 'c-1' });
      await eventually('both', () => (seen.length === 2 ? true : undefined));
      assert.deepEqual(seen.map((message) => message.topic).sort(), [`${subject}.a`, `${subject}.b.x.y`]);
      assert.equal((await client.consumer(name, 'jobwire-bus_jobwire-test_' + subject.split('.').slice(1).join('_') + '_a')).config.filter_subject, `${subject}.a`);
      assert.equal((await client.consumer(name, 'jobwire-bus_jobwire-test_' + subject.split('.').slice(1).join('_') + '_b_all')).config.filter_subject, `${subject}.b.>`);
    } finally {
      await source.stop();
    }
  });

  it('recreates its consumer when it is deleted while jobwire runs', async () => {
    const { subject, stream: name } = await stream('deleted');
    const source = directSource();
    const seen = new Set<string>();
    await source.start([subject], async ({ message }) => {
      seen.add(message.id);
    });
    try {
      await client.publish(subject, 'before', { msgID: 'before' });
      await eventually('the first message', () => (seen.has('before') ? true : undefined));
      await client.jsm.consumers.delete(name, 'jobwire-bus');
      await client.publish(subject, 'after', { msgID: 'after' });
      await eventually('the message published after the deletion', () => (seen.has('after') ? true : undefined), 30_000);
      assert.equal((await client.consumer(name, 'jobwire-bus')).config.filter_subject, subject);
    } finally {
      await source.stop();
    }
  });

  it('says clearly when no stream captures a subject, a named stream is missing, or durable is false', async () => {
    const { subject } = uniqueNames('nostream');
    await assert.rejects(directSource().start([subject], async () => undefined), (error: unknown) => {
      assert.ok(error instanceof NatsSetupError);
      assert.match(error.message, /source "bus": no JetStream stream captures subject "jobwire-test\.nostream\.[^"]+": create one/);
      return true;
    });
    await assert.rejects(directSource({ stream: 'NO_SUCH_STREAM' }).start([subject], async () => undefined), /stream "NO_SUCH_STREAM" does not exist/);
    assert.throws(() => directSource({ durable: false }), (error: unknown) => error instanceof NatsSettingsError && /use mode: core/.test(error.message));
    assert.throws(() => directSource({ durable: 'a.b' }), NatsSettingsError);
  });

  it('reports reconnecting with attempt and last error while the server is unreachable', async () => {
    const source = directSource({ url: 'nats://127.0.0.1:1' });
    await source.start(['anything'], async () => undefined);
    try {
      const status = await eventually('two attempts', () => {
        const current = source.status();
        return current.state === 'reconnecting' && current.attempt >= 2 ? current : undefined;
      });
      assert.match(status.lastError, /ECONNREFUSED|refused/i);
      assert.ok(status.nextTryAt > 0);
    } finally {
      await source.stop();
    }
    assert.equal(source.status().state, 'stopped');
  });

  it('publishes with jobwire send semantics: PubAck awaited, message-id as Nats-Msg-Id, no stream reported', async () => {
    const { subject, stream: name } = await stream('publisher');
    const publisher = await createNatsPublisher(definition({}), { logger: createLogger('silent') });
    try {
      await publisher.publish(subject, Buffer.from('{"a":1}'), { 'message-id': 'pub-1', 'content-type': 'application/json', 'x-team': 'ops' });
      await publisher.publish(subject, Buffer.from('{"a":1}'), { 'message-id': 'pub-1' });
      const info = await client.jsm.streams.info(name);
      assert.equal(info.state.messages, 1, 'the stream deduplicated the second publish by Nats-Msg-Id');
      const stored = await client.jsm.streams.getMessage(name, { seq: 1 });
      assert.equal(stored?.header.get('Nats-Msg-Id'), 'pub-1');
      assert.equal(stored?.header.get('x-team'), 'ops');
      assert.equal(stored?.string(), '{"a":1}');
      await assert.rejects(publisher.publish(uniqueNames('nowhere').subject, Buffer.from('x'), {}), (error: unknown) => error instanceof InvalidInputError && /no JetStream stream captures/.test(error.message));
    } finally {
      await publisher.close();
    }
  });

  it('reconnects after a server restart while messages flow, and runs every message exactly once', { timeout: 180_000 }, async () => {
    const { subject } = await stream('restart');
    const top = 'dispatcher: { concurrency: 4, maxQueuedRuns: 8 }';
    const gate = holdGate();
    const h = await startHarness(config(subject, { top, command: gate.command }));
    let publisher: RawClient | undefined;
    try {
      // A second client keeps publishing through the restart; msgIDs make its retries harmless.
      publisher = await rawClient();
      const flowing = (async (sender: RawClient) => {
        for (let i = 0; i < 400; i += 1) {
          await sender.publishSurely(subject, `{"n":${i}}`, { msgID: `r-${i}` });
          if (i % 20 === 0) await sleep(20);
        }
      })(publisher);
      await eventually('some runs before the restart', async () => ((await runsPerMessage(h.url)).size >= 40 ? true : undefined));
      // Runs in flight wait through the restart: their acks then go to a connection that died.
      gate.hold();
      let sawReconnecting: any;
      await withBrokerStopped(async () => {
        sawReconnecting = await eventually('status reconnecting', async () => {
          const { json } = await h.get('/v1/sources');
          const status = json.sources.find((s: any) => s.name === 'bus')?.status;
          return status?.state === 'reconnecting' && status.attempt >= 2 ? status : undefined;
        }, 60_000);
      });
      assert.ok(sawReconnecting.lastError.length > 0);
      assert.ok((await runsPerMessage(h.url)).size < 400, 'the restart happened while messages were still flowing');
      gate.release();
      await flowing;
      const counts = await eventually('a run for each of the 400 messages', async () => {
        const current = await runsPerMessage(h.url);
        return current.size === 400 ? current : undefined;
      }, 120_000, 250);
      assert.deepEqual([...counts.values()].filter((count) => count !== 1), [], 'exactly one run per message');
      const { json } = await h.get('/v1/sources');
      assert.equal(json.sources.find((s: any) => s.name === 'bus')?.status.state, 'connected');
      assert.ok(h.logs.some((line) => line['source'] === 'bus' && /reconnecting to NATS \(attempt \d+\)/.test(String(line['msg']))));
    } finally {
      gate.release();
      await publisher?.close();
      await h.close();
    }
  });

  it('after kill -9 in the middle of a burst of 1,000 messages, every message has exactly one run', { timeout: 180_000 }, async () => {
    const { subject, stream: name } = await stream('kill9');
    const dir = tempDir();
    const file = path.join(dir, 'jobwire.yaml');
    // A small backlog makes jobwire take the burst in at the pace it runs it: the kill lands mid-intake.
    // A short ack wait: what the killed jobwire held unacked comes back in seconds, not 30.
    writeFileSync(file, config(subject, { top: 'dispatcher: { concurrency: 4, maxQueuedRuns: 20 }', source: '    ackWaitMs: 3000' }));
    await whileServing(file, path.join(dir, 'data'), 'SIGKILL', async (first) => {
      await Promise.all(Array.from({ length: 1000 }, (_, i) => client.publish(subject, `{"n":${i}}`, { msgID: `k-${i}` })));
      const before = await eventually('a part of the burst', async () => {
        const { size } = await runsPerMessage(first.url);
        return size >= 150 ? size : undefined;
      }, 60_000);
      assert.ok(before < 1000, `killed in the middle of the burst (${before} of 1,000 recorded)`);
    });
    await whileServing(file, path.join(dir, 'data'), 'SIGTERM', async (second) => {
      const counts = await eventually('a run for each of the 1,000 messages', async () => {
        const current = await runsPerMessage(second.url);
        return current.size === 1000 ? current : undefined;
      }, 120_000, 250);
      assert.deepEqual([...counts.values()].filter((count) => count !== 1), [], 'exactly one run per message');
      await eventually('everything acked', async () => ((await client.consumer(name, 'jobwire-bus')).ack_floor.stream_seq === 1000 ? true : undefined), 30_000);
    });
  });
});

describe('nats source (core NATS, at-most-once)', () => {
  before(requireBroker);

  it('runs a subscribed message once, says at start that it is at-most-once, and drops malformed ones', async () => {
    const { subject } = uniqueNames('core');
    const h = await startHarness(config(subject, { source: '    mode: core' }));
    const connection = await connect({ servers: NATS_URL });
    try {
      assert.ok(h.logs.some((line) => line['source'] === 'bus' && /AT-MOST-ONCE/.test(String(line['msg']))));
      const bad = natsHeaders();
      bad.set('content-type', 'application/json');
      bad.set('correlation-id', 'corr-core-bad');
      connection.publish(subject, '{"oops"', { headers: bad });
      const good = natsHeaders();
      good.set('message-id', 'core-1');
      connection.publish(subject, '{"ok":true}', { headers: good });
      await connection.flush();
      await eventually('the run', async () => ((await runsFor(h, 'core-1')).length === 1 ? true : undefined));
      assert.ok(h.logs.some((line) => line['correlationId'] === 'corr-core-bad' && /dropped/.test(String(line['msg']))));
    } finally {
      await connection.close();
      await h.close();
    }
  });

  it('publishes core messages with a flush (jobwire send with mode: core)', async () => {
    const { subject } = uniqueNames('corepub');
    const connection = await connect({ servers: NATS_URL });
    const received: Msg[] = [];
    const subscription = connection.subscribe(subject, { callback: (_error, message) => void received.push(message) });
    await connection.flush();
    const publisher = await createNatsPublisher(definition({ mode: 'core' }), { logger: createLogger('silent') });
    try {
      await publisher.publish(subject, Buffer.from('hello'), { 'x-k': 'v' });
      await eventually('the message', () => (received.length === 1 ? true : undefined), 5000);
      assert.equal(received[0]?.string(), 'hello');
      assert.equal(received[0]?.headers?.get('x-k'), 'v');
    } finally {
      await publisher.close();
      subscription.unsubscribe();
      await connection.close();
    }
  });
});
