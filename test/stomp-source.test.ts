/**
 * The `stomp` source against the real ActiveMQ Classic on this machine (no mocks; installed and
 * started by `.ci/activemq.sh`). Messages are published with @stomp/stompjs directly, as any
 * upstream producer would. Each test uses its own destinations.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { IMessage } from '@stomp/stompjs';
import { startHarness, tempDir, type Harness } from './support/harness.js';
import { STOMP_TLS_URL, STOMP_URL, TLS_CLIENT_DIR, rawClient, requireBroker, stopCase, uniqueName, withBrokerStopped, type RawClient } from './support/stomp.js';
import { stopWhenBrokerVanishes } from './support/stop-scenarios.js';
import { deferred, eventually, sleep } from './support/eventually.js';
import { runsPerMessage, whileServing } from './support/runs.js';
import { createStompPublisher, createStompSource } from '../src/sources/stomp.js';
import type { Capacity, DeliverFn, Source } from '../src/sources/source.js';
import type { Message } from '../src/core/message.js';
import { createLogger } from '../src/log.js';

const queue = (prefix: string): string => `/queue/${uniqueName(prefix)}`;

function config(topic: string, extra: { source?: string; job?: string; top?: string; url?: string } = {}): string {
  return `${extra.top ?? ''}
sources:
  amq:
    type: stomp
    url: ${extra.url ?? STOMP_URL}
    prefetch: 10
    heartbeatMs: 2000
${extra.source ?? ''}
jobs:
  - name: consume
    on: [{ source: amq, topic: ${JSON.stringify(topic)} }]
    command: ["true"]
${extra.job ?? ''}`;
}

async function runsFor(h: Harness, correlationId: string): Promise<any[]> {
  const { json } = await h.get(`/v1/runs?correlationId=${encodeURIComponent(correlationId)}&limit=500`);
  return json.runs;
}

async function oneRun(h: Harness, correlationId: string): Promise<any> {
  const runs = await eventually(`a run for ${correlationId}`, async () => {
    const found = await runsFor(h, correlationId);
    return found.length > 0 ? found : undefined;
  });
  assert.equal(runs.length, 1);
  return runs[0];
}

/** A StompSource built directly, for the tests that control `deliver` and capacity. */
function directSource(settings: Record<string, unknown> = {}, capacity: Capacity = { admit: async () => undefined }): Source {
  return createStompSource(
    { name: 'amq', type: 'stomp', settings: { url: STOMP_URL, heartbeatMs: 2000, ...settings }, position: { file: '/tmp/test.yaml', line: 1, col: 1 } },
    { logger: createLogger('silent'), maxMessageBytes: 1 << 20, capacity, reconnect: { initialMs: 50, maxMs: 500 } },
  );
}

