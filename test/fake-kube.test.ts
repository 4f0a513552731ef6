/**
 * Protocol tests of the fake Kubernetes API server (test/support/fake-kube), driven by the real
 * client library jobwire uses, @kubernetes/client-node: if the client reads what the fake writes
 * (objects, Status errors, watch streams, logs, headers) the Kubernetes executor's tests against
 * the fake mean something.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import { Log, PatchStrategy, makeInformer, setHeaderOptions, type BatchV1Api, type CoreV1Api, type KubeConfig, type V1ConfigMap, type V1Job, type V1Pod } from '@kubernetes/client-node';
import { eventually } from './support/eventually.js';
import { apiFailure as apiError, collectWatch as watch, kubeClients, type WatchedEvent } from './support/fake-kube/client.js';
import { startFakeKube } from './support/fake-kube/server.js';
import { ObjectStore, type DraftObject } from './support/fake-kube/store.js';
import type { FakeKube, FakeKubeOptions, KubeObject, PodScript } from './support/fake-kube/types.js';

const ns = 'jobs';

interface Clients {
  readonly kube: FakeKube;
  readonly kc: KubeConfig;
  readonly batch: BatchV1Api;
  readonly core: CoreV1Api;
}

async function start(t: TestContext, options?: FakeKubeOptions): Promise<Clients> {
  const kube = await startFakeKube(options);
  t.after(() => kube.close());
  return { kube, ...kubeClients(kube) };
}

function job(name: string, spec: Partial<NonNullable<V1Job['spec']>> = {}, podSpec: Partial<NonNullable<V1Pod['spec']>> = {}): V1Job {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, labels: { app: 'jobwire', 'jobwire.dev/run': name } },
    spec: {
      template: { metadata: { labels: { app: 'jobwire' } }, spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox:1.36', command: ['sh', '-c', 'echo hi'] }], ...podSpec } },
      ...spec,
    },
  };
}

/** Scripts by Job name, for tests that run several Jobs with different fates. */
function scripts(byName: Record<string, PodScript>, fallback: PodScript = { kind: 'run', exitCode: 0, log: '' }): (job: KubeObject) => PodScript {
  return (owner) => byName[owner.metadata.name] ?? fallback;
}

async function finished(clients: Clients, name: string): Promise<V1Job> {
  return eventually(`job ${name} to finish`, async () => {
    const current = await clients.batch.readNamespacedJob({ name, namespace: ns });
    const done = current.status?.conditions?.some((condition) => (condition.type === 'Complete' || condition.type === 'Failed') && condition.status === 'True');
    return done === true ? current : undefined;
  });
}

async function podsOf(clients: Clients, jobName: string): Promise<V1Pod[]> {
  return (await clients.core.listNamespacedPod({ namespace: ns, labelSelector: `job-name=${jobName}` })).items;
}

async function onePod(clients: Clients, jobName: string, ready: (pod: V1Pod) => boolean, what: string): Promise<V1Pod> {
  return eventually(what, async () => (await podsOf(clients, jobName)).find(ready));
}

function phaseOf(event: WatchedEvent): unknown {
  const status = event.object['status'];
  return typeof status === 'object' && status !== null && 'phase' in status ? status.phase : undefined;
}

function names(events: readonly WatchedEvent[]): string[] {
  return events.map((event) => `${event.type} ${event.object.metadata?.name ?? ''}`);
}

