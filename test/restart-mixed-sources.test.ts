/**
 * Issue 9's report, step by step: an `amqp` source draining a backlog and a `stomp` source on an
 * ActiveMQ virtual-topic consumer queue in one jobwire; `kill -9` while the backlog runs; a
 * restart on the same data dir with the RabbitMQ backlog still there; then a message that is not
 * JSON and a valid one published to the virtual topic. Both must be consumed at once (the first
 * matches no job, the second runs), and every RabbitMQ message must run exactly once.
 *
 * The report's "valid" message never reached the broker as JSON: Debian's `/usr/bin/activemq`
 * re-parses its arguments through `sh -c`, so `--message '{"valid":true}'` is sent as
 * `{valid:true}`. This test publishes over STOMP, byte for byte, and keeps the rest of the
 * scenario so a lost wake-up or a stale subscription after a restart would show here.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import * as amqp from './support/amqp.js';
import { withBrokers } from './support/broker-lock.js';
import { eventually } from './support/eventually.js';
import { tempDir } from './support/harness.js';
import { startServe, type ServeProcess } from './support/serve-process.js';
import * as stomp from './support/stomp.js';

const BACKLOG = 300;
const KILL_AFTER = 100;

function lines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter((line) => line !== '');
  } catch {
    return [];
  }
}

interface RunPage {
  runs: { id: string; job: string; status: string }[];
}

async function runsOf(url: string, job: string): Promise<RunPage> {
  return (await (await fetch(`${url}/v1/runs?job=${job}&limit=500`)).json()) as RunPage;
}

it('after kill -9 with a RabbitMQ backlog, STOMP virtual-topic messages are consumed at once and the backlog runs once', { timeout: 600_000 }, () => withBrokers(['rabbitmq', 'activemq'], scenario));

async function scenario(): Promise<void> {
  await amqp.requireBroker();
  await stomp.requireBroker();
  const rabbit = await amqp.rawClient();
  const activeMq = await stomp.rawClient();
  const queue = amqp.uniqueName('restart-mixed');
  const virtualTopic = `VirtualTopic.${stomp.uniqueName('restart-mixed')}`;
  await rabbit.channel.assertQueue(queue, { durable: true });
  const dir = tempDir('jobwire-restart-mixed-');
  const file = path.join(dir, 'jobwire.yaml');
  const dataDir = path.join(dir, 'data');
  const work = path.join(dir, 'work');
  const valid = path.join(dir, 'valid');
  writeFileSync(
    file,
    `dispatcher: { concurrency: 16 }
sources:
  rabbit: { type: amqp, url: "${amqp.AMQP_URL}" }
  umb: { type: stomp, url: "${stomp.STOMP_URL}" }
jobs:
  - name: work
    on: [{ source: rabbit, topic: ${JSON.stringify(queue)} }]
    env:
      I: \${{ message.body.i }}
      OUT: { fromEnv: WORK_FILE }
    script: sleep 0.1; echo "$I" >> "$OUT"
  - name: valid
    on:
      - source: umb
        topic: /queue/Consumer.jw.${virtualTopic}
        if: has(message.body.valid) && message.body.valid == true
    env: { OUT: { fromEnv: VALID_FILE } }
    script: echo valid >> "$OUT"
`,
  );
  const env = { WORK_FILE: work, VALID_FILE: valid };
  let serve: ServeProcess | undefined;
  try {
    serve = await startServe(file, dataDir, env);
    await rabbit.sendMany(
      queue,
      Array.from({ length: BACKLOG }, (_, i) => ({
        payload: JSON.stringify({ i: String(i) }),
        options: { persistent: true, messageId: `${queue}-${i}`, contentType: 'application/json' },
      })),
    );
    const first = serve;
    await eventually(`${KILL_AFTER} runs before the kill`, () => (lines(work).length >= KILL_AFTER ? true : undefined), 60_000, 5);
    first.child.kill('SIGKILL');
    await first.exited;

    serve = await startServe(file, dataDir, env);
    const second = serve;
    await eventually('both sources connected after the restart', async () => {
      const sources = (await (await fetch(`${second.url}/v1/sources`)).json()) as { sources: { name: string; status: { state: string } }[] };
      return sources.sources.every((source) => source.status.state === 'connected') ? true : undefined;
    });
    const backlogLeft = BACKLOG - lines(work).length;
    await activeMq.send(`/topic/${virtualTopic}`, 'this is not json', { 'content-type': 'text/plain' });
    await activeMq.send(`/topic/${virtualTopic}`, '{"valid":true}', { 'content-type': 'application/json' });

    await eventually('the message that is not JSON consumed (it matches no job)', () =>
      second.lines.some((line) => line['msg'] === 'message matched no job' && line['source'] === 'umb') ? true : undefined,
    );
    await eventually('the valid message ran', () => (lines(valid).length === 1 ? true : undefined), 30_000);
    await eventually(
      'the RabbitMQ backlog ran and nothing is in flight',
      async () => {
        if (lines(work).length < BACKLOG) return undefined;
        const page = await runsOf(second.url, 'work');
        return page.runs.every((run) => run.status === 'succeeded') ? page : undefined;
      },
      60_000,
      50,
    );
    assert.ok(backlogLeft > 0, 'the STOMP messages were sent while the RabbitMQ backlog was still draining');
    assert.deepEqual(
      [...new Set(lines(work))].sort((a, b) => Number(a) - Number(b)),
      Array.from({ length: BACKLOG }, (_, i) => String(i)),
      'every RabbitMQ message ran',
    );
    assert.equal(lines(work).length, BACKLOG, 'none ran twice');
    assert.equal((await runsOf(second.url, 'work')).runs.length, BACKLOG, 'one run per RabbitMQ message');
    assert.deepEqual((await runsOf(second.url, 'valid')).runs.map((run) => run.status), ['succeeded']);
    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0);
    serve = undefined;
  } finally {
    serve?.child.kill('SIGKILL');
    await rabbit.deleteQueues(queue);
    await rabbit.close();
    await activeMq.close();
  }
}
