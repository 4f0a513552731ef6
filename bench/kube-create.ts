/**
 * Benchmark of the kubernetes executor's create path against the fake API server
 * (test/support/fake-kube), with the client-side rate limit off (qps 0). Three phases, each on a
 * fresh fake API server running in its own worker thread (its work — job controller, kubelet,
 * garbage collector — is not charged to jobwire's event loop, and no phase inherits another's
 * objects):
 *
 *   raw       a bare @kubernetes/client-node loop making the same API writes for N runs as jobwire
 *             (ConfigMap create, Job create, ConfigMap owner patch; the manifests jobwire builds),
 *             `concurrency` runs at a time: runs per second, the API server's limit as one naive
 *             client sees it;
 *   jobwire   a real in-process jobwire (SQLite store, dispatcher with `concurrency`, the config's
 *             kubernetes executor) takes N messages over HTTP from a load-generator thread and makes one Job
 *             per run (ConfigMap create, Job create, ConfigMap owner patch): runs per second, from
 *             the first POST until the N-th run is started (its Job created);
 *   overhead  messages posted one by one at a pace well under capacity: from the message's commit
 *             (the inbox telling the dispatcher runs were queued) to jobwire sending the run's
 *             first API request (the ConfigMap create: claim, spec and manifests — jobwire's own
 *             work alone) and to sending its Job create request (after the ConfigMap round trip),
 *             p50/p99. Sends are stamped with diagnostics_channel (http.client.request.start).
 *
 * Every Job gets ttlSecondsAfterFinished: 1, as clusters running many Jobs do, so the fake's
 * store stays the size of a busy cluster's rather than growing with the run count.
 *
 * Usage: node dist/bench/kube-create.js [messages=500] [concurrency=32]
 * The last line holds the figures.
 */
import diagnostics from 'node:diagnostics_channel';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { ClientRequest } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { BatchV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { createJobwire, type Jobwire } from '../src/app.js';
import { loadConfig } from '../src/config/load.js';
import type { KubernetesExecutorSettings } from '../src/config/types.js';
import { newId } from '../src/core/ids.js';
import { DEFAULT_MAX_OUTPUT_BYTES } from '../src/core/run.js';
import type { RunEvent } from '../src/dispatch/dispatcher.js';
import { buildRunManifests, ownerReferenceTo } from '../src/executors/kubernetes/manifests.js';
import { createLogger } from '../src/log.js';
import { startFakeKube } from '../test/support/fake-kube/server.js';

const messages = Number(process.argv[2] ?? 500);
const concurrency = Number(process.argv[3] ?? 32);
const LATENCY_SAMPLES = 200;
const HTTP_CLIENTS = 16;
const NAMESPACE = 'bench';
const TTL_SECONDS = 1;
const JOBS_PATH = `/apis/batch/v1/namespaces/${NAMESPACE}/jobs`;
const CONFIGMAPS_PATH = `/api/v1/namespaces/${NAMESPACE}/configmaps`;

type WorkerRole = { role: 'fake' } | { role: 'load'; url: string; count: number };

const wallClock = (): number => performance.timeOrigin + performance.now();

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

// ---- worker threads ----

async function fakeWorker(): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error('the fake worker needs a parent');
  const fake = await startFakeKube({ podScript: () => ({ kind: 'run', exitCode: 0, log: 'done\n', runMs: 1 }) });
  port.once('message', () => {
    void fake.close().then(() => port.close());
  });
  port.postMessage(fake.kubeconfigPath);
}

