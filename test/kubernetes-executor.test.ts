/**
 * The kubernetes executor against the in-process fake API server: real HTTP, the real
 * @kubernetes/client-node, the real watch protocol; faults injected on the server side.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { PermanentError, RetryableError } from '../src/core/errors.js';
import { LABEL } from '../src/executors/kubernetes/labels.js';
import { eventually } from './support/eventually.js';
import { startHarness, type Harness } from './support/harness.js';
import { startFakeKube } from './support/fake-kube/server.js';
import type { FakeKube, KubeObject, PodScript } from './support/fake-kube/types.js';
import { CONFIGMAPS_PATH, createdJob, ExecutorPool, exited, failedWith, JOBS_PATH, jobContainer, kubeSpec, NAMESPACE, requestsTo, runRecord } from './support/kube-runs.js';

let fake: FakeKube;
const pool = new ExecutorPool();
const filesDir = mkdtempSync(path.join(tmpdir(), 'jobwire-kube-files-'));

/** Pod behaviour chosen per Job by its `jobwire.dev/job` label; default: print and exit 0. */
const scripts = new Map<string, PodScript>();
function scriptFor(job: KubeObject): PodScript {
  const name = job.metadata.labels?.[LABEL.job] ?? '';
  return scripts.get(name) ?? { kind: 'run', exitCode: 0, log: `hello from ${job.metadata.name}\n`, runMs: 20 };
}

before(async () => {
  fake = await startFakeKube({ podScript: scriptFor });
});

after(async () => {
  await pool.closeAll();
  await fake.close();
  rmSync(filesDir, { recursive: true, force: true });
});

beforeEach(() => {
  scripts.clear();
});

afterEach(async () => {
  await pool.closeAll();
});

function jobsOf(job: string): KubeObject[] {
  return fake.jobs(NAMESPACE).filter((object) => object.metadata.labels?.[LABEL.job] === job);
}