/** A local port nothing listens on: connecting to it is refused at once. */
async function refusedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('stomp source (ActiveMQ)', () => {
  let client: RawClient;

  before(async () => {
    await requireBroker();
    client = await rawClient();
  });
  after(async () => {
    await client.close();
  });

  // The broker vanishing mid-shutdown, through a proxy (no restart of the shared broker).
  stopWhenBrokerVanishes(stopCase);

  it('runs the job once for a message from an ordinary client, and acks it', async () => {
    const q = queue('basic');
    const h = await startHarness(config(q));
    try {
      await client.send(q, JSON.stringify({ order: 42 }), { 'correlation-id': 'stomp-basic', 'content-type': 'application/json', tenant: 'acme' });
      const run = await oneRun(h, 'stomp-basic');
      assert.equal((await h.waitForRun(run.id)).status, 'succeeded');
      assert.match(run.messageId, /^ID:/, 'the dedupe key is the broker-assigned message-id');
      const stored = await h.jobwire.store.getMessage('amq', run.messageId);
      assert.deepEqual(stored?.body, { order: 42 });
      assert.equal(stored?.topic, q);
      assert.equal(stored?.headers['tenant'], 'acme');
      assert.equal(stored?.headers['message-id'], run.messageId);
      assert.equal(h.jobwire.sources.find((source) => source.name === 'amq')?.status().state, 'connected');
    } finally {
      await h.close();
    }
    assert.deepEqual(await client.drain(q, { quietMs: 500 }), [], 'the message was acked');
  });

  it('acks a message that matches no filter without running it', async () => {
    const q = queue('nomatch');
    const h = await startHarness(config(q).replace(`topic: ${JSON.stringify(q)} }`, `topic: ${JSON.stringify(q)}, if: 'message.body.kind == "build"' }`));
    try {
      await client.send(q, '{"kind":"lint"}', { 'correlation-id': 'stomp-lint', 'content-type': 'application/json' });
      await client.send(q, '{"kind":"build"}', { 'correlation-id': 'stomp-build', 'content-type': 'application/json' });
      await oneRun(h, 'stomp-build');
      assert.deepEqual(await runsFor(h, 'stomp-lint'), []);
      assert.ok(h.logs.some((line) => line['correlationId'] === 'stomp-lint' && line['msg'] === 'message matched no job'));
    } finally {
      await h.close();
    }
    assert.deepEqual(await client.drain(q, { quietMs: 500 }), [], 'both messages were acked');
  });

  it('sends malformed messages to the deadLetterQueue with the reason, logs their correlation id, and keeps the queue flowing', async () => {
    const q = queue('malformed');
    const dlq = queue('dlq');
    const h = await startHarness(config(q, { source: `    deadLetterQueue: ${JSON.stringify(dlq)}`, top: 'limits: { maxMessageSize: 1KiB }' }));
    try {
      await client.send(q, '{"broken":', { 'correlation-id': 'stomp-bad-json', 'content-type': 'application/json', tenant: 'acme' });
      await client.send(q, 'x'.repeat(2048), { 'correlation-id': 'stomp-too-big' });
      await client.send(q, '{"fine":true}', { 'correlation-id': 'stomp-after-bad', 'content-type': 'application/json' });
      await oneRun(h, 'stomp-after-bad');
      const dead = await eventually('two dead letters', async () => {
        const got = await client.drain(dlq, { quietMs: 300, max: 2 });
        return got.length === 2 ? got : undefined;
      });
      const byCorrelation = new Map(dead.map((message) => [message.headers['correlation-id'], message]));
      const badJson = byCorrelation.get('stomp-bad-json');
      assert.equal(badJson?.body, '{"broken":');
      assert.equal(badJson?.headers['tenant'], 'acme');
      assert.match(badJson?.headers['jobwire-reject-reason'] ?? '', /not valid JSON/);
      assert.equal(badJson?.headers['jobwire-original-destination'], q);
      assert.match(byCorrelation.get('stomp-too-big')?.headers['jobwire-reject-reason'] ?? '', /over limits\.maxMessageSize/);
      for (const correlationId of ['stomp-bad-json', 'stomp-too-big']) {
        assert.deepEqual(await runsFor(h, correlationId), []);
        assert.ok(
          h.logs.some((line) => line['correlationId'] === correlationId && String(line['msg']).includes('dead-letter queue') && typeof line['reason'] === 'string'),
          `a log line for ${correlationId}`,
        );
      }
    } finally {
      await h.close();
    }
    assert.deepEqual(await client.drain(q, { quietMs: 500 }), [], 'the originals were acked');
  });

  it('without a deadLetterQueue, NACKs a malformed message: ActiveMQ moves it to ActiveMQ.DLQ', async () => {
    const q = queue('nack');
    const marker = uniqueName('nack').replace(/[^a-z0-9]/gi, '_');
    const h = await startHarness(config(q));
    try {
      await client.send(q, '{"broken":', { 'correlation-id': 'stomp-nack', 'content-type': 'application/json', jobwiretest: marker });
      await client.send(q, '{"ok":1}', { 'correlation-id': 'stomp-after-nack', 'content-type': 'application/json' });
      await oneRun(h, 'stomp-after-nack');
      const dead = await eventually('the message in ActiveMQ.DLQ', async () => {
        const got = await client.drain('/queue/ActiveMQ.DLQ', { quietMs: 300, selector: `jobwiretest = '${marker}'` });
        return got.length > 0 ? got : undefined;
      });
      assert.equal(dead.length, 1);
      assert.equal(dead[0]?.body, '{"broken":');
      assert.equal(dead[0]?.headers['original-destination'], q);
      assert.ok(h.logs.some((line) => line['correlationId'] === 'stomp-nack' && String(line['msg']).includes('NACK')));
    } finally {
      await h.close();
    }
  });

  it('consumes a virtual-topic consumer queue: published to /topic/VirtualTopic.<t>, consumed from /queue/Consumer.<name>.VirtualTopic.<t>', async () => {
    const topic = `VirtualTopic.${uniqueName('vt')}`;
    const consumerQueue = `/queue/Consumer.jobwire.${topic}`;
    const h = await startHarness(config(consumerQueue));
    try {
      // The consumer queue exists once jobwire subscribed (start resolved after the RECEIPT).
      await client.send(`/topic/${topic}`, '{"event":"deployed"}', { 'correlation-id': 'stomp-vt', 'content-type': 'application/json' });
      const run = await oneRun(h, 'stomp-vt');
      const stored = await h.jobwire.store.getMessage('amq', run.messageId);
      assert.equal(stored?.topic, consumerQueue);
      assert.equal(stored?.headers['original-destination'], `/topic/${topic}`);
    } finally {
      await h.close();
    }
  });

  it('runs a redelivered message once: the broker message-id is the same on redelivery', async () => {
    const q = queue('dedupe');
    const h = await startHarness(config(q));
    // jobwire's own source is swapped for one whose first ACK is "lost" after the commit — the
    // crash-between-commit-and-ack case — so ActiveMQ delivers the same message again.
    await h.jobwire.sources.find((source) => source.name === 'amq')?.stop();
    const seen: { id: string; redelivered: string | undefined; duplicate: boolean }[] = [];
    const source = directSource({ prefetch: 10 });
    try {
      await source.start([q], async ({ message }) => {
        const outcome = await h.jobwire.inbox.accept(message);
        seen.push({ id: message.id, redelivered: message.headers['redelivered'], duplicate: outcome.duplicate });
        if (seen.length === 1) throw new Error('connection lost before the ack');
      });
      await client.send(q, '{"n":1}', { 'correlation-id': 'stomp-dedupe', 'content-type': 'application/json' });
      await eventually('the redelivery', () => (seen.length >= 2 ? true : undefined));
      assert.equal(seen[0]?.id, seen[1]?.id);
      assert.deepEqual(seen.map((entry) => entry.duplicate), [false, true]);
      assert.equal(seen[1]?.redelivered, 'true');
      assert.equal((await runsFor(h, 'stomp-dedupe')).length, 1);
    } finally {
      await source.stop();
      await h.close();
    }
    assert.deepEqual(await client.drain(q, { quietMs: 500 }), [], 'acked after the redelivery');
  });

  it('acks only after deliver resolved; a failed deliver returns the message to the broker (reconnect with status)', async () => {
    const q = queue('requeue');
    const calls: Message[] = [];
    const gate = deferred();
    const states: string[] = [];
    const source = directSource();
    const deliver: DeliverFn = async ({ message }) => {
      calls.push(message);
      if (calls.length === 1) throw new Error('store unavailable');
      await gate.promise;
    };
    try {
      await source.start([q], deliver);
      const watcher = setInterval(() => states.push(source.status().state), 5);
      await client.send(q, '{"n":1}', { 'correlation-id': 'stomp-requeue' });
      await eventually('the redelivery', () => (calls.length >= 2 ? true : undefined));
      clearInterval(watcher);
      assert.ok(states.includes('reconnecting'), `status went through reconnecting: ${[...new Set(states)].join(',')}`);
      assert.equal(calls[1]?.id, calls[0]?.id);
      // deliver has not resolved: a second consumer gets nothing, the message is still ours.
      assert.deepEqual(await client.drain(q, { quietMs: 300 }), []);
      gate.resolve();
      await eventually('connected', () => (source.status().state === 'connected' ? true : undefined));
    } finally {
      gate.resolve();
      await source.stop();
    }
    assert.equal(calls.length, 2);
    assert.deepEqual(await client.drain(q, { quietMs: 500 }), [], 'acked once deliver resolved');
  });

  it('holds at most prefetch messages unacknowledged and waits for capacity before delivering', async () => {
    const q = queue('prefetch');
    let open = false;
    const waiting: (() => void)[] = [];
    const capacity: Capacity = { admit: () => (open ? Promise.resolve() : new Promise((resolve) => waiting.push(resolve))) };
    const delivered: string[] = [];
    const source = directSource({ prefetch: 3 }, capacity);
    try {
      await source.start([q], async ({ message }) => {
        delivered.push(message.id);
      });
      await client.sendMany(q, Array.from({ length: 10 }, (_, n) => ({ body: `{"n":${n}}` })));
      await sleep(500);
      assert.equal(delivered.length, 0, 'nothing is delivered while the dispatcher has no capacity');
      // A second consumer gets everything the source did not take: the source holds 3.
      const holder = await client.hold(q, 100);
      await eventually('7 messages at the other consumer', () => (holder.received.length === 7 ? true : undefined));
      await sleep(300);
      assert.equal(holder.received.length, 7);
      holder.release();
      open = true;
      for (const resolve of waiting.splice(0)) resolve();
      await eventually('all 10 delivered', () => (delivered.length === 10 ? true : undefined));
      assert.equal(new Set(delivered).size, 10);
    } finally {
      await source.stop();
    }
  });

  it('stop() lets the in-flight delivery finish and ack; messages not yet delivered go back to the broker', async () => {
    const q = queue('stop');
    const gate = deferred();
    const delivered: string[] = [];
    // Capacity for one message only: the other prefetched ones wait in admit() when stop() comes.
    let admitted = 0;
    const capacity: Capacity = { admit: () => (admitted++ === 0 ? Promise.resolve() : new Promise(() => undefined)) };
    const source = directSource({ prefetch: 5 }, capacity);
    let stopped = false;
    try {
      await source.start([q], async ({ message }) => {
        delivered.push(String((message.body as { n: number }).n));
        await gate.promise;
      });
      await client.sendMany(q, Array.from({ length: 5 }, (_, n) => ({ body: `{"n":${n}}`, headers: { 'content-type': 'application/json' } })));
      await eventually('the first delivery', () => (delivered.length === 1 ? true : undefined));
      const stopping = source.stop().then(() => (stopped = true));
      await sleep(300);
      assert.equal(stopped, false, 'stop waits for the in-flight delivery');
      gate.resolve();
      await stopping;
      assert.equal(source.status().state, 'stopped');
    } finally {
      gate.resolve();
      await source.stop();
    }
    assert.deepEqual(delivered, ['0']);
    const back = await client.drain(q, { quietMs: 500 });
    assert.deepEqual(back.map((message: IMessage) => message.body).sort(), ['{"n":1}', '{"n":2}', '{"n":3}', '{"n":4}']);
  });

  it('fails over: a first URL that refuses connections is skipped', async () => {
    const q = queue('failover');
    const port = await refusedPort();
    const h = await startHarness(config(q).replace(`url: ${STOMP_URL}`, `urls: ["stomp://127.0.0.1:${port}", "${STOMP_URL}"]`));
    try {
      await client.send(q, '{}', { 'correlation-id': 'stomp-failover' });
      await oneRun(h, 'stomp-failover');
      assert.equal(h.jobwire.sources.find((source) => source.name === 'amq')?.status().state, 'connected');
      assert.ok(h.logs.some((line) => line['msg'] === 'STOMP source connected and subscribed' && line['url'] === STOMP_URL));
    } finally {
      await h.close();
    }
  });

  it('connects over TLS with a client certificate (stomp+ssl), and is refused without one', async () => {
    const q = queue('tls');
    const tls = `    tls: { ca: ${TLS_CLIENT_DIR}/ca.pem, cert: ${TLS_CLIENT_DIR}/client.pem, key: ${TLS_CLIENT_DIR}/client-key.pem }`;
    const h = await startHarness(config(q, { url: STOMP_TLS_URL, source: tls }));
    try {
      await client.send(q, '{}', { 'correlation-id': 'stomp-tls' });
      await oneRun(h, 'stomp-tls');
      assert.ok(h.logs.some((line) => line['msg'] === 'STOMP source connected and subscribed' && line['url'] === STOMP_TLS_URL));
    } finally {
      await h.close();
    }
    const anonymous = directSource({ url: STOMP_TLS_URL, tls: { ca: `${TLS_CLIENT_DIR}/ca.pem` } });
    try {
      await anonymous.start([q], async () => undefined);
      const status = await eventually('reconnecting', () => {
        const current = anonymous.status();
        return current.state === 'reconnecting' ? current : undefined;
      });
      assert.ok(status.attempt >= 1);
      assert.match(status.lastError, /stomp\+ssl:\/\/127\.0\.0\.1:61614/);
    } finally {
      await anonymous.stop();
    }
  });

  it('publishes with the STOMP publisher: persistent, confirmed by a RECEIPT', async () => {
    const q = queue('publish');
    const publisher = await createStompPublisher(
      { name: 'amq', type: 'stomp', settings: { url: STOMP_URL }, position: { file: '/tmp/test.yaml', line: 1, col: 1 } },
      { logger: createLogger('silent') },
    );
    try {
      await publisher.publish(q, Buffer.from('{"hello":"world"}'), { 'content-type': 'application/json', 'correlation-id': 'stomp-pub', 'message-id': 'ignored' });
    } finally {
      await publisher.close();
    }
    const [message, ...rest] = await client.drain(q, { quietMs: 300 });
    assert.equal(rest.length, 0);
    assert.equal(message?.body, '{"hello":"world"}');
    assert.equal(message?.headers['persistent'], 'true');
    assert.equal(message?.headers['correlation-id'], 'stomp-pub');
    assert.match(message?.headers['message-id'] ?? '', /^ID:/, 'ActiveMQ assigns its own message-id');
  });

  it('reconnects by itself when ActiveMQ restarts while messages flow: every message runs exactly once', async () => {
    const q = queue('restart');
    const h = await startHarness(config(q), { extra: { concurrency: 8 } });
    const source = h.jobwire.sources.find((candidate) => candidate.name === 'amq');
    try {
      await client.sendMany(q, Array.from({ length: 300 }, (_, n) => ({ body: `{"n":${n}}`, headers: { 'content-type': 'application/json' } })));
      await eventually('some runs', async () => ((await runsPerMessage(h.url)).size >= 30 ? true : undefined));
      const seen: string[] = [];
      await withBrokerStopped(async () => {
        const status = await eventually('reconnecting', () => {
          const current = source?.status();
          return current?.state === 'reconnecting' ? current : undefined;
        }, 30_000);
        seen.push(status.lastError);
        await sleep(1500);
      });
      assert.ok(seen[0] !== undefined && seen[0] !== '');
      await eventually('connected again', () => (source?.status().state === 'connected' ? true : undefined), 60_000);
      const after = await rawClient();
      try {
        await after.sendMany(q, Array.from({ length: 100 }, (_, n) => ({ body: `{"n":${300 + n}}`, headers: { 'content-type': 'application/json' } })));
      } finally {
        await after.close();
      }
      const counts = await eventually('400 messages with runs', async () => {
        const current = await runsPerMessage(h.url);
        return current.size >= 400 ? current : undefined;
      }, 120_000, 250);
      assert.equal(counts.size, 400);
      assert.deepEqual([...counts.values()].filter((count) => count !== 1), [], 'no message ran twice');
      const attempts = h.logs.filter((line) => line['msg'] === 'STOMP source reconnecting' && line['source'] === 'amq');
      assert.ok(attempts.length >= 1 && typeof attempts[0]?.['attempt'] === 'number', 'each attempt is logged with the source name');
    } finally {
      await h.close();
    }
  });

  it('kill -9 in the middle of a burst of 1,000 messages, start again: every message has exactly one run', async () => {
    const q = queue('kill9');
    const dir = tempDir();
    const file = path.join(dir, 'jobwire.yaml');
    writeFileSync(file, config(q));
    const dataDir = path.join(dir, 'data');
    const burst = await rawClient();
    try {
      await burst.sendMany(q, Array.from({ length: 1000 }, (_, n) => ({ body: `{"n":${n}}`, headers: { 'content-type': 'application/json' } })));
    } finally {
      await burst.close();
    }
    await whileServing(file, dataDir, 'SIGKILL', async (first) => {
      await eventually('a few hundred runs', async () => ((await runsPerMessage(first.url)).size >= 200 ? true : undefined), 60_000, 50);
    });
    await whileServing(file, dataDir, 'SIGTERM', async (second) => {
      const counts = await eventually('1000 messages with runs', async () => {
        const current = await runsPerMessage(second.url);
        return current.size >= 1000 ? current : undefined;
      }, 180_000, 250);
      assert.equal(counts.size, 1000);
      assert.deepEqual([...counts.values()].filter((count) => count !== 1), [], 'no message ran twice');
    });
  });
});
