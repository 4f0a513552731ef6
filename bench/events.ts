/**
 * What lifecycle events cost: the same burst of runs through jobwire with no events, then with a
 * RabbitMQ events sink (every run's .started and .finished written to the outbox in the
 * transactions of its transitions, published with confirms, deleted), in the same process and
 * run. Two executors: the real process executor with a trivial job (`true`) — the user's case —
 * and the noop executor, where jobwire's own work is all there is, so the events' share shows.
 *
 * Figures: runs/s with events as a ratio of runs/s without (target ≥ 0.8), and how long after
 * the last run the last event was confirmed by the broker.
 *
 * Usage: node dist/bench/events.js [messages=2000] [concurrency=16]
 * Needs RabbitMQ at 127.0.0.1:5672 (guest/guest). The last line holds the figures.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { isMainThread, Worker, workerData } from 'node:worker_threads';
import { connect } from 'amqplib';
import { createJobwire } from '../src/app.js';
import { loadConfig } from '../src/config/load.js';
import type { RunEvent } from '../src/dispatch/dispatcher.js';
import { createLogger } from '../src/log.js';
import { NoopExecutor } from './noop-executor.js';

const messages = Number(process.argv[2] ?? 2000);
const concurrency = Number(process.argv[3] ?? 16);
const HTTP_CLIENTS = 16;
const AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672';

const now = (): number => performance.timeOrigin + performance.now();

async function postAll(url: string, count: number, prefix: string): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: HTTP_CLIENTS }, async () => {
      while (next < count) {
        const id = `${prefix}-${next++}`;
        const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"id":"${id}","body":{"n":1}}` });
        if (response.status !== 202) throw new Error(`POST answered ${response.status}: ${await response.text()}`);
        await response.arrayBuffer();
      }
    }),
  );
}

function postFromWorker(url: string, count: number, prefix: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: { url, count, prefix } });
    worker.once('error', reject);
    worker.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`load worker exited with ${code}`))));
  });
}

interface Figures {
  readonly runsPerSecond: number;
  /** From the last run's end to the outbox being empty (0 without events). */
  readonly eventsLagMs: number;
}

async function measure(executor: 'process' | 'noop', queue: string | undefined): Promise<Figures> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jobwire-bench-events-'));
  const configFile = path.join(dir, 'jobwire.yaml');
  const events =
    queue === undefined
      ? ''
      : `sources:\n  rabbit: { type: amqp, url: "${AMQP_URL}" }\nevents:\n  sinks:\n    bus: { source: rabbit, topic: ${queue} }\n`;
  // `noop` is declared as a process executor and replaced by the NoopExecutor of the same name.
  const executors = executor === 'noop' ? 'executors:\n  noop: { type: process }\n' : '';
  writeFileSync(configFile, `${events}${executors}jobs:\n  - name: work\n    on: [{ source: http }]\n    executor: ${executor === 'noop' ? 'noop' : 'process'}\n    command: ["true"]\n`);
  const config = await loadConfig(configFile);
  let finished = 0;
  let onFinished: (() => void) | undefined;
  const onRunEvent = (event: RunEvent): void => {
    if (event.type !== 'run.finished') return;
    finished++;
    onFinished?.();
  };
  const jobwire = createJobwire({
    config,
    dataDir: path.join(dir, 'data'),
    logger: createLogger('silent'),
    concurrency,
    onRunEvent,
    ...(executor === 'noop' ? { extraExecutors: [new NoopExecutor()] } : {}),
  });
  await jobwire.start();
  const url = `${await jobwire.listen(0, '127.0.0.1')}/v1/messages`;
  const begin = now();
  const allFinished = new Promise<void>((resolve) => {
    onFinished = () => {
      if (finished >= messages) resolve();
    };
  });
  await postFromWorker(url, messages, `${executor}-${queue ?? 'off'}`);
  await allFinished;
  const ended = now();
  const runsPerSecond = messages / ((ended - begin) / 1000);
  let eventsLagMs = 0;
  if (queue !== undefined) {
    for (;;) {
      const pending = [...(await jobwire.store.outboxPending()).values()].reduce((a, b) => a + b, 0);
      if (pending === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    eventsLagMs = now() - ended;
  }
  await jobwire.stop();
  rmSync(dir, { recursive: true, force: true });
  return { runsPerSecond, eventsLagMs };
}

async function main(): Promise<void> {
  const connection = await connect(AMQP_URL);
  const channel = await connection.createChannel();
  const queue = `jobwire-bench-events-${process.pid}`;
  await channel.assertQueue(queue, { durable: true });
  try {
    const parts: string[] = [];
    let processRatio = 0;
    for (const executor of ['process', 'noop'] as const) {
      await measure(executor, undefined); // warm-up
      const off = await measure(executor, undefined);
      const on = await measure(executor, queue);
      const ratio = on.runsPerSecond / off.runsPerSecond;
      if (executor === 'process') processRatio = ratio;
      parts.push(
        `${executor}: ${on.runsPerSecond.toFixed(0)} runs/s with events vs ${off.runsPerSecond.toFixed(0)} without = ${ratio.toFixed(2)}, last event confirmed ${on.eventsLagMs.toFixed(0)} ms after the last run`,
      );
    }
    const published = (await channel.checkQueue(queue)).messageCount;
    console.log(`events (RabbitMQ sink): ${parts.join('; ')} (target ≥ 0.8 for process: ${processRatio >= 0.8 ? 'met' : 'NOT met'}) [messages=${messages} concurrency=${concurrency}, ${published} events on the queue]`);
  } finally {
    await channel.deleteQueue(queue).catch(() => undefined);
    await connection.close();
  }
}

if (isMainThread) await main();
else {
  const { url, count, prefix } = workerData as { url: string; count: number; prefix: string };
  await postAll(url, count, prefix);
}