describe('kubernetes executor: runs', () => {
  it('runs a Job whose pod exits 0 and returns its log', async () => {
    const executor = pool.create(fake);
    const spec = kubeSpec({ job: 'hello' });
    const attempt = await executor.start(spec);
    assert.match(attempt.handle, new RegExp(`^${NAMESPACE}/hello-[a-z0-9]{10}$`));
    const result = exited(await attempt.done);
    assert.equal(result.exitCode, 0);
    assert.match(result.text, /hello from hello-/);
    const created = requestsTo(fake, 'POST', JOBS_PATH).map((request) => request.body as KubeObject);
    const mine = created.find((body) => body.metadata.labels?.[LABEL.runId] === spec.runId);
    assert.ok(mine, 'the Job create request carries the run-id label');
    assert.equal((mine['spec'] as { backoffLimit: number }).backoffLimit, 0);
  });

  it('lets Kubernetes retry: exit 3 with retryLimit 2 → 3 pods, exit code 3, the log names the pods', async () => {
    scripts.set('flaky', { kind: 'run', exitCode: 3, log: 'boom\n', runMs: 10 });
    const executor = pool.create(fake);
    assert.equal(executor.retriesInRuntime, true);
    const spec = kubeSpec({ job: 'flaky', retryLimit: 2 });
    const attempt = await executor.start(spec);
    const result = exited(await attempt.done);
    assert.equal(result.exitCode, 3);
    const name = attempt.handle.split('/')[1] ?? '';
    const pods = fake.pods(NAMESPACE).filter((pod) => pod.metadata.labels?.[LABEL.runId] === spec.runId);
    assert.equal(pods.length, 3);
    assert.match(result.text, /\(3 of 3\)/);
    for (const pod of pods) assert.ok(result.text.includes(pod.metadata.name), `the log names pod ${pod.metadata.name}`);
    assert.match(result.text, /boom/);
    assert.match(result.text, /BackoffLimitExceeded/);
    assert.ok(name.startsWith('flaky-'));
  });

  it('keeps a long log bounded: head and tail, read with limitBytes and tailLines', async () => {
    const lines = Array.from({ length: 5000 }, (_, i) => `line ${i} ${'x'.repeat(20)}\n`).join('');
    scripts.set('chatty', { kind: 'run', exitCode: 0, log: lines, runMs: 10 });
    const executor = pool.create(fake, { maxLogBytes: 4096 });
    const attempt = await executor.start(kubeSpec({ job: 'chatty' }));
    const result = exited(await attempt.done);
    assert.ok(result.text.startsWith('line 0 '), result.text.slice(0, 100));
    assert.ok(result.text.endsWith(`line 4999 ${'x'.repeat(20)}\n`), result.text.slice(-100));
    assert.match(result.text, /bytes dropped/);
    assert.ok(Buffer.byteLength(result.text) < 4096 + 200, `${Buffer.byteLength(result.text)} bytes kept`);
    const [, name = ''] = attempt.handle.split('/');
    const reads = fake.requests.filter((request) => request.method === 'GET' && request.path.startsWith(`/api/v1/namespaces/${NAMESPACE}/pods/${name}`) && request.path.endsWith('/log'));
    assert.ok(reads.length >= 2, 'head and tail were read');
    for (const read of reads) assert.ok(read.query['limitBytes'] !== undefined, 'every log read is bounded');
    assert.ok(reads.some((read) => read.query['tailLines'] !== undefined));
  });

  it('keeps hostile message values literal in the Job it creates', async () => {
    const executor = pool.create(fake);
    const hostile = '$(HOME) `id` ; rm -rf / $$ "quoted" \'single\' ${PATH}\nsecond line';
    const spec = kubeSpec({ job: 'hostile', env: { FROM_MESSAGE: hostile } });
    const attempt = await executor.start(spec);
    exited(await attempt.done);
    const body = createdJob(fake, spec.runId);
    const container = jobContainer(body);
    const entry = container.env?.find((env) => env.name === 'FROM_MESSAGE');
    // `$(` and `$$` doubled against the kubelet's expansion; everything else exactly as sent.
    assert.equal(entry?.value, '$$(HOME) `id` ; rm -rf / $$$ "quoted" \'single\' ${PATH}\nsecond line');
    assert.deepEqual(container.command, ['sh', '-c', 'echo hello']);
  });

  it('passes secrets as secretKeyRef, never as values', async () => {
    scripts.set('secretive', { kind: 'hang' });
    const executor = pool.create(fake);
    const spec = kubeSpec({ job: 'secretive', secretEnv: [{ name: 'TOKEN', secret: 'deploy-token', key: 'token' }] });
    const attempt = await executor.start(spec);
    const body = createdJob(fake, spec.runId);
    const entry = jobContainer(body).env?.find((env) => env.name === 'TOKEN');
    assert.deepEqual(entry, { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'deploy-token', key: 'token' } } });
    attempt.stop('cancel');
    await attempt.done;
  });

  it('delivers files in a ConfigMap owned by the Job', async () => {
    const file = path.join(filesDir, 'report.py');
    writeFileSync(file, 'print("report")\n');
    const executor = pool.create(fake);
    const spec = kubeSpec({ job: 'files', files: [{ path: 'scripts/report.py', from: file }] });
    const attempt = await executor.start(spec);
    exited(await attempt.done);
    const name = attempt.handle.split('/')[1] ?? '';
    const configMap = fake.configMaps(NAMESPACE).find((object) => object.metadata.name === name);
    const job = fake.jobs(NAMESPACE).find((object) => object.metadata.name === name);
    assert.ok(configMap && job, 'the ConfigMap and the Job exist');
    assert.deepEqual(configMap.metadata.ownerReferences?.map((reference) => (reference as { uid: string }).uid), [job.metadata.uid]);
    assert.ok(Object.values(configMap['data'] as Record<string, string>).includes('print("report")\n'));
    // The ConfigMap was created before the Job, and made the Job's afterwards.
    const order = fake.requests
      .filter((request) => request.method !== 'GET' && (request.path.endsWith(`/${name}`) || (request.body as KubeObject | undefined)?.metadata?.name === name))
      .map((request) => `${request.method} ${request.path.includes('configmaps') ? 'configmap' : 'job'}`);
    assert.deepEqual(order, ['POST configmap', 'POST job', 'PATCH configmap']);
  });
});

