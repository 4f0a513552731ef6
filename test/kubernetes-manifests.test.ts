/**
 * The Kubernetes objects jobwire builds for runs (Job + ConfigMap) and schedules (CronJob),
 * checked without a cluster against the official schemas plus the API server's and kubelet's
 * own rules (support/kube-validate.ts) — for every kubernetes job of every example config, and
 * for the hard cases: longest names, hostile message data, secure defaults, big and binary files.
 * CronJobs and `jobwire render` are in kubernetes-render.test.ts.
 */
import assert from 'node:assert/strict';
import { chmodSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { V1Job } from '@kubernetes/client-node';
import { compileConfig, loadConfig } from '../src/config/load.js';
import type { KubernetesExecutorSettings } from '../src/config/types.js';
import { PermanentError } from '../src/core/errors.js';
import { newId } from '../src/core/ids.js';
import { DEFAULT_MAX_OUTPUT_BYTES } from '../src/core/run.js';
import type { Message } from '../src/core/message.js';
import { buildCronJob, cronSchedules } from '../src/executors/kubernetes/cronjob.js';
import { literal } from '../src/executors/kubernetes/pod-template.js';
import {
  buildRunManifests,
  LABEL,
  loadRunFiles,
  ownerReferenceTo,
  runJobName,
  runLabelSelector,
  type LoadedRunFile,
} from '../src/executors/kubernetes/manifests.js';
import { CONFIGMAP_LIMIT_BYTES, fileKey } from '../src/executors/kubernetes/run-files.js';
import { Matcher } from '../src/matching/matcher.js';
import { buildRunSpec } from '../src/matching/run-spec.js';
import { readMessageFile } from '../src/cli/message-file.js';
import { tempConfigDir, yamlLines } from './support/config-fixtures.js';
import {
  container,
  cronTick,
  envOf,
  filesOf,
  kubeletExpand,
  kubernetesSettingsOf,
  podSpec,
  SETTINGS,
  spec,
  walk,
} from './support/kube-manifests.js';
import { isDnsLabel, isLabelValue, validateManifest } from './support/kube-validate.js';

const EXAMPLES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../examples');

describe('kubernetes manifests', () => {
  it('renders every kubernetes job of every example config (and deploy/\'s) to manifests the API server accepts', async () => {
    const configs = [
      ...readdirSync(EXAMPLES).filter((name) => /\.ya?ml$/.test(name)).map((name) => path.join(EXAMPLES, name)),
      path.join(EXAMPLES, '../deploy/jobwire.yaml'),
    ];
    const messageFiles = walk(EXAMPLES).filter((file) => /-(message|event)\.json$/.test(file));
    let kubernetesJobs = 0;
    for (const name of configs) {
      const config = await loadConfig(name, {});
      const knownSources = new Set(['http', 'cron', ...config.sources.keys()]);
      const messages = await Promise.all(messageFiles.map((file) => readMessageFile(file, { knownSources })));
      for (const job of config.jobs) {
        const settings = kubernetesSettingsOf(config, job);
        if (settings === undefined) continue;
        kubernetesJobs++;
        const files = await filesOf(job);
        const schedules = cronSchedules(job);
        const triggering = [
          ...messages.filter((message) => new Matcher([job]).match(message).length > 0),
          ...schedules.map((schedule) => cronTick(schedule, '2030-01-07T08:00:00.000Z')),
        ];
        assert.ok(triggering.length > 0, `${name}: job ${job.name} has no example message (examples/**/*-message.json) nor schedule`);
        for (const message of triggering) {
          const runSpec = buildRunSpec(job, message, { runId: newId(), attempt: 1, maxOutputBytes: DEFAULT_MAX_OUTPUT_BYTES }, {});
          const { job: k8sJob, configMap, namespace } = buildRunManifests(runSpec, settings, files);
          validateManifest(configMap);
          validateManifest(k8sJob, [configMap]);
          assert.ok(settings.namespaces.includes(namespace));
          assert.deepEqual(container(k8sJob).command, job.argv.map(literal), `${job.name}: argv is the command, as configured`);
          for (const file of job.files) {
            const mounted = container(k8sJob).volumeMounts?.find((mount) => mount.subPath === file.path);
            assert.ok(mounted !== undefined, `${job.name}: ${file.path} is mounted`);
          }
        }
        for (const schedule of schedules) {
          const built = buildCronJob(job, schedule, settings, files, { schedules, processEnv: {}, now: Date.parse('2030-01-01T00:00:00Z') });
          validateManifest(built.configMap);
          validateManifest(built.cronJob, [built.configMap]);
        }
      }
    }
    assert.ok(kubernetesJobs >= 3, `expected the example configs to hold kubernetes jobs, found ${kubernetesJobs}`);
  });

  it('names Jobs <job>-<short run id>: valid DNS labels of at most 63 characters, even for the longest job name', () => {
    const longest = `a${'-b'.repeat(25)}c`;
    assert.equal(longest.length, 52);
    const names = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const runId = newId();
      const name = runJobName(longest, runId);
      assert.ok(isDnsLabel(name), name);
      assert.equal(name, `${longest}-${runId.slice(-10)}`);
      names.add(name);
    }
    assert.equal(names.size, 2000, 'run ids minted in a burst still give distinct names');
    for (const odd of ['', 'RUN/ID with spaces', 'ABCDEFGHIJKLMNOP', 'x'.repeat(300), 'é']) {
      const name = runJobName(longest, odd);
      assert.ok(isDnsLabel(name), `${JSON.stringify(odd)} → ${name}`);
      assert.equal(runJobName(longest, odd), name, 'the same run id always gives the same name');
    }
    const { job, configMap } = buildRunManifests(spec({ job: longest }), SETTINGS, []);
    assert.equal(job.metadata?.name, configMap.metadata?.name);
    validateManifest(job, [configMap]);
    assert.throws(() => runJobName('Not_A_Name', newId()), PermanentError);
  });

  it('turns hostile correlation ids into valid label values and keeps the full value in an annotation', () => {
    const hostile = [
      '../../etc/passwd',
      '$(rm -rf /)',
      '-leading-and-trailing-',
      '_.-',
      'x'.repeat(62) + '-y-z',
      'a'.repeat(500),
      'résumé ✓ 🚀',
      'line\nbreak',
      '',
      ' ',
      'ok.value_1-2',
    ];
    for (const correlationId of hostile) {
      const { job, configMap } = buildRunManifests(spec({ correlationId }), SETTINGS, []);
      validateManifest(configMap);
      validateManifest(job, [configMap]);
      for (const labels of [job.metadata?.labels, job.spec?.template.metadata?.labels, configMap.metadata?.labels]) {
        const value = labels?.[LABEL.correlationId];
        if (value !== undefined) {
          assert.ok(isLabelValue(value) && value !== '', `${JSON.stringify(correlationId)} → ${JSON.stringify(value)}`);
        }
        assert.equal(labels?.[LABEL.managedBy], 'jobwire');
      }
      assert.equal(job.metadata?.annotations?.['jobwire.dev/correlation-id'], correlationId);
      assert.equal(job.spec?.template.metadata?.annotations?.['jobwire.dev/correlation-id'], correlationId);
    }
    const clean = buildRunManifests(spec({ correlationId: 'ok.value_1-2' }), SETTINGS, []).job;
    assert.equal(clean.metadata?.labels?.[LABEL.correlationId], 'ok.value_1-2', 'a valid id is kept as it is');
    const sanitized = buildRunManifests(spec({ correlationId: '../../etc/passwd' }), SETTINGS, []).job;
    assert.equal(sanitized.metadata?.labels?.[LABEL.correlationId], 'etc_passwd');
    assert.equal(runLabelSelector(), 'app.kubernetes.io/managed-by=jobwire,jobwire.dev/run-id');
  });

  it('keeps hostile message data a literal env value: never in the command, never expanded by the kubelet', () => {
    const dir = tempConfigDir();
    const config = compileConfig(
      yamlLines(
        'executors:',
        '  cluster: { type: kubernetes, namespace: jobs }',
        'jobs:',
        '  - name: deploy',
        '    on: [{ source: http, topic: deploy }]',
        '    executor: cluster',
        '    image: registry.access.redhat.com/ubi9/ubi-minimal:latest',
        '    env:',
        '      VERSION: ${{ string(message.body.version) }}',
        '      TARGET: { jsonpath: "$.target" }',
        '      TOKEN: { secret: deploy-token, key: token }',
        '    script: |',
        '      echo "deploying $VERSION to $TARGET on $(hostname)"; echo $((1 + 1)) $$ "$(TOKEN)"',
      ),
      path.join(dir, 'jobwire.yaml'),
      {},
    );
    const job = config.jobs[0]!;
    const settings = kubernetesSettingsOf(config, job)!;
    const payloads = ['$(TOKEN)', '$$(TOKEN)', '$(JOBWIRE_RUN_ID)', "'; rm -rf / #", '`id`', '$(', '$', 'a$$b$(c)d$', 'x\n$(TOKEN)\n'];
    for (const payload of payloads) {
      const message: Message = {
        id: 'm-hostile',
        source: 'http',
        topic: 'deploy',
        headers: {},
        body: { version: payload, target: payload },
        correlationId: payload,
        receivedAt: Date.now(),
      };
      const runSpec = buildRunSpec(job, message, { runId: newId(), attempt: 1, maxOutputBytes: DEFAULT_MAX_OUTPUT_BYTES }, {});
      const { job: k8sJob, configMap } = buildRunManifests(runSpec, settings, []);
      validateManifest(k8sJob, [configMap]);
      const env = envOf(k8sJob);
      // What the container sees: every env var with a value, the secret standing in as "SECRET".
      const values = new Map<string, string>([...env].map(([name, entry]) => [name, entry.value ?? 'SECRET']));
      const seen = (name: string): string => kubeletExpand(env.get(name)?.value ?? '', values);
      assert.equal(seen('VERSION'), payload, `VERSION reaches the job as ${JSON.stringify(payload)}`);
      assert.equal(seen('TARGET'), payload);
      assert.equal(seen('JOBWIRE_CORRELATION_ID'), payload);
      assert.deepEqual(env.get('TOKEN')?.valueFrom, { secretKeyRef: { name: 'deploy-token', key: 'token' } });
      const command = container(k8sJob).command ?? [];
      assert.deepEqual(
        command.map((arg) => kubeletExpand(arg, values)),
        job.argv,
        'the script the container runs is the configured one, byte for byte',
      );
      // (Unless the configured script itself contains that text, as it does `$(` and `$`.)
      if (!job.argv.map(literal).join('\n').includes(payload)) assert.ok(!command.join('\n').includes(payload), `${payload} is not in the command`);
      assert.equal(container(k8sJob).args, undefined);
      assert.equal(JSON.parse(configMap.data?.['message.json'] ?? '{}').body.version, payload, 'the message file holds the data as sent');
    }
    for (const text of ['', '$', '$$', '$$$', '$(', '$()', '$(A)', '$$(A)', '$((1+2))', 'a$b', '$A$(A)$$A', '(', ')$']) {
      assert.equal(kubeletExpand(literal(text), new Map([['A', 'EXPANDED'], ['', 'EMPTY']])), text, JSON.stringify(text));
    }
  });

  it('runs pods non-root without privilege escalation or capabilities by default, and lets executor and job override field by field', () => {
    const plain = buildRunManifests(spec(), SETTINGS, []).job;
    assert.deepEqual(container(plain).securityContext, {
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    assert.equal(container(plain).securityContext?.runAsUser, undefined, 'no UID: OpenShift assigns one');
    assert.equal(podSpec(plain).restartPolicy, 'Never');
    assert.equal(podSpec(plain).automountServiceAccountToken, false);
    assert.equal(podSpec(plain).enableServiceLinks, false);
    assert.equal(podSpec(plain).serviceAccountName, undefined);
    assert.equal(container(plain).name, 'job');

    const settings: KubernetesExecutorSettings = {
      ...SETTINGS,
      defaults: {
        securityContext: { readOnlyRootFilesystem: true, runAsGroup: 2000 },
        ttlSecondsAfterFinished: 600,
        imagePullPolicy: 'IfNotPresent',
        imagePullSecrets: ['registry-credentials'],
        nodeSelector: { 'kubernetes.io/os': 'linux' },
        resources: { requests: { cpu: '100m' }, limits: { memory: '256Mi' } },
        priorityClassName: 'batch-low',
        envFrom: [{ kind: 'configMap', name: 'proxy-settings' }],
      },
    };
    const tuned = buildRunManifests(
      spec({
        runtime: {
          namespace: 'qa',
          securityContext: { runAsUser: 1001, capabilities: { add: ['NET_BIND_SERVICE'] } },
          restartPolicy: 'OnFailure',
          serviceAccountName: 'deployer',
          resources: { limits: { memory: '1Gi' } },
          tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'ci', effect: 'NoSchedule' }],
          envFrom: [{ kind: 'secret', name: 'db-credentials', prefix: 'DB_', optional: true }],
        },
        retryLimit: 3,
        timeoutMs: 90_500,
      }),
      settings,
      [],
    );
    validateManifest(tuned.job, [tuned.configMap]);
    assert.equal(tuned.namespace, 'qa');
    assert.equal(tuned.job.metadata?.namespace, 'qa');
    assert.equal(tuned.configMap.metadata?.namespace, 'qa');
    assert.deepEqual(container(tuned.job).securityContext, {
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] },
      seccompProfile: { type: 'RuntimeDefault' },
      readOnlyRootFilesystem: true,
      runAsGroup: 2000,
      runAsUser: 1001,
    });
    const pod = podSpec(tuned.job);
    assert.equal(pod.restartPolicy, 'OnFailure');
    assert.equal(pod.serviceAccountName, 'deployer');
    assert.equal(pod.automountServiceAccountToken, true, 'a job that names its account gets its token');
    assert.deepEqual(pod.imagePullSecrets, [{ name: 'registry-credentials' }]);
    assert.deepEqual(pod.nodeSelector, { 'kubernetes.io/os': 'linux' });
    assert.equal(pod.priorityClassName, 'batch-low');
    assert.deepEqual(pod.tolerations, [{ key: 'dedicated', operator: 'Equal', value: 'ci', effect: 'NoSchedule' }]);
    assert.deepEqual(container(tuned.job).resources, { limits: { memory: '1Gi' } }, "the job's resources replace the executor's");
    assert.equal(container(tuned.job).imagePullPolicy, 'IfNotPresent');
    assert.deepEqual(container(tuned.job).envFrom, [{ prefix: 'DB_', secretRef: { name: 'db-credentials', optional: true } }]);
    assert.equal(tuned.job.spec?.backoffLimit, 3, 'Kubernetes retries: backoffLimit = retries');
    assert.equal(tuned.job.spec?.activeDeadlineSeconds, 91, 'timeout rounded up to whole seconds');
    assert.equal(tuned.job.spec?.ttlSecondsAfterFinished, 600);

    assert.throws(
      () => buildRunManifests(spec({ runtime: { namespace: 'kube-system' } }), SETTINGS, []),
      (error: Error) => error instanceof PermanentError && /kube-system.*allow-list \(jobs, qa\)/.test(error.message),
    );
    const { image: _image, ...withoutImage } = spec();
    assert.throws(() => buildRunManifests(withoutImage, SETTINGS, []), /has no image/);
  });

  it('puts secrets in as references and message values as literals, JOBWIRE_MESSAGE at the mounted message', () => {
    const { job, configMap } = buildRunManifests(
      spec({
        env: { JOBWIRE_RUN_ID: 'r', JOBWIRE_MESSAGE: '/host/path/message.json', GREETING: 'hi' },
        secretEnv: [{ name: 'API_TOKEN', secret: 'api', key: 'token' }],
      }),
      SETTINGS,
      [],
    );
    const env = envOf(job);
    assert.equal(env.get('GREETING')?.value, 'hi');
    assert.equal(env.get('JOBWIRE_MESSAGE')?.value, '/var/run/jobwire/message.json', 'a host path never reaches the pod');
    assert.equal(env.get('JOBWIRE_WORKDIR')?.value, '/work');
    assert.deepEqual(env.get('API_TOKEN'), { name: 'API_TOKEN', valueFrom: { secretKeyRef: { name: 'api', key: 'token' } } });
    assert.ok(!JSON.stringify(configMap).includes('secretKeyRef'));
    const mounts = container(job).volumeMounts ?? [];
    assert.deepEqual(mounts.find((mount) => mount.mountPath === '/var/run/jobwire'), { name: 'jobwire-message', mountPath: '/var/run/jobwire', readOnly: true });
    assert.equal(configMap.data?.['message.json'], '{"id":"m-1"}');
    assert.equal(configMap.immutable, true);
  });

  it('ships files in the ConfigMap: folders restored by items, binary files as binaryData, scripts executable', async () => {
    const dir = tempConfigDir({ 'scripts/run.sh': '#!/bin/sh\necho hi\n', 'data/blob.bin': '', 'a_2fb': 'look-alike' });
    const binary = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x41]);
    writeFileSync(path.join(dir, 'data/blob.bin'), binary);
    chmodSync(path.join(dir, 'scripts/run.sh'), 0o755);
    const runSpec = spec({
      workingDir: '/opt/app',
      files: [
        { path: 'scripts/run.sh', from: path.join(dir, 'scripts/run.sh') },
        { path: 'data/blob.bin', from: path.join(dir, 'data/blob.bin') },
        { path: 'a/b', content: 'nested' },
        { path: 'a_2fb', from: path.join(dir, 'a_2fb') },
        { path: 'ünïcode name.txt', content: 'ok' },
      ],
    });
    const files = await loadRunFiles(runSpec);
    assert.deepEqual(files.map((file) => file.executable), [true, false, false, false, false]);
    const { job, configMap } = buildRunManifests(runSpec, SETTINGS, files);
    validateManifest(configMap);
    validateManifest(job, [configMap]);
    const keys = [...Object.keys(configMap.data ?? {}), ...Object.keys(configMap.binaryData ?? {})];
    assert.equal(new Set(keys).size, 6, 'five files and the message, each under its own key');
    assert.equal(Buffer.from(configMap.binaryData?.[fileKey('data/blob.bin', 1)] ?? '', 'base64').compare(binary), 0);
    assert.equal(configMap.data?.[fileKey('scripts/run.sh', 0)], '#!/bin/sh\necho hi\n');
    assert.equal(configMap.data?.[fileKey('a/b', 2)], 'nested');
    assert.equal(configMap.data?.[fileKey('a_2fb', 3)], 'look-alike');
    const volume = podSpec(job).volumes?.find((candidate) => candidate.name === 'jobwire-files');
    assert.deepEqual(
      volume?.configMap?.items?.map((item) => [item.path, item.mode]),
      [['scripts/run.sh', 0o755], ['data/blob.bin', 0o644], ['a/b', 0o644], ['a_2fb', 0o644], ['ünïcode name.txt', 0o644]],
    );
    const mounts = container(job).volumeMounts ?? [];
    assert.deepEqual(mounts.find((mount) => mount.subPath === 'a/b'), { name: 'jobwire-files', mountPath: '/opt/app/a/b', subPath: 'a/b', readOnly: true });
    assert.equal(container(job).workingDir, '/opt/app');
    assert.ok(!mounts.some((mount) => mount.mountPath === '/opt/app'), "a job's own workingDir (a folder of its image) is not covered");
    const fresh = buildRunManifests(spec(), SETTINGS, []).job;
    assert.ok(podSpec(fresh).volumes?.some((candidate) => candidate.name === 'jobwire-workdir' && candidate.emptyDir !== undefined));
    for (const bad of ['../escape', '/etc/passwd', 'a/../../b', '..data/x']) {
      await assert.rejects(loadRunFiles({ files: [{ path: bad, content: 'x' }] }), PermanentError, bad);
    }
    await assert.rejects(loadRunFiles({ files: [{ path: 'gone', from: path.join(dir, 'missing') }] }), /cannot read file/);
  });

  it('refuses files over the 1 MiB ConfigMap limit, naming the files and their sizes', () => {
    const big: LoadedRunFile[] = [
      { path: 'models/weights.bin', content: Buffer.alloc(700_000, 1), executable: false },
      { path: 'data/input.csv', content: Buffer.alloc(400_000, 0x61), executable: false },
      { path: 'small.txt', content: Buffer.from('x'), executable: false },
    ];
    assert.throws(
      () => buildRunManifests(spec(), SETTINGS, big),
      (error: Error) => {
        assert.ok(error instanceof PermanentError);
        assert.match(error.message, /do not fit in a ConfigMap: 1,100,\d{3} bytes in total/);
        assert.match(error.message, /models\/weights\.bin 700,0\d\d bytes, data\/input\.csv 400,0\d\d bytes/);
        assert.match(error.message, /1 MiB/);
        return true;
      },
    );
    const fits: LoadedRunFile[] = [{ path: 'fits.bin', content: Buffer.alloc(CONFIGMAP_LIMIT_BYTES - 64 * 1024, 1), executable: false }];
    const { configMap } = buildRunManifests(spec(), SETTINGS, fits);
    validateManifest(configMap);
  });

  it('refuses a Job too big for the API server (huge message values in env) with a clear error', () => {
    assert.throws(() => buildRunManifests(spec({ env: { BLOB: 'x'.repeat(1_200_000) } }), SETTINGS, []), /read big message data from \$JOBWIRE_MESSAGE/);
  });

  it('builds the ownerReference that lets the cluster delete a run\'s ConfigMap with its Job', () => {
    const { job } = buildRunManifests(spec(), SETTINGS, []);
    assert.throws(() => ownerReferenceTo(job), /created Job/);
    const created: V1Job = { ...job, metadata: { ...job.metadata, uid: '7f3c2a9e-1d2b-4c5d-9e8f-0a1b2c3d4e5f' } };
    assert.deepEqual(ownerReferenceTo(created), {
      apiVersion: 'batch/v1',
      kind: 'Job',
      name: job.metadata?.name,
      uid: '7f3c2a9e-1d2b-4c5d-9e8f-0a1b2c3d4e5f',
    });
  });
});
