/**
 * The crash model (DESIGN.md): a `kill -9` of jobwire must not change the fate of any run. For
 * each broker, 1,000 messages whose job takes 0–300 ms are drained by a real `jobwire serve`
 * that is killed with SIGKILL at 10 random points and started again on the same data dir. In the
 * end every message has exactly one run, every run succeeded with exit code 0 and its complete
 * log, and the job's side effect (a line in a file) happened exactly once per message.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import * as amqp from './support/amqp.js';
import { withBrokers } from './support/broker-lock.js';
import { eventually } from './support/eventually.js';
import { tempDir } from './support/harness.js';
import * as nats from './support/nats.js';
import { startServe, type ServeProcess } from './support/serve-process.js';
import * as stomp from './support/stomp.js';

const MESSAGES = 1000;
const KILLS = 10;
const CONCURRENCY = 32;
/** The whole loop, per broker; a healthy run takes a fraction of it. */
const SCENARIO_TIMEOUT_MS = 150_000;
/** How long a scenario may wait for its broker's test lock (another file restarting it). */
const LOCK_WAIT_MS = 300_000;

interface Payload {
  readonly i: string;
  readonly delay: string;
}

/** One broker's side of the scenario: where the messages go and how jobwire reads them. */
interface CrashBroker {
  /** The source's settings, a YAML flow map. */
  readonly source: string;
  readonly topic: string;
  publish(payloads: readonly Payload[]): Promise<void>;
  close(): Promise<void>;
}

async function rabbitMq(): Promise<CrashBroker> {
  await amqp.requireBroker();
  const client = await amqp.rawClient();
  const queue = amqp.uniqueName('crash');
  await client.channel.assertQueue(queue, { durable: true });
  return {
    source: `{ type: amqp, url: "${amqp.AMQP_URL}" }`,
    topic: queue,
    publish: (payloads) =>
      client.sendMany(
        queue,
        payloads.map((payload) => ({
          payload: JSON.stringify(payload),
          options: { persistent: true, messageId: `${queue}-${payload.i}`, contentType: 'application/json' },
        })),
      ),
    async close() {
      await client.deleteQueues(queue);
      await client.close();
    },
  };
}

async function jetStream(): Promise<CrashBroker> {
  await nats.requireBroker();
  const client = await nats.rawClient();
  const { subject, stream } = nats.uniqueNames('crash');
  await client.createStream(stream, [subject]);
  return {
    source: `{ type: nats, url: "${nats.NATS_URL}", stream: "${stream}", durable: crash }`,
    topic: subject,
    async publish(payloads) {
      await Promise.all(payloads.map((payload) => client.publish(subject, JSON.stringify(payload), { msgID: `${subject}-${payload.i}` })));
    },
    close: () => client.close(),
  };
}

async function activeMq(): Promise<CrashBroker> {
  await stomp.requireBroker();
  const client = await stomp.rawClient();
  const destination = `/queue/${stomp.uniqueName('crash')}`;
  return {
    source: `{ type: stomp, url: "${stomp.STOMP_URL}" }`,
    topic: destination,
    publish: (payloads) =>
      client.sendMany(
        destination,
        payloads.map((payload) => ({ body: JSON.stringify(payload), headers: { 'content-type': 'application/json' } })),
      ),
    close: () => client.close(),
  };
}

function config(broker: CrashBroker): string {
  return `dispatcher: { concurrency: ${CONCURRENCY} }
sources:
  bus: ${broker.source}
jobs:
  - name: work
    on: [{ source: bus, topic: ${JSON.stringify(broker.topic)} }]
    env:
      I: \${{ message.body.i }}
      DELAY: \${{ message.body.delay }}
      OUT: { fromEnv: OUT_FILE }
    script: sleep "$DELAY"; echo "$I" >> "$OUT"; echo "done $I"
`;
}

function lines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter((line) => line !== '');
  } catch {
    return [];
  }
}

async function countOf(url: string, status: string): Promise<number> {
  const page = (await (await fetch(`${url}/v1/runs?status=${status}&limit=1`)).json()) as { runs: unknown[] };
  return page.runs.length;
}