describe('fake kube: objects and errors', () => {
  it('creates, gets and lists with label and field selectors, with a global resourceVersion', async (t) => {
    const clients = await start(t);
    const { core, batch } = clients;
    const made: V1ConfigMap[] = [];
    for (const [name, labels] of [
      ['a', { team: 'red', tier: 'web' }],
      ['b', { team: 'blue' }],
      ['c', { team: 'green', tier: 'db' }],
    ] as const) {
      made.push(await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name, labels }, data: { key: name } } }));
    }
    const versions = made.map((configMap) => Number(configMap.metadata?.resourceVersion));
    assert.ok(versions.every((version, index) => index === 0 || version > (versions[index - 1] ?? 0)), `increasing: ${versions.join(',')}`);
    assert.match(made[0]?.metadata?.uid ?? '', /^[0-9a-f-]{36}$/);
    assert.ok(made[0]?.metadata?.creationTimestamp instanceof Date);

    const got = await core.readNamespacedConfigMap({ name: 'b', namespace: ns });
    assert.deepEqual(got.data, { key: 'b' });
    const list = async (labelSelector?: string, fieldSelector?: string): Promise<string[]> =>
      (await core.listNamespacedConfigMap({ namespace: ns, labelSelector, fieldSelector })).items.map((item) => item.metadata?.name ?? '?');
    assert.deepEqual(await list('team=red'), ['a']);
    assert.deepEqual(await list('team==blue'), ['b']);
    assert.deepEqual(await list('team!=red'), ['b', 'c']);
    assert.deepEqual(await list('tier'), ['a', 'c']);
    assert.deepEqual(await list('!tier'), ['b']);
    assert.deepEqual(await list('team in (red,green)'), ['a', 'c']);
    assert.deepEqual(await list('team notin (red),tier'), ['c']);
    assert.deepEqual(await list(undefined, 'metadata.name=b'), ['b']);
    assert.deepEqual(await list('tier', 'metadata.name!=a'), ['c']);
    const full = await core.listNamespacedConfigMap({ namespace: ns });
    assert.equal(full.metadata?.resourceVersion, clients.kube.resourceVersion);
    assert.equal((await core.listNamespacedConfigMap({ namespace: 'elsewhere' })).items.length, 0);
    const bad = await apiError(core.listNamespacedConfigMap({ namespace: ns, fieldSelector: 'data.key=a' }));
    assert.equal(bad.code, 400);
    assert.equal(bad.body['message'], 'field label not supported: data.key');

    const created = await batch.createNamespacedJob({ namespace: ns, body: job('defaults') });
    assert.equal(created.metadata?.generation, 1);
    assert.equal(created.spec?.backoffLimit, 6);
    assert.equal(created.spec?.completions, 1);
    assert.equal(created.spec?.template.metadata?.labels?.['batch.kubernetes.io/job-name'], 'defaults');
    assert.equal(created.spec?.selector?.matchLabels?.['batch.kubernetes.io/controller-uid'], created.metadata?.uid);
    const everywhere = await batch.listJobForAllNamespaces({ labelSelector: 'jobwire.dev/run=defaults' });
    assert.deepEqual(everywhere.items.map((item) => item.metadata?.name), ['defaults']);
    assert.ok(Number(everywhere.metadata?.resourceVersion) >= Number(created.metadata?.resourceVersion));
  });

  it('answers a duplicate create with 409 AlreadyExists and bad objects with 422 Invalid', async (t) => {
    const { core, batch } = await start(t);
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'twice' } } });
    const duplicate = await apiError(core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'twice' } } }));
    assert.equal(duplicate.code, 409);
    assert.deepEqual(
      { kind: duplicate.body['kind'], apiVersion: duplicate.body['apiVersion'], status: duplicate.body['status'], reason: duplicate.body['reason'], message: duplicate.body['message'] },
      { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'AlreadyExists', message: 'configmaps "twice" already exists' },
    );
    assert.deepEqual(duplicate.body['details'], { name: 'twice', kind: 'configmaps' });

    const badName = await apiError(core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'Bad_Name' } } }));
    assert.equal(badName.code, 422);
    assert.equal(badName.body['reason'], 'Invalid');
    assert.match(String(badName.body['message']), /^ConfigMap "Bad_Name" is invalid: metadata\.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain/);
    const noName = await apiError(core.createNamespacedConfigMap({ namespace: ns, body: { metadata: {} } }));
    assert.match(String(noName.body['message']), /metadata\.name: Required value: name or generateName is required/);
    const badLabel = await apiError(core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'ok', labels: { 'a b': 'x' } } } }));
    assert.equal(badLabel.code, 422);
    assert.match(String(badLabel.body['message']), /metadata\.labels: Invalid value: "a b": name part must consist of alphanumeric/);
    const longJob = await apiError(batch.createNamespacedJob({ namespace: ns, body: job('x'.repeat(64)) }));
    assert.equal(longJob.code, 422);
    assert.match(String(longJob.body['message']), /must be no more than 63 characters/);
    const always = job('always', {}, { restartPolicy: 'Always' });
    const restart = await apiError(batch.createNamespacedJob({ namespace: ns, body: always }));
    assert.match(String(restart.body['message']), /^Job\.batch "always" is invalid: spec\.template\.spec\.restartPolicy: Required value: valid values: "OnFailure", "Never"$/);
    const generated = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { generateName: 'gen-' } } });
    assert.match(generated.metadata?.name ?? '', /^gen-[a-z0-9]{5}$/);
  });

  it('surfaces a missing object as an ApiException with code 404 and a NotFound Status', async (t) => {
    const { batch, core } = await start(t);
    const missing = await apiError(batch.readNamespacedJob({ name: 'nope', namespace: ns }));
    assert.equal(missing.code, 404);
    assert.equal(missing.body['kind'], 'Status');
    assert.equal(missing.body['reason'], 'NotFound');
    assert.equal(missing.body['message'], 'jobs.batch "nope" not found');
    assert.deepEqual(missing.body['details'], { name: 'nope', group: 'batch', kind: 'jobs' });
    assert.equal((await apiError(core.deleteNamespacedConfigMap({ name: 'nope', namespace: ns }))).code, 404);
    assert.equal((await apiError(core.readNamespacedPodLog({ name: 'nope', namespace: ns }))).code, 404);
  });

  it('patches ownerReferences with JSON patch (the client default) and merge patch, and checks resourceVersion on update', async (t) => {
    const { core, batch } = await start(t);
    const owner = await batch.createNamespacedJob({ namespace: ns, body: job('owner') });
    const ref = { apiVersion: 'batch/v1', kind: 'Job', name: 'owner', uid: owner.metadata?.uid ?? '', controller: true };
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'files', labels: { a: '1' } }, data: { x: '1' } } });
    const patched = await core.patchNamespacedConfigMap({ name: 'files', namespace: ns, body: [{ op: 'add', path: '/metadata/ownerReferences', value: [ref] }] });
    assert.equal(patched.metadata?.ownerReferences?.[0]?.uid, owner.metadata?.uid);
    const merged = await core.patchNamespacedConfigMap(
      { name: 'files', namespace: ns, body: { metadata: { labels: { a: null, b: '2' } }, data: { y: '2' } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    assert.deepEqual(merged.metadata?.labels, { b: '2' });
    assert.deepEqual(merged.data, { x: '1', y: '2' });
    assert.equal(merged.metadata?.ownerReferences?.length, 1);
    assert.ok(Number(merged.metadata?.resourceVersion) > Number(patched.metadata?.resourceVersion));
    const failedTest = await apiError(core.patchNamespacedConfigMap({ name: 'files', namespace: ns, body: [{ op: 'test', path: '/data/x', value: 'other' }] }));
    assert.equal(failedTest.code, 422);
    const stale = await apiError(core.replaceNamespacedConfigMap({ name: 'files', namespace: ns, body: { metadata: { name: 'files', resourceVersion: patched.metadata?.resourceVersion }, data: {} } }));
    assert.equal(stale.code, 409);
    assert.equal(stale.body['reason'], 'Conflict');
    const immutable = await apiError(
      batch.patchNamespacedJob(
        { name: 'owner', namespace: ns, body: { spec: { template: { spec: { containers: [{ name: 'main', image: 'other' }] } } } } },
        setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
      ),
    );
    assert.equal(immutable.code, 422);
    assert.match(String(immutable.body['message']), /spec\.template: Invalid value: .*field is immutable/);
  });

  it('answers requests without the kubeconfig token with 401', async (t) => {
    const { kube } = await start(t);
    const response = await fetch(`${kube.url}/api/v1/namespaces/${ns}/pods`);
    assert.equal(response.status, 401);
    assert.equal(((await response.json()) as Record<string, unknown>)['reason'], 'Unauthorized');
  });
});