describe('kubernetes executor: outputs through the termination message', () => {
  const TERMINATION_LOG = '/dev/termination-log';

  it('points JOBWIRE_OUTPUT at the container\'s terminationMessagePath (policy File) and reports the JSON object written there', async () => {
    scripts.set('reporter', { kind: 'run', exitCode: 0, log: 'reporting\n', runMs: 10, writes: { [TERMINATION_LOG]: '{"report":"https://example.test/r/1","failures":0}\n' } });
    const executor = pool.create(fake);
    const spec = kubeSpec({ job: 'reporter' });
    const result = await (await executor.start(spec)).done;
    assert.equal(exited(result).exitCode, 0);
    assert.deepEqual(result.output, { kind: 'json', value: { report: 'https://example.test/r/1', failures: 0 } });
    const container = jobContainer(createdJob(fake, spec.runId)) as ReturnType<typeof jobContainer> & { terminationMessagePath?: string; terminationMessagePolicy?: string };
    assert.equal(container.env?.find((entry) => entry.name === 'JOBWIRE_OUTPUT')?.value, TERMINATION_LOG);
    assert.equal(container.terminationMessagePath, TERMINATION_LOG);
    assert.equal(container.terminationMessagePolicy, 'File');
  });

  it('reports no output for a failed pod that wrote none: its log tail is never taken for an output', async () => {
    scripts.set('quiet-failure', { kind: 'run', exitCode: 5, log: '{"looks":"like json"}\n', runMs: 10 });
    const result = await (await pool.create(fake).start(kubeSpec({ job: 'quiet-failure' }))).done;
    assert.equal(exited(result).exitCode, 5);
    assert.deepEqual(result.output, { kind: 'none' });
  });

  it('reports an output the kubelet cut at 4096 bytes as invalid, saying so', async () => {
    const big = JSON.stringify({ data: 'x'.repeat(5000) });
    scripts.set('cut-output', { kind: 'run', exitCode: 0, log: '', runMs: 10, writes: { [TERMINATION_LOG]: big } });
    const result = await (await pool.create(fake).start(kubeSpec({ job: 'cut-output' }))).done;
    assert.deepEqual(result.output, {
      kind: 'invalid',
      error: 'output was cut by the kubelet: Kubernetes keeps only the last 4096 bytes of a termination message, so on Kubernetes an output may be at most 4096 bytes',
    });
  });

  it('applies limits.maxOutputSize below Kubernetes\' cap, and reports JSON that is not an object as invalid', async () => {
    scripts.set('over-limit', { kind: 'run', exitCode: 0, log: '', runMs: 10, writes: { [TERMINATION_LOG]: '{"a":"0123456789"}' } });
    scripts.set('array', { kind: 'run', exitCode: 1, log: '', runMs: 10, writes: { [TERMINATION_LOG]: '[1,2,3]' } });
    const executor = pool.create(fake);
    const [overLimit, array] = await Promise.all([
      executor.start(kubeSpec({ job: 'over-limit', maxOutputBytes: 10 })).then((attempt) => attempt.done),
      executor.start(kubeSpec({ job: 'array' })).then((attempt) => attempt.done),
    ]);
    assert.deepEqual(overLimit.output, { kind: 'invalid', error: 'output is 18 bytes, over limits.maxOutputSize 10' });
    assert.deepEqual(array.output, { kind: 'invalid', error: 'output must be a JSON object, got array' });
  });
});

describe('kubernetes executor: cluster config', () => {
  it('uses the kubeconfig and context from the settings, and names the known contexts when the context is unknown', () => {
    const executor = pool.create(fake, { settings: { context: 'fake-kube' } });
    assert.match(executor.status().cluster, new RegExp(`context fake-kube.*${fake.url.replace(/[.]/g, '\\.')}`));
    assert.throws(
      () => pool.create(fake, { settings: { context: 'prod' } }),
      (error: Error) => error instanceof PermanentError && /context "prod".*known contexts: fake-kube/.test(error.message),
    );
    assert.throws(
      () => pool.create(fake, { settings: { kubeconfig: path.join(filesDir, 'missing-kubeconfig') } }),
      (error: Error) => error instanceof PermanentError && /cannot load the Kubernetes configuration/.test(error.message),
    );
  });
});

