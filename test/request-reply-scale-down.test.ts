/**
 * Scale-down without loss (the Kueuer report's lesson): callers send requests over RabbitMQ with
 * `reply_to` and wait for their answers; the jobwire serving them gets SIGTERM while 50 requests
 * are in flight (running, queued in its store, or still in the broker); a second jobwire on the
 * same data dir finishes them. Every caller gets exactly one reply, with its own result.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import type { ConsumeMessage } from 'amqplib';
import * as amqp from './support/amqp.js';
import { eventually } from './support/eventually.js';
import { tempDir } from './support/harness.js';
import { startServe, type ServeProcess } from './support/serve-process.js';

const REQUESTS = 50;

interface Reply {
  readonly id: string;
  readonly status: string;
  readonly exitCode: number | null;
  readonly output: { readonly n?: number } | null;
}

it('SIGTERM with 50 requests in flight: a second jobwire finishes them, every caller gets exactly one reply', { timeout: 150_000 }, async () => {
  await amqp.requireBroker();
  const client = await amqp.rawClient();
  const queue = amqp.uniqueName('scale-down');
  const replies = amqp.uniqueName('scale-down-replies');
  const fence = 'fence';
  await client.channel.assertQueue(queue, { durable: true });
  await client.channel.assertQueue(replies, { durable: true });
  const dir = tempDir('jobwire-scale-down-');
  const configFile = path.join(dir, 'jobwire.yaml');
  writeFileSync(
    configFile,
    `
sources:
  rabbit: { type: amqp, url: "${amqp.AMQP_URL}", prefetch: 20 }
dispatcher: { shutdownGrace: 60s }
jobs:
  - name: work
    on: [{ source: rabbit, topic: "${queue}" }]
    concurrency: 10
    env: { N: "\${{ string(message.body.n) }}", DELAY: "\${{ string(message.body.delay) }}" }
    script: |
      sleep "$DELAY"
      printf '{"n": %s}' "$N" > "$JOBWIRE_OUTPUT"
`,
  );
  const dataDir = path.join(dir, 'data');
  const received: ConsumeMessage[] = [];
  let fenced = false;
  await client.channel.consume(
    replies,
    (message) => {
      if (message === null) return;
      if (message.properties.correlationId === fence) fenced = true;
      else received.push(message);
    },
    { noAck: true },
  );
  let serve: ServeProcess | undefined;
  try {
    serve = await startServe(configFile, dataDir);
    await client.sendMany(
      queue,
      Array.from({ length: REQUESTS }, (_unused, n) => ({
        payload: JSON.stringify({ n, delay: (0.1 + (n % 4) * 0.1).toFixed(1) }),
        options: { replyTo: replies, correlationId: `caller-${n}`, contentType: 'application/json', messageId: `${queue}-${n}` },
      })),
    );
    // Some answered, most still in flight: then scale down.
    await eventually('the first replies', () => (received.length >= 5 ? true : undefined), 60_000);
    assert.ok(received.length < REQUESTS, 'requests were still in flight at the SIGTERM');
    const first = serve;
    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 0, 'the first jobwire shut down cleanly');
    const answeredByFirst = received.length;

    serve = await startServe(configFile, dataDir);
    const second = serve;
    await eventually('every caller answered', () => (new Set(received.map((message) => message.properties.correlationId as string)).size >= REQUESTS ? true : undefined), 90_000);
    // Nothing more will come: every run is final and the reply target has nothing waiting;
    // a fence published behind the replies arrives after any that the broker still holds.
    await eventually('the outbox to be empty', async () => {
      const targets = ((await (await fetch(`${second.url}/v1/outbox`)).json()) as { targets: { target: string; pending: number }[] }).targets;
      return targets.every((target) => target.pending === 0) ? true : undefined;
    });
    await client.send(replies, 'fence', { correlationId: fence });
    await eventually('the fence', () => (fenced ? true : undefined));

    const byCaller = new Map<string, ConsumeMessage[]>();
    for (const message of received) {
      const caller = message.properties.correlationId as string;
      byCaller.set(caller, [...(byCaller.get(caller) ?? []), message]);
    }
    assert.equal(byCaller.size, REQUESTS);
    for (const [caller, messages] of byCaller) {
      assert.equal(messages.length, 1, `${caller} got ${messages.length} replies`);
      const reply = JSON.parse(messages[0]?.content.toString('utf8') ?? '{}') as Reply;
      assert.equal(reply.status, 'succeeded', `${caller}: ${JSON.stringify(reply)}`);
      assert.equal(reply.exitCode, 0);
      assert.equal(`caller-${reply.output?.n}`, caller, 'each reply carries its own result');
    }
    assert.ok(answeredByFirst < REQUESTS && received.length - answeredByFirst > 0, 'the second jobwire answered the rest');
  } finally {
    serve?.child.kill('SIGKILL');
    await serve?.exited;
    await client.deleteQueues(queue, replies);
    await client.close();
  }
});