async function loadWorker(url: string, count: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: HTTP_CLIENTS }, async () => {
      while (next < count) {
        const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"id":"t-${next++}","body":{"n":1}}` });
        if (response.status !== 202) throw new Error(`POST answered ${response.status}: ${await response.text()}`);
        await response.arrayBuffer();
      }
    }),
  );
}

function startWorker(role: WorkerRole): Worker {
  return new Worker(new URL(import.meta.url), { workerData: role });
}

/** A fake API server in a worker thread, for the duration of `phase`. */
async function withFake<T>(phase: (kubeconfigPath: string) => Promise<T>): Promise<T> {
  const worker = startWorker({ role: 'fake' });
  try {
    const kubeconfigPath = await new Promise<string>((resolve, reject) => {
      worker.once('error', reject);
      worker.once('message', resolve);
    });
    return await phase(kubeconfigPath);
  } finally {
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    worker.postMessage('close');
    await exited;
  }
}

function postFromWorker(url: string, count: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const worker = startWorker({ role: 'load', url, count });
    worker.once('error', reject);
    worker.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`load worker exited with ${code}`))));
  });
}

// ---- phases ----

function settings(kubeconfigPath: string): KubernetesExecutorSettings {
  return {
    namespace: NAMESPACE,
    namespaces: [NAMESPACE],
    kubeconfig: kubeconfigPath,
    qps: 0,
    burst: 1,
    imagePullGraceMs: 60_000,
    unschedulableTimeoutMs: 300_000,
    workingDir: '/work',
    defaults: { ttlSecondsAfterFinished: TTL_SECONDS },
  };
}

/**
 * The raw limit: N runs' API writes with a bare client, `concurrency` runs at a time — the same
 * three writes jobwire makes per run (ConfigMap, Job, the ConfigMap's ownerReference), the same
 * manifests, nothing else (no store, no dispatcher, no watch, no retries).
 */
async function rawCreates(kubeconfigPath: string, count: number): Promise<number> {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfigPath);
  const batch = kubeConfig.makeApiClient(BatchV1Api);
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const spec = {
    job: 'raw',
    attempt: 1,
    messageId: 'm',
    source: 'http',
    correlationId: 'c',
    argv: ['sh', '-c', 'echo done'],
    env: { N: '1' },
    files: [],
    messageJson: '{"n":1}',
    image: 'busybox:1.36',
    secretEnv: [],
    runtime: {},
    retryLimit: 0,
    maxOutputBytes: DEFAULT_MAX_OUTPUT_BYTES,
  };
  const runs = Array.from({ length: count }, () => buildRunManifests({ ...spec, runId: newId() }, settings(kubeconfigPath), []));
  let next = 0;
  const begin = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let run = runs[next++]; run !== undefined; run = runs[next++]) {
        await core.createNamespacedConfigMap({ namespace: NAMESPACE, body: run.configMap });
        const job = await batch.createNamespacedJob({ namespace: NAMESPACE, body: run.job });
        const name = run.configMap.metadata?.name ?? '';
        await core.patchNamespacedConfigMap({ namespace: NAMESPACE, name, body: [{ op: 'add', path: '/metadata/ownerReferences', value: [ownerReferenceTo(job)] }] });
      }
    }),
  );
  return count / ((performance.now() - begin) / 1000);
}

interface BenchJobwire {
  readonly jobwire: Jobwire;
  readonly url: string;
  /** Wall-clock times runs were committed (one entry per commit). */
  readonly commits: number[];
  /** Resolves once `count` runs have started (their Job created) in all. */
  started(count: number): Promise<number>;
  /** Resolves once `count` runs have finished in all. */
  finished(count: number): Promise<void>;
  stop(): Promise<void>;
}

async function startJobwire(kubeconfigPath: string, queued: number): Promise<BenchJobwire> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jobwire-kube-bench-'));
  const configFile = path.join(dir, 'jobwire.yaml');
  writeFileSync(
    configFile,
    `dispatcher: { concurrency: ${concurrency}, maxQueuedRuns: ${queued + 10} }
executors:
  cluster: { type: kubernetes, namespace: ${NAMESPACE}, kubeconfig: ${JSON.stringify(kubeconfigPath)}, qps: 0, ttlSecondsAfterFinished: ${TTL_SECONDS} }
jobs:
  - name: create
    on: [{ source: http }]
    executor: cluster
    image: busybox:1.36
    command: ["sh", "-c", "echo done"]
`,
  );
  const config = await loadConfig(configFile);
  const counts = { started: 0, finished: 0, lastStartedAt: 0 };
  let waiters: (() => void)[] = [];
  const onRunEvent = (event: RunEvent): void => {
    if (event.type === 'run.started') {
      counts.started++;
      counts.lastStartedAt = wallClock();
    } else if (event.type === 'run.finished') counts.finished++;
    for (const waiter of waiters) waiter();
  };
  const until = (done: () => boolean): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => {
        if (!done()) return;
        waiters = waiters.filter((waiter) => waiter !== check);
        resolve();
      };
      waiters.push(check);
      check();
    });
  const jobwire = createJobwire({ config, dataDir: path.join(dir, 'data'), logger: createLogger('silent'), onRunEvent });
  // "Commit" = the inbox telling the dispatcher that runs were committed.
  const commits: number[] = [];
  const enqueued = jobwire.dispatcher.enqueued.bind(jobwire.dispatcher);
  jobwire.dispatcher.enqueued = (count: number): void => {
    commits.push(wallClock());
    enqueued(count);
  };
  await jobwire.start();
  const url = `${await jobwire.listen(0, '127.0.0.1')}/v1/messages`;
  return {
    jobwire,
    url,
    commits,
    async started(count) {
      await until(() => counts.started >= count);
      return counts.lastStartedAt;
    },
    finished: (count) => until(() => counts.finished >= count),
    async stop() {
      await jobwire.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function throughput(kubeconfigPath: string): Promise<number> {
  const bench = await startJobwire(kubeconfigPath, messages);
  try {
    const begin = wallClock();
    await postFromWorker(bench.url, messages);
    const lastStarted = await bench.started(messages);
    await bench.finished(messages);
    return messages / ((lastStarted - begin) / 1000);
  } finally {
    await bench.stop();
  }
}

async function overhead(kubeconfigPath: string): Promise<{ toFirstRequest: number[]; toJobCreate: number[] }> {
  const bench = await startJobwire(kubeconfigPath, LATENCY_SAMPLES);
  const sent = { configMaps: [] as number[], jobs: [] as number[] };
  const onRequest = (message: unknown): void => {
    const { request } = message as { request: ClientRequest };
    if (request.method !== 'POST') return;
    if (request.path.split('?')[0] === CONFIGMAPS_PATH) sent.configMaps.push(wallClock());
    else if (request.path.split('?')[0] === JOBS_PATH) sent.jobs.push(wallClock());
  };
  diagnostics.subscribe('http.client.request.start', onRequest);
  const toFirstRequest: number[] = [];
  const toJobCreate: number[] = [];
  try {
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      const response = await fetch(bench.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"id":"l-${i}","body":{"n":1}}` });
      if (response.status !== 202) throw new Error(`POST answered ${response.status}`);
      await response.arrayBuffer();
      await bench.started(i + 1);
      const [committedAt, configMapAt, jobAt] = [bench.commits[i], sent.configMaps[i], sent.jobs[i]];
      if (committedAt === undefined || configMapAt === undefined || jobAt === undefined) throw new Error(`sample ${i} is incomplete`);
      toFirstRequest.push(configMapAt - committedAt);
      toJobCreate.push(jobAt - committedAt);
      await bench.finished(i + 1);
    }
  } finally {
    diagnostics.unsubscribe('http.client.request.start', onRequest);
    await bench.stop();
  }
  return { toFirstRequest, toJobCreate };
}