describe('kubernetes executor: API failures', () => {
  it('takes the Job created by a request whose reply was lost (500 after applying, then 409)', async () => {
    const executor = pool.create(fake);
    fake.injectFault({ method: 'POST', path: JOBS_PATH, status: 500, afterApplying: true });
    const spec = kubeSpec({ job: 'lost-reply' });
    const attempt = await executor.start(spec);
    exited(await attempt.done);
    assert.equal(jobsOf('lost-reply').length, 1);
    const creates = requestsTo(fake, 'POST', JOBS_PATH).filter((request) => (request.body as KubeObject).metadata.labels?.[LABEL.runId] === spec.runId);
    assert.equal(creates.length, 2, 'created once, retried once (answered 409)');
  });

  it('honours 429 Retry-After', async () => {
    const executor = pool.create(fake);
    fake.injectFault({ method: 'POST', path: JOBS_PATH, status: 429, headers: { 'retry-after': '1' } });
    const spec = kubeSpec({ job: 'throttled' });
    const attempt = await executor.start(spec);
    exited(await attempt.done);
    const creates = requestsTo(fake, 'POST', JOBS_PATH).filter((request) => (request.body as KubeObject).metadata.labels?.[LABEL.runId] === spec.runId);
    assert.equal(creates.length, 2);
    const [first, second] = creates;
    assert.ok(first && second && second.at - first.at >= 1000, 'the retry waited for Retry-After (1 s)');
  });

  it('retries 500s, and gives up with a RetryableError when they do not stop', async () => {
    const executor = pool.create(fake, { apiRetry: { attempts: 4, initialDelayMs: 10, maxDelayMs: 50 } });
    fake.injectFault({ method: 'POST', path: JOBS_PATH, status: 500, times: 2 });
    const attempt = await executor.start(kubeSpec({ job: 'flaky-api' }));
    exited(await attempt.done);
    assert.equal(jobsOf('flaky-api').length, 1);

    fake.injectFault({ method: 'POST', path: CONFIGMAPS_PATH, status: 503, times: 4 });
    await assert.rejects(executor.start(kubeSpec({ job: 'down-api' })), (error: Error) => {
      assert.ok(error instanceof RetryableError, `${error.name}: ${error.message}`);
      assert.match(error.message, /503/);
      return true;
    });
    assert.equal(jobsOf('down-api').length, 0);
  });

  it('fails runs that cannot work with a PermanentError naming the problem (403, 422, files too large)', async () => {
    const executor = pool.create(fake);
    fake.injectFault({ method: 'POST', path: JOBS_PATH, status: 403 });
    await assert.rejects(executor.start(kubeSpec({ job: 'forbidden' })), (error: Error) => {
      assert.ok(error instanceof PermanentError, `${error.name}: ${error.message}`);
      assert.match(error.message, /403/);
      assert.match(error.message, /service account/);
      return true;
    });
    fake.injectFault({ method: 'POST', path: JOBS_PATH, status: 422, message: 'Job.batch "x" is invalid: spec.template.spec.containers[0].image: Required value' });
    await assert.rejects(executor.start(kubeSpec({ job: 'invalid' })), (error: Error) => error instanceof PermanentError && /rejected.*Required value/.test(error.message));
    const huge = path.join(filesDir, 'huge.bin');
    writeFileSync(huge, Buffer.alloc(1100 * 1024, 'a'));
    await assert.rejects(
      executor.start(kubeSpec({ job: 'huge', files: [{ path: 'huge.bin', from: huge }] })),
      (error: Error) => error instanceof PermanentError && /do not fit in a ConfigMap/.test(error.message),
    );
    assert.equal(jobsOf('forbidden').length + jobsOf('invalid').length + jobsOf('huge').length, 0);
    // The ConfigMaps made before the refused Job creates are removed again.
    await eventually('no ConfigMap left', () => (fake.configMaps(NAMESPACE).some((object) => /^(forbidden|invalid)-/.test(object.metadata.name)) ? undefined : true));
  });
});

