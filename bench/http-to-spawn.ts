/**
 * End-to-end benchmark of the embedded path: POST /v1/messages → match → commit message and run
 * (SQLite) → claim → spawn → record the result. A trivial job (`true`) so the figures are
 * jobwire's overhead, compared with the raw rate of spawning the same command from Node at the
 * same concurrency, measured in the same run.
 *
 * Two phases:
 *  - throughput: N messages posted as fast as 16 HTTP clients can, from a worker thread (as
 *    from another process, so the load generator's work is not jobwire's); runs/s until the
 *    last run's result is recorded;
 *  - latency: messages posted one by one at a pace well under capacity; time from just before
 *    the POST to the child's 'spawn' event (p50/p99), so queueing does not hide the path cost.
 *
 * Usage: node dist/bench/http-to-spawn.js [messages=2000] [concurrency=8]
 * The last line holds the figures.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { isMainThread, Worker, workerData } from 'node:worker_threads';
import { createJobwire } from '../src/app.js';
import { loadConfig } from '../src/config/load.js';
import type { RunEvent } from '../src/dispatch/dispatcher.js';
import { createLogger } from '../src/log.js';
import { measureRawSpawn } from './spawn.js';

const messages = Number(process.argv[2] ?? 2000);
const concurrency = Number(process.argv[3] ?? 8);
const LATENCY_SAMPLES = 300;
const HTTP_CLIENTS = 16;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** The throughput phase's load generator: runs in a worker thread. */
async function postAll(url: string, count: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: HTTP_CLIENTS }, async () => {
      while (next < count) {
        const id = `t-${next++}`;
        const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"id":"${id}","body":{"n":1}}` });
        if (response.status !== 202) throw new Error(`POST answered ${response.status}: ${await response.text()}`);
        await response.arrayBuffer();
      }
    }),
  );
}

function postFromWorker(url: string, count: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: { url, count } });
    worker.once('error', reject);
    worker.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`load worker exited with ${code}`))));
  });
}

async function main(): Promise<void> {
  // The raw limit first, in a fresh process: the harder comparison.
  await measureRawSpawn({ count: 100, concurrency, argv: ['true'] });
  const raw = await measureRawSpawn({ count: messages, concurrency, argv: ['true'] });

  const dir = mkdtempSync(path.join(os.tmpdir(), 'jobwire-bench-'));
  const configFile = path.join(dir, 'jobwire.yaml');
  writeFileSync(configFile, `jobs:\n  - name: noop\n    on: [{ source: http }]\n    command: ["true"]\n`);
  const config = await loadConfig(configFile);
  const postedAt = new Map<string, number>();
  const latencies: number[] = [];
  let finished = 0;
  let onFinished: (() => void) | undefined;
  const onRunEvent = (event: RunEvent): void => {
    if (event.type === 'run.started') {
      const sent = postedAt.get(event.run.messageId);
      if (sent !== undefined) latencies.push(event.at - sent);
    } else if (event.type === 'run.finished') {
      finished++;
      onFinished?.();
    }
  };
  const jobwire = createJobwire({ config, dataDir: path.join(dir, 'data'), logger: createLogger('silent'), concurrency, onRunEvent });
  await jobwire.start();
  const url = `${await jobwire.listen(0, '127.0.0.1')}/v1/messages`;
  const now = (): number => performance.timeOrigin + performance.now();
  const post = async (id: string): Promise<void> => {
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"id":"${id}","body":{"n":1}}` });
    if (response.status !== 202) throw new Error(`POST answered ${response.status}: ${await response.text()}`);
    await response.arrayBuffer();
  };
  const waitFinished = (count: number): Promise<void> =>
    new Promise((resolve) => {
      onFinished = () => {
        if (finished >= count) resolve();
      };
      onFinished();
    });

  // Throughput.
  const begin = now();
  await postFromWorker(url, messages);
  await waitFinished(messages);
  const runsPerSecond = messages / ((now() - begin) / 1000);

  // Latency, at a pace the system keeps up with.
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    const id = `l-${i}`;
    postedAt.set(id, now());
    await post(id);
    await waitFinished(messages + i + 1);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await jobwire.stop();
  const sorted = latencies.sort((a, b) => a - b);
  const p50 = percentile(sorted, 50);
  const p99 = percentile(sorted, 99);

  rmSync(dir, { recursive: true, force: true });
  console.log(
    `http→spawn: ${runsPerSecond.toFixed(0)} runs/s vs raw node spawn ${raw.perSecond.toFixed(0)}/s = ${(runsPerSecond / raw.perSecond).toFixed(2)} of raw ` +
      `(target ≥ 0.7); POST→process start p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms (targets 5 / 25) ` +
      `[messages=${messages} concurrency=${concurrency} every run recorded in SQLite]`,
  );
}

if (isMainThread) await main();
else {
  const { url, count } = workerData as { url: string; count: number };
  await postAll(url, count);
}