async function main(): Promise<void> {
  const raw = await withFake(async (kubeconfigPath) => {
    await rawCreates(kubeconfigPath, 50);
    return rawCreates(kubeconfigPath, messages);
  });
  const runsPerSecond = await withFake(throughput);
  const { toFirstRequest, toJobCreate } = await withFake(overhead);
  const first = toFirstRequest.sort((a, b) => a - b);
  const job = toJobCreate.sort((a, b) => a - b);
  console.log(
    `kube create: jobwire ${runsPerSecond.toFixed(0)} runs/s vs raw client-node ${raw.toFixed(0)} runs/s (same 3 API writes per run) = ` +
      `${(runsPerSecond / raw).toFixed(2)} of raw; commit→first API request p50 ${percentile(first, 50).toFixed(2)} ms, p99 ${percentile(first, 99).toFixed(2)} ms; ` +
      `commit→Job create request p50 ${percentile(job, 50).toFixed(2)} ms, p99 ${percentile(job, 99).toFixed(2)} ms ` +
      `[messages=${messages} concurrency=${concurrency} qps=0, fake API server in a worker thread]`,
  );
}

if (isMainThread) await main();
else {
  const role = workerData as WorkerRole;
  if (role.role === 'fake') await fakeWorker();
  else await loadWorker(role.url, role.count);
}