describe('fake kube: jobs and pods', () => {
  it('runs a Job to Complete with a pod owned by it whose log is readable (limitBytes, tailLines)', async (t) => {
    const clients = await start(t, { podScript: () => ({ kind: 'run', exitCode: 0, log: 'one\ntwo\nthree\n', runMs: 30 }) });
    const podWatch = await watch(clients.kc, `/api/v1/namespaces/${ns}/pods`, { labelSelector: 'job-name=hello', resourceVersion: clients.kube.resourceVersion });
    t.after(() => podWatch.stop());
    const created = await clients.batch.createNamespacedJob({ namespace: ns, body: job('hello') });
    const done = await finished(clients, 'hello');
    await eventually('the pod to be watched to Succeeded', () => (podWatch.events.some((event) => phaseOf(event) === 'Succeeded') ? true : undefined));
    assert.equal(podWatch.events[0]?.type, 'ADDED');
    assert.ok(podWatch.events.slice(1).every((event) => event.type === 'MODIFIED'));
    const phases = podWatch.events.map(phaseOf).filter((phase, index, all) => index === 0 || phase !== all[index - 1]);
    assert.deepEqual(phases, ['Pending', 'Running', 'Succeeded']);
    const types = done.status?.conditions?.map((condition) => `${condition.type}=${condition.status}:${condition.reason ?? ''}`);
    assert.deepEqual(types, ['SuccessCriteriaMet=True:CompletionsReached', 'Complete=True:CompletionsReached']);
    assert.equal(done.status?.succeeded, 1);
    assert.equal(done.status?.active, undefined);
    assert.equal(done.status?.ready, 0);
    assert.ok(done.status?.startTime instanceof Date && done.status.completionTime instanceof Date);

    const pods = await podsOf(clients, 'hello');
    assert.equal(pods.length, 1);
    const pod = pods[0];
    assert.ok(pod !== undefined);
    assert.match(pod.metadata?.name ?? '', /^hello-[a-z0-9]{5}$/);
    const uid = created.metadata?.uid;
    assert.deepEqual(
      { jobName: pod.metadata?.labels?.['job-name'], batchName: pod.metadata?.labels?.['batch.kubernetes.io/job-name'], controllerUid: pod.metadata?.labels?.['controller-uid'], app: pod.metadata?.labels?.['app'] },
      { jobName: 'hello', batchName: 'hello', controllerUid: uid, app: 'jobwire' },
    );
    assert.equal(pod.metadata?.labels?.['batch.kubernetes.io/controller-uid'], uid);
    assert.deepEqual(pod.metadata?.ownerReferences?.map((ref) => [ref.kind, ref.name, ref.uid, ref.controller]), [['Job', 'hello', uid, true]]);
    assert.equal(pod.status?.phase, 'Succeeded');
    const terminated = pod.status?.containerStatuses?.[0]?.state?.terminated;
    assert.equal(terminated?.exitCode, 0);
    assert.equal(terminated?.reason, 'Completed');
    assert.equal(pod.spec?.containers[0]?.image, 'busybox:1.36');

    const name = pod.metadata?.name ?? '';
    assert.equal(await clients.core.readNamespacedPodLog({ name, namespace: ns }), 'one\ntwo\nthree\n');
    assert.equal(await clients.core.readNamespacedPodLog({ name, namespace: ns, limitBytes: 5 }), 'one\nt');
    assert.equal(await clients.core.readNamespacedPodLog({ name, namespace: ns, tailLines: 2 }), 'two\nthree\n');
    assert.equal(await clients.core.readNamespacedPodLog({ name, namespace: ns, container: 'main', tailLines: 2, limitBytes: 4 }), 'two\n');
    const wrong = await apiError(clients.core.readNamespacedPodLog({ name, namespace: ns, container: 'sidecar' }));
    assert.equal(wrong.code, 400);
    assert.equal(wrong.body['message'], `container sidecar is not valid for pod ${name}`);
    const reasons = clients.kube.events(ns).map((event) => String(event['reason']));
    assert.ok(reasons.includes('SuccessfulCreate') && reasons.includes('Completed'), reasons.join(','));
  });

  it('retries a failing pod up to backoffLimit, then fails the Job with BackoffLimitExceeded', async (t) => {
    const clients = await start(t, { podScript: () => ({ kind: 'run', exitCode: 3, log: 'boom\n', runMs: 5 }) });
    await clients.batch.createNamespacedJob({ namespace: ns, body: job('flaky', { backoffLimit: 2 }) });
    const done = await finished(clients, 'flaky');
    const failed = done.status?.conditions?.find((condition) => condition.type === 'Failed');
    assert.equal(failed?.status, 'True');
    assert.equal(failed?.reason, 'BackoffLimitExceeded');
    assert.equal(failed?.message, 'Job has reached the specified backoff limit');
    assert.equal(done.status?.conditions?.find((condition) => condition.type === 'FailureTarget')?.reason, 'BackoffLimitExceeded');
    assert.equal(done.status?.failed, 3);
    assert.equal(done.status?.succeeded, undefined);
    assert.equal(done.status?.completionTime, undefined);
    const pods = await podsOf(clients, 'flaky');
    assert.equal(pods.length, 3);
    for (const pod of pods) {
      assert.equal(pod.status?.phase, 'Failed');
      assert.equal(pod.status?.containerStatuses?.[0]?.state?.terminated?.exitCode, 3);
      assert.equal(pod.status?.containerStatuses?.[0]?.state?.terminated?.reason, 'Error');
      assert.equal(pod.metadata?.finalizers, undefined);
    }
  });

  it('puts the last 4096 bytes of the terminationMessagePath file in state.terminated.message, and the log tail only for FallbackToLogsOnError', async (t) => {
    const long = `${'a'.repeat(5000)}END`;
    const clients = await start(t, {
      podScript: scripts({
        written: { kind: 'run', exitCode: 0, log: 'log line\n', runMs: 5, writes: { '/dev/termination-log': '{"ok":true}' } },
        custom: { kind: 'run', exitCode: 0, log: '', runMs: 5, writes: { '/tmp/msg': 'from /tmp/msg', '/dev/termination-log': 'not this one' } },
        long: { kind: 'run', exitCode: 0, log: '', runMs: 5, writes: { '/dev/termination-log': long } },
        silent: { kind: 'run', exitCode: 2, log: 'failed loudly\n', runMs: 5 },
        fallback: { kind: 'run', exitCode: 2, log: 'failed loudly\n', runMs: 5 },
      }),
    });
    await clients.batch.createNamespacedJob({ namespace: ns, body: job('written') });
    await clients.batch.createNamespacedJob({ namespace: ns, body: job('custom', {}, { containers: [{ name: 'main', image: 'busybox:1.36', terminationMessagePath: '/tmp/msg' }] }) });
    await clients.batch.createNamespacedJob({ namespace: ns, body: job('long') });
    await clients.batch.createNamespacedJob({ namespace: ns, body: job('silent', { backoffLimit: 0 }) });
    await clients.batch.createNamespacedJob({ namespace: ns, body: job('fallback', { backoffLimit: 0 }, { containers: [{ name: 'main', image: 'busybox:1.36', terminationMessagePolicy: 'FallbackToLogsOnError' }] }) });
    const messageOf = async (name: string): Promise<string | undefined> => {
      await finished(clients, name);
      const [pod] = await podsOf(clients, name);
      return pod?.status?.containerStatuses?.[0]?.state?.terminated?.message;
    };
    assert.equal(await messageOf('written'), '{"ok":true}');
    assert.equal(await messageOf('custom'), 'from /tmp/msg');
    assert.equal(await messageOf('long'), long.slice(-4096));
    assert.equal(await messageOf('silent'), undefined, 'policy File: a failed container that wrote nothing has no message');
    assert.equal(await messageOf('fallback'), 'failed loudly\n');
  });

  it('enforces activeDeadlineSeconds: the running pod is killed and the Job fails with DeadlineExceeded', async (t) => {
    const clients = await start(t, { podScript: () => ({ kind: 'hang', log: 'started\n' }) });
    const jobEvents = await watch(clients.kc, `/apis/batch/v1/namespaces/${ns}/jobs`, { fieldSelector: 'metadata.name=slow' });
    t.after(() => jobEvents.stop());
    await clients.batch.createNamespacedJob({ namespace: ns, body: job('slow', { activeDeadlineSeconds: 2 }) });
    const running = await onePod(clients, 'slow', (pod) => pod.status?.phase === 'Running', 'the pod to run');
    assert.equal(running.status?.containerStatuses?.[0]?.ready, true);
    assert.ok(running.status?.containerStatuses?.[0]?.state?.running?.startedAt instanceof Date);
    assert.equal(await clients.core.readNamespacedPodLog({ name: running.metadata?.name ?? '', namespace: ns }), 'started\n');
    const done = await finished(clients, 'slow');
    const counts = jobEvents.events.map((event) => event.object['status'] as { active?: number; ready?: number } | undefined);
    assert.ok(counts.some((status) => status?.active === 1 && status.ready === 1), 'the Job reported its running pod as active and ready');
    const failed = done.status?.conditions?.find((condition) => condition.type === 'Failed');
    assert.equal(failed?.reason, 'DeadlineExceeded');
    assert.equal(failed?.message, 'Job was active longer than specified deadline');
    assert.equal(done.status?.failed, 1);
    assert.equal(done.status?.active, undefined);
    await eventually('the killed pod to be removed', async () => ((await podsOf(clients, 'slow')).length === 0 ? true : undefined));
  });

  it('streams a running container\'s log with follow (the client\'s Log class) until the container stops', async (t) => {
    const clients = await start(t, { podScript: () => ({ kind: 'run', exitCode: 0, log: 'first\nsecond\n', runMs: 300 }) });
    await clients.batch.createNamespacedJob({ namespace: ns, body: job('tail') });
    const running = await onePod(clients, 'tail', (pod) => pod.status?.phase === 'Running', 'the pod to run');
    const name = running.metadata?.name ?? '';
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (chunk: Buffer) => chunks.push(chunk));
    const ended = once(out, 'end');
    await new Log(clients.kc).log(ns, name, 'main', out, { follow: true, tailLines: 1 });
    await ended;
    assert.equal(Buffer.concat(chunks).toString(), 'second\n');
    const pod = await clients.core.readNamespacedPod({ name, namespace: ns });
    assert.equal(pod.status?.containerStatuses?.[0]?.state?.terminated?.reason, 'Completed');
  });

  it('shows ImagePullBackOff, Unschedulable and CreateContainerConfigError pods as a real cluster does', async (t) => {
    const clients = await start(t, {
      podScript: scripts({
        pull: { kind: 'imagePullBackOff' },
        nowhere: { kind: 'unschedulable' },
        config: { kind: 'createContainerConfigError', message: 'secret "deploy-token" not found' },
      }),
    });
    for (const name of ['pull', 'nowhere', 'config']) await clients.batch.createNamespacedJob({ namespace: ns, body: job(name, {}, { containers: [{ name: 'main', image: 'registry.example/nope' }] }) });
    const waitingReason = (pod: V1Pod): string | undefined => pod.status?.containerStatuses?.[0]?.state?.waiting?.reason;

    const pull = await onePod(clients, 'pull', (pod) => waitingReason(pod) === 'ImagePullBackOff', 'ImagePullBackOff');
    assert.equal(pull.status?.phase, 'Pending');
    assert.equal(pull.status?.containerStatuses?.[0]?.state?.waiting?.message, 'Back-off pulling image "registry.example/nope"');
    assert.equal(pull.status?.containerStatuses?.[0]?.ready, false);
    assert.equal(pull.status?.conditions?.find((condition) => condition.type === 'Ready')?.reason, 'ContainersNotReady');
    const pullLog = await apiError(clients.core.readNamespacedPodLog({ name: pull.metadata?.name ?? '', namespace: ns }));
    assert.equal(pullLog.code, 400);
    assert.equal(pullLog.body['message'], `container "main" in pod "${pull.metadata?.name ?? ''}" is waiting to start: trying and failing to pull image`);

    const nowhere = await onePod(clients, 'nowhere', (pod) => pod.status?.conditions?.some((condition) => condition.type === 'PodScheduled') === true, 'Unschedulable');
    const scheduledCondition = nowhere.status?.conditions?.find((condition) => condition.type === 'PodScheduled');
    assert.equal(scheduledCondition?.status, 'False');
    assert.equal(scheduledCondition?.reason, 'Unschedulable');
    assert.match(scheduledCondition?.message ?? '', /^0\/3 nodes are available: /);
    assert.equal(nowhere.status?.phase, 'Pending');
    assert.equal(nowhere.spec?.nodeName, undefined);
    assert.equal(nowhere.status?.containerStatuses, undefined);

    const config = await onePod(clients, 'config', (pod) => waitingReason(pod) === 'CreateContainerConfigError', 'CreateContainerConfigError');
    assert.equal(config.status?.containerStatuses?.[0]?.state?.waiting?.message, 'secret "deploy-token" not found');
    assert.equal(config.status?.phase, 'Pending');

    const events = await clients.core.listNamespacedEvent({ namespace: ns, fieldSelector: `involvedObject.name=${nowhere.metadata?.name ?? ''}` });
    assert.deepEqual(events.items.map((event) => [event.reason, event.type, event.involvedObject.kind]), [['FailedScheduling', 'Warning', 'Pod']]);
    for (const name of ['pull', 'nowhere', 'config']) {
      const current = await clients.batch.readNamespacedJob({ name, namespace: ns });
      assert.equal(current.status?.active, 1);
      assert.equal(current.status?.ready, 0);
    }
  });

  it('keeps a pod ContainerCreating until the ConfigMap it mounts exists, then runs it', async (t) => {
    const clients = await start(t, { podScript: () => ({ kind: 'run', exitCode: 0, log: 'read files\n', runMs: 5 }) });
    const volumes = { volumes: [{ name: 'files', configMap: { name: 'run-files' } }], containers: [{ name: 'main', image: 'busybox', volumeMounts: [{ name: 'files', mountPath: '/work' }] }] };
    await clients.batch.createNamespacedJob({ namespace: ns, body: job('mounts', {}, volumes) });
    const failedMount = await eventually('a FailedMount event', () => clients.kube.events(ns).find((event) => event['reason'] === 'FailedMount'));
    assert.match(String(failedMount['message']), /^MountVolume\.SetUp failed for volume "files" : configmap "run-files" not found$/);
    const waiting = await podsOf(clients, 'mounts');
    assert.equal(waiting[0]?.status?.phase, 'Pending');
    assert.equal(waiting[0]?.status?.containerStatuses?.[0]?.state?.waiting?.reason, 'ContainerCreating');
    const notYet = await apiError(clients.core.readNamespacedPodLog({ name: waiting[0]?.metadata?.name ?? '', namespace: ns }));
    assert.match(String(notYet.body['message']), /is waiting to start: ContainerCreating$/);
    await clients.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'run-files' }, data: { 'script.sh': 'echo hi' } } });
    const done = await finished(clients, 'mounts');
    assert.equal(done.status?.succeeded, 1);
  });
});