describe('kubernetes executor: watches', () => {
  it('lists again after 410 Gone and still sees the run finish', async () => {
    scripts.set('expiring', { kind: 'run', exitCode: 0, log: 'done\n', runMs: 600 });
    const executor = pool.create(fake);
    const attempt = await executor.start(kubeSpec({ job: 'expiring' }));
    await eventually('watching', () => (executor.status().watches.every((watch) => watch.status.state === 'watching') ? true : undefined));
    const listsBefore = requestsTo(fake, 'GET', JOBS_PATH).filter((request) => request.query['watch'] === undefined).length;
    fake.expireWatches();
    const result = exited(await attempt.done);
    assert.match(result.text, /done/);
    const listsAfter = requestsTo(fake, 'GET', JOBS_PATH).filter((request) => request.query['watch'] === undefined).length;
    assert.ok(listsAfter > listsBefore, 'the Jobs were listed again');
  });

  it('reconnects a watch stream cut mid-way and still sees the run finish', async () => {
    scripts.set('cut', { kind: 'run', exitCode: 0, log: 'after the cut\n', runMs: 600 });
    const executor = pool.create(fake);
    const attempt = await executor.start(kubeSpec({ job: 'cut' }));
    await eventually('watching', () => (executor.status().watches.every((watch) => watch.status.state === 'watching') ? true : undefined));
    const watchesBefore = requestsTo(fake, 'GET', JOBS_PATH).filter((request) => request.query['watch'] === 'true').length;
    fake.cutWatches();
    const result = exited(await attempt.done);
    assert.match(result.text, /after the cut/);
    const watchesAfter = requestsTo(fake, 'GET', JOBS_PATH).filter((request) => request.query['watch'] === 'true').length;
    assert.ok(watchesAfter > watchesBefore, 'the watch was opened again');
  });
});

describe('kubernetes executor: pods that cannot start', () => {
  it('fails fast on ImagePullBackOff, with the reason, and deletes the Job', async () => {
    scripts.set('no-image', { kind: 'imagePullBackOff' });
    const executor = pool.create(fake, { settings: { imagePullGraceMs: 200 } });
    const attempt = await executor.start(kubeSpec({ job: 'no-image', image: 'registry.example/nope:1' }));
    const error = failedWith(await attempt.done, PermanentError);
    assert.match(error.message, /ImagePullBackOff|ErrImagePull/);
    await eventually('the Job deleted', () => (jobsOf('no-image').length === 0 ? true : undefined));
  });

  it('fails on CreateContainerConfigError with the kubelet message', async () => {
    scripts.set('bad-config', { kind: 'createContainerConfigError', message: 'secret "deploy-token" not found' });
    const executor = pool.create(fake);
    const attempt = await executor.start(kubeSpec({ job: 'bad-config' }));
    const error = failedWith(await attempt.done, PermanentError);
    assert.match(error.message, /CreateContainerConfigError/);
    assert.match(error.message, /secret "deploy-token" not found/);
  });

  it('fails a pod unschedulable past the wait', async () => {
    scripts.set('too-big', { kind: 'unschedulable', message: '0/3 nodes are available: 3 Insufficient memory.' });
    const executor = pool.create(fake, { settings: { unschedulableTimeoutMs: 300 } });
    const attempt = await executor.start(kubeSpec({ job: 'too-big' }));
    const error = failedWith(await attempt.done, PermanentError);
    assert.match(error.message, /could not be scheduled/);
    assert.match(error.message, /Insufficient memory/);
    await eventually('the Job deleted', () => (jobsOf('too-big').length === 0 ? true : undefined));
  });

  it('fails a run whose Job was deleted behind its back', async () => {
    scripts.set('deleted', { kind: 'hang', log: 'working\n' });
    const executor = pool.create(fake);
    const attempt = await executor.start(kubeSpec({ job: 'deleted' }));
    const [namespace = '', name = ''] = attempt.handle.split('/');
    fake.deleteJobBehindBack(namespace, name);
    const error = failedWith(await attempt.done, PermanentError);
    assert.match(error.message, /deleted outside jobwire/);
  });
});