async function scenario(t: TestContext, open: () => Promise<CrashBroker>): Promise<void> {
  const broker = await open();
  const dir = tempDir('jobwire-crash-');
  const file = path.join(dir, 'jobwire.yaml');
  const out = path.join(dir, 'side-effects');
  const dataDir = path.join(dir, 'data');
  writeFileSync(file, config(broker));
  const env = { OUT_FILE: out };
  const began = Date.now();
  let serve: ServeProcess | undefined;
  /** Every jobwire's log, to explain a failure. */
  const served: ServeProcess[] = [];
  try {
    const payloads = Array.from({ length: MESSAGES }, (_, i) => ({ i: String(i), delay: (Math.random() * 0.3).toFixed(3) }));
    await broker.publish(payloads);
    // Kill points: after a random number of side effects each, spread over the burst.
    const killAfter = Array.from({ length: KILLS }, () => Math.floor(20 + Math.random() * (MESSAGES * 0.9))).sort((a, b) => a - b);
    for (const threshold of killAfter) {
      serve = await startServe(file, dataDir, env);
      served.push(serve);
      const running = serve;
      await eventually(`${threshold} side effects before the next kill`, () => (lines(out).length >= threshold ? true : undefined), 60_000, 10);
      running.child.kill('SIGKILL');
      await running.exited;
      serve = undefined;
    }
    serve = await startServe(file, dataDir, env);
    served.push(serve);
    const last = serve;
    await eventually(
      'every message ran and nothing is left in flight',
      async () => {
        if (lines(out).length < MESSAGES) return undefined;
        for (const status of ['queued', 'starting', 'running']) if ((await countOf(last.url, status)) > 0) return undefined;
        return true;
      },
      60_000,
      50,
    );
    last.child.kill('SIGTERM');
    assert.equal(await last.exited, 0);
    serve = undefined;

    const effects = lines(out);
    const seen = new Map<string, number>();
    for (const line of effects) seen.set(line, (seen.get(line) ?? 0) + 1);
    const doubled = [...seen].filter(([, count]) => count > 1).length;
    assert.deepEqual([...seen.keys()].sort((a, b) => Number(a) - Number(b)), payloads.map((payload) => payload.i), 'one side effect per message');

    const db = new Database(path.join(dataDir, 'jobwire.db'), { readonly: true });
    try {
      const runs = db
        .prepare<[], { id: string; status: string; exit_code: number | null; reason: string | null; attempts: number; body: string; log: string | null }>(
          `SELECT r.id, r.status, r.exit_code, r.reason, r.attempts, m.body, l.text AS log
           FROM runs r JOIN messages m ON m.source = r.message_source AND m.id = r.message_id
           LEFT JOIN run_logs l ON l.run_id = r.id AND l.attempt = r.attempts`,
        )
        .all();
      const messages = (db.prepare('SELECT COUNT(*) AS n FROM messages').get() as { n: number }).n;
      const failures = runs.filter((run) => run.status !== 'succeeded' || run.exit_code !== 0);
      const retried = runs.filter((run) => run.attempts !== 1).length;
      t.diagnostic(
        `${MESSAGES} messages, ${KILLS} kills: ${messages} messages stored, ${runs.length} runs, ${doubled} duplicate side effects, ` +
          `${failures.length} failures, ${retried} runs with more than one attempt, ${((Date.now() - began) / 1000).toFixed(1)} s`,
      );
      assert.equal(messages, MESSAGES, 'every message is stored once');
      assert.equal(runs.length, MESSAGES, 'exactly one run per message');
      for (const run of failures) {
        const story = served.flatMap((process, index) => process.lines.filter((line) => line['runId'] === run.id).map((line) => `jobwire #${index + 1}: ${JSON.stringify(line)}`));
        t.diagnostic(`run ${run.id}:\n${story.join('\n')}`);
      }
      assert.deepEqual(failures.map((run) => `${run.id} ${run.status} ${run.exit_code} ${run.reason}`), [], 'every run succeeded with exit code 0');
      assert.equal(retried, 0, 'no run needed a second attempt');
      for (const run of runs) {
        const body = JSON.parse(run.body) as Payload;
        assert.equal(run.log, `done ${body.i}\n`, `run ${run.id} has its complete log`);
      }
    } finally {
      db.close();
    }
  } finally {
    if (serve !== undefined) {
      serve.child.kill('SIGTERM');
      await serve.exited;
    }
    await broker.close();
  }
}

describe('kill -9 of jobwire in the middle of a burst, at 10 random points', { timeout: 3 * SCENARIO_TIMEOUT_MS }, () => {
  it('RabbitMQ: every message has one run, succeeded once, its side effect once, its log whole', { timeout: SCENARIO_TIMEOUT_MS + LOCK_WAIT_MS }, (t) => withBrokers(['rabbitmq'], () => scenario(t, rabbitMq)));
  it('NATS JetStream: every message has one run, succeeded once, its side effect once, its log whole', { timeout: SCENARIO_TIMEOUT_MS + LOCK_WAIT_MS }, (t) => withBrokers(['nats'], () => scenario(t, jetStream)));
  it('ActiveMQ over STOMP: every message has one run, succeeded once, its side effect once, its log whole', { timeout: SCENARIO_TIMEOUT_MS + LOCK_WAIT_MS }, (t) => withBrokers(['activemq'], () => scenario(t, activeMq)));
});