describe('fake kube: watches', () => {
  it('replays the changes after a resourceVersion, then streams live ones', async (t) => {
    const { core, kc } = await start(t);
    const first = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'a' } } });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'b' } } });
    await core.patchNamespacedConfigMap({ name: 'a', namespace: ns, body: [{ op: 'add', path: '/data', value: { k: 'v' } }] });
    await core.deleteNamespacedConfigMap({ name: 'b', namespace: ns });
    await core.createNamespacedConfigMap({ namespace: 'other', body: { metadata: { name: 'elsewhere' } } });
    const stream = await watch(kc, `/api/v1/namespaces/${ns}/configmaps`, { resourceVersion: first.metadata?.resourceVersion ?? '' });
    t.after(() => stream.stop());
    await eventually('the replay', () => (stream.events.length >= 3 ? true : undefined));
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'c' } } });
    await eventually('the live event', () => (stream.events.length >= 4 ? true : undefined));
    assert.deepEqual(names(stream.events), ['ADDED b', 'MODIFIED a', 'DELETED b', 'ADDED c']);
    const versions = stream.events.map((event) => Number(event.object.metadata?.resourceVersion));
    assert.deepEqual([...versions].sort((x, y) => x - y), versions);

    const fresh = await watch(kc, `/api/v1/namespaces/${ns}/configmaps`, { labelSelector: '!skip' });
    t.after(() => fresh.stop());
    await eventually('synthetic ADDED events', () => (fresh.events.length >= 2 ? true : undefined));
    assert.deepEqual(names(fresh.events), ['ADDED a', 'ADDED c']);
  });

  it('sends an ERROR 410 Expired event for a resourceVersion older than the kept history', async (t) => {
    const { core, kc, kube } = await start(t, { historyLimit: 3 });
    const first = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'old' } } });
    for (let index = 0; index < 5; index += 1) await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: `n${index}` } } });
    const stale = await watch(kc, `/api/v1/namespaces/${ns}/configmaps`, { resourceVersion: first.metadata?.resourceVersion ?? '' });
    assert.equal(await stale.done, null);
    assert.equal(stale.events.length, 1);
    assert.equal(stale.events[0]?.type, 'ERROR');
    assert.equal(stale.events[0]?.object.code, 410);
    assert.equal(stale.events[0]?.object.reason, 'Expired');
    assert.equal(stale.events[0]?.object['kind'], 'Status');

    const open = await watch(kc, `/api/v1/namespaces/${ns}/configmaps`, { resourceVersion: kube.resourceVersion });
    await eventually('the watch to open', () => (kube.openWatches() === 1 ? true : undefined));
    const before = kube.resourceVersion;
    kube.expireWatches();
    assert.equal(await open.done, null);
    assert.deepEqual(open.events.map((event) => [event.type, event.object.code]), [['ERROR', 410]]);
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'later' } } });
    const resumed = await watch(kc, `/api/v1/namespaces/${ns}/configmaps`, { resourceVersion: String(Number(before) - 1) });
    await resumed.done;
    assert.equal(resumed.events[0]?.object.code, 410);
  });

  it('lets a ListWatch informer list, then follow changes from the list resourceVersion', async (t) => {
    const { core, kc } = await start(t);
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'listed', labels: { app: 'x' } } } });
    const informer = makeInformer(kc, `/api/v1/namespaces/${ns}/configmaps`, () => core.listNamespacedConfigMap({ namespace: ns, labelSelector: 'app=x' }), 'app=x');
    const seen: string[] = [];
    informer.on('add', (object) => seen.push(`add ${object.metadata?.name ?? ''}`));
    informer.on('update', (object) => seen.push(`update ${object.metadata?.name ?? ''}`));
    informer.on('delete', (object) => seen.push(`delete ${object.metadata?.name ?? ''}`));
    await informer.start();
    t.after(() => informer.stop());
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'later', labels: { app: 'x' } } } });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'ignored', labels: { app: 'y' } } } });
    await core.patchNamespacedConfigMap({ name: 'listed', namespace: ns, body: [{ op: 'add', path: '/data', value: { a: 'b' } }] });
    await core.deleteNamespacedConfigMap({ name: 'later', namespace: ns });
    await eventually('the informer events', () => (seen.length >= 4 ? true : undefined));
    assert.deepEqual(seen, ['add listed', 'add later', 'update listed', 'delete later']);
  });

  it('cutWatches ends the client watch through its done callback', async (t) => {
    const { kc, kube } = await start(t);
    const stream = await watch(kc, `/apis/batch/v1/namespaces/${ns}/jobs`, { allowWatchBookmarks: true });
    await eventually('the watch to open', () => (kube.openWatches() === 1 ? true : undefined));
    kube.cutWatches();
    const outcome = await stream.done;
    assert.ok(outcome instanceof Error, `done got ${String(outcome)}`);
    assert.equal(kube.openWatches(), 0);
    assert.equal(stream.events.filter((event) => event.type === 'ERROR').length, 0);
  });

  it('ends a watch cleanly after timeoutSeconds', async (t) => {
    const { kc } = await start(t);
    const stream = await watch(kc, `/api/v1/namespaces/${ns}/pods`, { timeoutSeconds: 1 });
    assert.equal(await stream.done, null);
    assert.deepEqual(stream.events, []);
  });
});