describe('kubernetes executor: stop and recovery', () => {
  it('stop("cancel") deletes the Job with background propagation and resolves stopped', async () => {
    scripts.set('long', { kind: 'hang', log: 'still going\n' });
    const executor = pool.create(fake);
    const attempt = await executor.start(kubeSpec({ job: 'long' }));
    const [, name = ''] = attempt.handle.split('/');
    await eventually('the pod running', () => (fake.pods(NAMESPACE).some((pod) => pod.metadata.name.startsWith(name) && (pod['status'] as { phase?: string }).phase === 'Running') ? true : undefined));
    const live = await eventually('the live log', async () => {
      const log = await attempt.readLog();
      return log.text.includes('still going') ? log : undefined;
    });
    assert.equal(live.droppedBytes, 0);
    attempt.stop('cancel');
    attempt.stop('cancel');
    const result = await attempt.done;
    assert.equal(result.kind, 'stopped');
    assert.match(result.log.text, /still going/);
    const deletes = requestsTo(fake, 'DELETE', new RegExp(`/jobs/${name}$`));
    assert.equal(deletes.length, 1, 'one DELETE, however often stop was called');
    const propagation = (deletes[0]?.body as { propagationPolicy?: string } | undefined)?.propagationPolicy ?? deletes[0]?.query['propagationPolicy'];
    assert.equal(propagation, 'Background');
    assert.equal(jobsOf('long').length, 0);
  });

  it('adopts a running Job after a restart, and reports a run without a Job as lost', async () => {
    scripts.set('survivor', { kind: 'run', exitCode: 4, log: 'outlived jobwire\n', runMs: 1500, writes: { '/dev/termination-log': '{"survived":true}' } });
    const first = pool.create(fake);
    const spec = kubeSpec({ job: 'survivor' });
    const attempt = await first.start(spec);
    await first.close();

    const second = pool.create(fake);
    const run = runRecord(spec.runId, 'survivor', attempt.handle);
    const recovered = await second.recover(run);
    assert.equal(recovered.kind, 'adopted');
    assert.ok(recovered.kind === 'adopted');
    assert.equal(recovered.attempt.handle, attempt.handle);
    const done = await recovered.attempt.done;
    const result = exited(done);
    assert.equal(result.exitCode, 4);
    assert.match(result.text, /outlived jobwire/);
    assert.deepEqual(done.output, { kind: 'json', value: { survived: true } });

    // Same again without a handle (jobwire died between create and markRunning): found by label.
    const third = pool.create(fake);
    const again = await third.recover({ ...run, handle: null });
    assert.equal(again.kind, 'adopted');
    assert.ok(again.kind === 'adopted');
    const finished = await again.attempt.done;
    assert.equal(exited(finished).exitCode, 4, 'a finished Job is adopted with its result');
    assert.deepEqual(finished.output, { kind: 'json', value: { survived: true } }, 'and its output, read from the pod status');

    const lost = await third.recover(runRecord('01jzzzzzzzzzzzzzzzzzzzzzzz', 'gone', `${NAMESPACE}/gone-zzzzzzzzzz`));
    assert.deepEqual(lost, { kind: 'lost', reason: `Kubernetes Job ${NAMESPACE}/gone-zzzzzzzzzz no longer exists` });
  });
});

describe('kubernetes executor: rate limit', () => {
  it('with qps 5 and burst 5, every request after the first 5 waits for its token', async () => {
    scripts.set('limited', { kind: 'hang' });
    const executor = pool.create(fake, { settings: { qps: 5, burst: 5 } });
    const specs = Array.from({ length: 20 }, () => kubeSpec({ job: 'limited' }));
    const startedAt = Date.now();
    await Promise.all(specs.map((spec) => executor.start(spec)));
    const { acquired, waited } = executor.status().rateLimiter;
    // 20 × (ConfigMap, Job, owner patch); the watches and their lists do not queue for tokens.
    assert.equal(acquired, 60);
    assert.equal(waited, 55);
    const runIds = new Set(specs.map((spec) => spec.runId));
    const creates = requestsTo(fake, 'POST', JOBS_PATH).filter((request) => runIds.has((request.body as KubeObject).metadata.labels?.[LABEL.runId] ?? ''));
    assert.equal(creates.length, 20);
    // A token bucket is never faster than its rate: when the last Job create was sent, at least
    // 40 tokens (20 ConfigMaps, 20 Jobs) had been taken, 5 from the burst and 35 at 5 a second.
    const last = Math.max(...creates.map((request) => request.at));
    assert.ok(last - startedAt >= 0.95 * ((40 - 5) / 5) * 1000, `the last create came ${last - startedAt} ms after the first start`);
    // Closing leaves the Jobs running (no 20 more rate-limited deletes needed to end the test).
    await executor.close();
  });
});