describe('fake kube: faults and deletion', () => {
  it('returns an injected 429 with its retry-after header, once', async (t) => {
    const { batch, kube } = await start(t);
    kube.injectFault({ method: 'GET', path: /\/jobs$/, status: 429, headers: { 'retry-after': '7' } });
    const limited = await apiError(batch.listNamespacedJob({ namespace: ns }));
    assert.equal(limited.code, 429);
    assert.equal(limited.headers['retry-after'], '7');
    assert.equal(limited.body['reason'], 'TooManyRequests');
    assert.deepEqual(limited.body['details'], { retryAfterSeconds: 7 });
    assert.equal((await batch.listNamespacedJob({ namespace: ns })).items.length, 0);
    const gets = kube.requests.filter((request) => request.method === 'GET' && request.path === `/apis/batch/v1/namespaces/${ns}/jobs`);
    assert.equal(gets.length, 2);
  });

  it('applies a request and still fails it with afterApplying, so the retry meets 409', async (t) => {
    const { core, kube } = await start(t);
    kube.injectFault({ method: 'POST', path: /\/configmaps$/, status: 500, afterApplying: true });
    const body = { metadata: { name: 'applied' }, data: { a: '1' } };
    const failed = await apiError(core.createNamespacedConfigMap({ namespace: ns, body }));
    assert.equal(failed.code, 500);
    assert.equal(failed.body['reason'], 'InternalError');
    assert.equal((await apiError(core.createNamespacedConfigMap({ namespace: ns, body }))).code, 409);
    assert.deepEqual(kube.configMaps(ns).map((configMap) => configMap.metadata.name), ['applied']);
    const posts = kube.requests.filter((request) => request.method === 'POST');
    assert.deepEqual(posts.map((request) => (request.body as { data?: unknown }).data), [{ a: '1' }, { a: '1' }]);
  });

  it('deletes a Job in the background: Success Status now, pods and owned ConfigMaps shortly after', async (t) => {
    const clients = await start(t, { podScript: () => ({ kind: 'hang' }) });
    const { batch, core, kube } = clients;
    const created = await batch.createNamespacedJob({ namespace: ns, body: job('bg') });
    const owner = { apiVersion: 'batch/v1', kind: 'Job', name: 'bg', uid: created.metadata?.uid ?? '', controller: true, blockOwnerDeletion: true };
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'bg-files', ownerReferences: [owner] } } });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'unowned' } } });
    await onePod(clients, 'bg', (pod) => pod.status?.phase === 'Running', 'the pod to run');
    const reply = await batch.deleteNamespacedJob({ name: 'bg', namespace: ns, propagationPolicy: 'Background' });
    assert.equal(reply.status, 'Success');
    assert.equal(reply.details?.name, 'bg');
    assert.equal(reply.details?.uid, created.metadata?.uid);
    assert.equal((await apiError(batch.readNamespacedJob({ name: 'bg', namespace: ns }))).code, 404);
    await eventually('pods and owned ConfigMaps to go', () => (kube.pods(ns).length === 0 && kube.configMaps(ns).length === 1 ? true : undefined));
    assert.deepEqual(kube.configMaps(ns).map((configMap) => configMap.metadata.name), ['unowned']);
  });

  it('deletes in the foreground (deletionTimestamp first) and orphans pods by default, with the API server warning', async (t) => {
    const clients = await start(t, { podScript: () => ({ kind: 'hang' }) });
    const { batch, kube, kc } = clients;
    await batch.createNamespacedJob({ namespace: ns, body: job('fg') });
    await onePod(clients, 'fg', (pod) => pod.status?.phase === 'Running', 'the fg pod to run');
    const jobEvents = await watch(kc, `/apis/batch/v1/namespaces/${ns}/jobs`, { resourceVersion: kube.resourceVersion });
    const podEvents = await watch(kc, `/api/v1/namespaces/${ns}/pods`, { resourceVersion: kube.resourceVersion });
    t.after(() => {
      jobEvents.stop();
      podEvents.stop();
    });
    await batch.deleteNamespacedJob({ name: 'fg', namespace: ns, propagationPolicy: 'Foreground' });
    const deletedAt = (events: readonly WatchedEvent[]): number | undefined => {
      const found = events.find((event) => event.type === 'DELETED');
      return found === undefined ? undefined : Number(found.object.metadata?.resourceVersion);
    };
    const jobGone = await eventually('the fg job to go', () => deletedAt(jobEvents.events));
    const pending = jobEvents.events.find((event) => event.type === 'MODIFIED')?.object.metadata as { deletionTimestamp?: string; finalizers?: string[] } | undefined;
    assert.equal(typeof pending?.deletionTimestamp, 'string');
    assert.deepEqual(pending?.finalizers, ['foregroundDeletion']);
    const podGone = deletedAt(podEvents.events);
    assert.ok(podGone !== undefined && podGone < jobGone, `the pod (${String(podGone)}) goes before its Job (${jobGone})`);

    await batch.createNamespacedJob({ namespace: ns, body: job('orphaning') });
    const pod = await onePod(clients, 'orphaning', (candidate) => candidate.status?.phase === 'Running', 'the orphaning pod to run');
    const response = await fetch(`${kube.url}/apis/batch/v1/namespaces/${ns}/jobs/orphaning`, { method: 'DELETE', headers: { authorization: `Bearer ${kube.token}` } });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('warning') ?? '', /child pods are preserved by default when jobs are deleted/);
    await eventually('the orphaning job to go', () => (kube.jobs(ns).length === 0 ? true : undefined));
    const left = (await podsOf(clients, 'orphaning'))[0];
    assert.equal(left?.metadata?.name, pod.metadata?.name);
    assert.equal(left?.metadata?.ownerReferences, undefined);
    assert.equal(left?.status?.phase, 'Running');
  });

  it('deleteJobBehindBack makes the Job, its pods and owned ConfigMaps vanish with DELETED events', async (t) => {
    const clients = await start(t, { podScript: () => ({ kind: 'hang' }) });
    const { batch, core, kube, kc } = clients;
    const created = await batch.createNamespacedJob({ namespace: ns, body: job('gone') });
    const owner = { apiVersion: 'batch/v1', kind: 'Job', name: 'gone', uid: created.metadata?.uid ?? '' };
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'gone-files', ownerReferences: [owner] } } });
    await onePod(clients, 'gone', (pod) => pod.status?.phase === 'Running', 'the pod to run');
    const jobs = await watch(kc, `/apis/batch/v1/namespaces/${ns}/jobs`, { resourceVersion: kube.resourceVersion });
    const pods = await watch(kc, `/api/v1/namespaces/${ns}/pods`, { resourceVersion: kube.resourceVersion, labelSelector: 'job-name=gone' });
    t.after(() => {
      jobs.stop();
      pods.stop();
    });
    kube.deleteJobBehindBack(ns, 'gone');
    await eventually('DELETED events', () => (jobs.events.some((event) => event.type === 'DELETED') && pods.events.some((event) => event.type === 'DELETED') ? true : undefined));
    assert.deepEqual(names(jobs.events), ['DELETED gone']);
    assert.deepEqual(kube.pods(ns), []);
    assert.deepEqual(kube.configMaps(ns), []);
    assert.equal((await apiError(batch.readNamespacedJob({ name: 'gone', namespace: ns }))).code, 404);
  });

  it('collects exactly the dependents left without any owner: never-existing, wrong name, last of two, re-pointed', async (t) => {
    const { core, kube } = await start(t);
    const ownerRef = (made: V1ConfigMap, name = made.metadata?.name ?? ''): { apiVersion: string; kind: string; name: string; uid: string } => ({ apiVersion: 'v1', kind: 'ConfigMap', name, uid: made.metadata?.uid ?? '' });
    const create = (name: string, ownerReferences?: ReturnType<typeof ownerRef>[]): Promise<V1ConfigMap> =>
      core.createNamespacedConfigMap({ namespace: ns, body: { metadata: ownerReferences === undefined ? { name } : { name, ownerReferences } } });
    const left = (): string[] => kube.configMaps(ns).map((configMap) => configMap.metadata.name);
    const a = await create('owner-a');
    const b = await create('owner-b');
    await create('ghost', [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'nobody', uid: '3f1c0d6e-0000-4000-8000-000000000000' }]);
    await create('wrong-name', [ownerRef(b, 'not-b')]);
    await create('shared', [ownerRef(a), ownerRef(b)]);
    await create('only-a', [ownerRef(a)]);
    await create('re-pointed', [ownerRef(b)]);
    await eventually('the ownerless ConfigMaps to go', () => (left().includes('ghost') || left().includes('wrong-name') ? undefined : true));
    const repoint = [{ op: 'replace', path: '/metadata/ownerReferences', value: [ownerRef(a)] }];
    await core.patchNamespacedConfigMap({ namespace: ns, name: 're-pointed', body: repoint }, setHeaderOptions('Content-Type', PatchStrategy.JsonPatch));
    await core.deleteNamespacedConfigMap({ namespace: ns, name: 'owner-a' });
    // Swept together with `only-a` and `re-pointed`: `shared` still has owner-b.
    await eventually('the dependents of owner-a alone to go', () => (left().includes('only-a') || left().includes('re-pointed') ? undefined : true));
    assert.deepEqual(left(), ['owner-b', 'shared']);
    await core.patchNamespacedConfigMap({ namespace: ns, name: 'shared', body: [{ op: 'replace', path: '/metadata/ownerReferences', value: [ownerRef(a)] }] }, setHeaderOptions('Content-Type', PatchStrategy.JsonPatch));
    await eventually('shared, now owned by the deleted owner-a alone, to go', () => (left().includes('shared') ? undefined : true));
    assert.deepEqual(left(), ['owner-b']);
  });

  it('releases the tracking finalizer of a pod whose Job does not exist, so the collector can remove it', async (t) => {
    const { core, kube } = await start(t, { podScript: () => ({ kind: 'hang' }) });
    const owner = { apiVersion: 'batch/v1', kind: 'Job', name: 'never', uid: '5b7e1c2a-0000-4000-8000-000000000000', controller: true, blockOwnerDeletion: true };
    const body: V1Pod = {
      metadata: { name: 'stray', finalizers: ['batch.kubernetes.io/job-tracking'], ownerReferences: [owner] },
      spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox:1.36' }] },
    };
    const created = await core.createNamespacedPod({ namespace: ns, body });
    assert.deepEqual(created.metadata?.finalizers, ['batch.kubernetes.io/job-tracking']);
    await eventually('the stray pod to go', () => (kube.pods(ns).length === 0 ? true : undefined));
  });
});

describe('fake kube: object store indexes', () => {
  const draft = (namespace: string, name: string, owners: string[] = []): DraftObject => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace, ...(owners.length === 0 ? {} : { ownerReferences: owners.map((uid) => ({ apiVersion: 'v1', kind: 'ConfigMap', name: uid, uid })) }) },
  });

  it('lists by namespace in key order, filters before copying, and hands out copies', () => {
    const store = new ObjectStore(100);
    for (const [namespace, name] of [['b', 'x'], ['a-b', 'y'], ['a', 'z'], ['a', 'c']] as const) store.create('configmaps', draft(namespace, name));
    const keys = (objects: { metadata: { namespace: string; name: string } }[]): string[] => objects.map((object) => `${object.metadata.namespace}/${object.metadata.name}`);
    assert.deepEqual(keys(store.list('configmaps')), ['a-b/y', 'a/c', 'a/z', 'b/x']);
    assert.deepEqual(keys(store.list('configmaps', 'a')), ['a/c', 'a/z']);
    assert.deepEqual(keys(store.list('configmaps', undefined, (object) => object.metadata.name !== 'z')), ['a-b/y', 'a/c', 'b/x']);
    assert.deepEqual(store.list('pods'), []);
    const copy = store.list('configmaps', 'b')[0];
    assert.ok(copy !== undefined);
    copy.metadata.labels = { changed: 'yes' };
    assert.equal(store.get('configmaps', 'b', 'x')?.metadata.labels, undefined);
    assert.deepEqual(store.namespaces().sort(), ['a', 'a-b', 'b']);
    store.remove('configmaps', 'b', 'x');
    assert.deepEqual(store.namespaces().sort(), ['a', 'a-b']);
  });

  it('keeps the dependents of each owner uid through creates, ownerReference changes and removals', () => {
    const store = new ObjectStore(100);
    const dependents = (uid: string): string[] => store.dependents(uid).map((entry) => entry.object.metadata.name).sort();
    store.create('configmaps', draft('n', 'one', ['u1']));
    const two = store.create('configmaps', draft('n', 'two', ['u1', 'u2']));
    assert.deepEqual(dependents('u1'), ['one', 'two']);
    assert.deepEqual(dependents('u2'), ['two']);
    two.metadata.ownerReferences = [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'u3', uid: 'u3' }];
    store.update('configmaps', two);
    assert.deepEqual(dependents('u1'), ['one']);
    assert.deepEqual(dependents('u2'), []);
    assert.deepEqual(dependents('u3'), ['two']);
    assert.deepEqual(store.dependentUids('u3'), [two.metadata.uid]);
    assert.deepEqual(store.dependents('u3', (object) => object.metadata.name !== 'two'), []);
    store.remove('configmaps', 'n', 'one');
    assert.deepEqual(dependents('u1'), []);
    assert.equal(store.exists(two.metadata.uid, 'two'), true);
    assert.equal(store.exists(two.metadata.uid, 'other'), false);
    assert.equal(store.inspect(two.metadata.uid, (object, resource) => `${resource}:${object.metadata.name}`), 'configmaps:two');
  });
});