describe('kubernetes executor: end to end through jobwire', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  const config = (extra = ''): string => `executors:
  cluster: { type: kubernetes, namespace: ${NAMESPACE}, kubeconfig: ${JSON.stringify(fake.kubeconfigPath)}, qps: 0${extra} }
jobs:
  - name: greet
    on: [{ source: http, topic: greet }]
    executor: cluster
    image: busybox:1.36
    retries: 2
    env:
      GREETING: \${{ message.body.greeting }}
    command: ["sh", "-c", "echo \\"$GREETING\\""]
`;

  it('a message becomes a Job; the run records its exit code, handle and log', async () => {
    scripts.set('greet', { kind: 'run', exitCode: 0, log: 'hello, cluster\n', runMs: 20 });
    h = await startHarness(config());
    const posted = await h.post('/v1/messages', { id: 'greet-1', topic: 'greet', body: { greeting: '$(HOME) hello' } });
    assert.equal(posted.status, 202);
    const run = await h.waitForRun(posted.json.runs[0].id);
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
    assert.equal(run.exitCode, 0);
    assert.match(run.handle, new RegExp(`^${NAMESPACE}/greet-[a-z0-9]{10}$`));
    const logs = await h.get(`/v1/runs/${run.id}/logs?format=text`);
    assert.match(logs.text, /hello, cluster/);
    const body = createdJob(fake, run.id);
    assert.equal((body['spec'] as { backoffLimit: number }).backoffLimit, 2);
    assert.equal(jobContainer(body).env?.find((env) => env.name === 'GREETING')?.value, '$$(HOME) hello');
    const executors = await h.get('/v1/executors');
    const cluster = executors.json.executors.find((executor: { name: string }) => executor.name === 'cluster');
    assert.equal(cluster.type, 'kubernetes');
    assert.deepEqual(
      cluster.status.watches.map((watch: { namespace: string; resource: string }) => `${watch.namespace}/${watch.resource}`).sort(),
      [`${NAMESPACE}/jobs`, `${NAMESPACE}/pods`],
    );
    assert.ok(executors.json.executors.some((executor: { name: string; status?: unknown }) => executor.name === 'process' && executor.status === undefined));
  });

  it('Kubernetes retries, not the dispatcher: one attempt, the last pod\'s exit code', async () => {
    scripts.set('greet', { kind: 'run', exitCode: 7, log: 'nope\n', runMs: 10 });
    h = await startHarness(config());
    const posted = await h.post('/v1/messages', { id: 'greet-2', topic: 'greet', body: { greeting: 'x' } });
    const run = await h.waitForRun(posted.json.runs[0].id);
    assert.equal(run.status, 'failed');
    assert.equal(run.exitCode, 7);
    assert.equal(run.attempts, 1);
    assert.equal(fake.pods(NAMESPACE).filter((pod) => pod.metadata.labels?.[LABEL.runId] === run.id).length, 3);
  });

  it('a shutdown leaves the Job running and the next start adopts it', async () => {
    scripts.set('greet', { kind: 'run', exitCode: 0, log: 'outlived a restart\n', runMs: 2500 });
    // A short grace: were the Job stopped at shutdown like a local process, it would be now.
    const yaml = `dispatcher: { shutdownGrace: 100ms }\n${config()}`;
    const dataDir = mkdtempSync(path.join(tmpdir(), 'jobwire-kube-restart-'));
    try {
      h = await startHarness(yaml, { dataDir });
      const posted = await h.post('/v1/messages', { id: 'greet-3', topic: 'greet', body: { greeting: 'x' } });
      const runId: string = posted.json.runs[0].id;
      await h.waitForRun(runId, ['running']);
      await h.close();
      h = undefined;
      const [job] = fake.jobs(NAMESPACE).filter((candidate) => candidate.metadata.labels?.[LABEL.runId] === runId);
      assert.ok(job !== undefined, 'the Job was deleted by the shutdown');
      assert.equal(requestsTo(fake, 'DELETE', new RegExp(`/jobs/${job.metadata.name}$`)).length, 0);

      h = await startHarness(yaml, { dataDir });
      const run = await h.waitForRun(runId);
      assert.equal(run.status, 'succeeded', JSON.stringify(run));
      assert.equal(run.attempts, 1);
      const logs = await h.get(`/v1/runs/${runId}/logs?format=text`);
      assert.match(logs.text, /outlived a restart/);
    } finally {
      await h?.close();
      h = undefined;
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
