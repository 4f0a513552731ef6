/**
 * Config for container runtimes: executor settings typed per `type`, the pod/Job fields a job
 * may set, image and namespace allow-lists, and the job-level `schedule:` shorthand.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { compileConfig } from '../src/config/load.js';
import { configErrorLines, yamlLines } from './support/config-fixtures.js';

const KUBERNETES_EXECUTOR = [
  'executors:',
  '  cluster:',
  '    type: kubernetes',
  '    namespace: jobs',
  '    namespaces: [ci]',
  '    images: ["registry.access.redhat.com/ubi9*", "quay.io/acme/**"]',
  '    qps: 0',
  '    kubeconfig: clusters/ci.yaml',
  '    imagePullGrace: 30s',
  '    serviceAccountName: runner',
  '    resources: { limits: { memory: 256Mi } }',
  '  local: { type: container, engine: podman, network: none, resources: { limits: { cpu: 1 } } }',
];

function compile(...lines: string[]) {
  return compileConfig(yamlLines(...lines), 'c.yaml', {});
}

function errorsOf(...lines: string[]): string[] {
  return configErrorLines(() => compile(...lines));
}

describe('config: container runtimes', () => {
  it('compiles kubernetes and container executor settings with their defaults', () => {
    const config = compile(...KUBERNETES_EXECUTOR, 'jobs:', '  - { name: a, on: [{ source: http }], executor: cluster, image: quay.io/acme/a:1.2, command: [a] }');
    const cluster = config.executors.get('cluster');
    assert.ok(cluster?.type === 'kubernetes');
    const { images, ...settings } = cluster.settings;
    assert.deepEqual(images?.map((p) => p.pattern), ['registry.access.redhat.com/ubi9*', 'quay.io/acme/**']);
    assert.deepEqual(settings, {
      namespace: 'jobs',
      namespaces: ['jobs', 'ci'],
      kubeconfig: path.resolve('clusters/ci.yaml'),
      qps: 0,
      burst: 40,
      imagePullGraceMs: 30_000,
      unschedulableTimeoutMs: 300_000,
      workingDir: '/jobwire/work',
      defaults: { serviceAccountName: 'runner', resources: { limits: { memory: '256Mi' } } },
    });
    const local = config.executors.get('local');
    assert.ok(local?.type === 'container');
    assert.deepEqual(local.settings, {
      engine: 'podman',
      network: 'none',
      workingDir: '/jobwire/work',
      defaults: { resources: { limits: { cpu: '1' } } },
    });
  });

  it('compiles a job’s pod and Job fields, secrets and envFrom', () => {
    const config = compile(
      ...KUBERNETES_EXECUTOR,
      'jobs:',
      '  - name: a',
      '    on: [{ source: http }]',
      '    executor: cluster',
      '    image: registry.access.redhat.com/ubi9-minimal',
      '    command: [a]',
      '    namespace: ci',
      '    retries: 2',
      '    resources: { requests: { cpu: 100m }, limits: { cpu: 2, memory: 1Gi } }',
      '    nodeSelector: { pool: ci, gpu: true }',
      '    tolerations: [{ key: dedicated, operator: Equal, value: ci, effect: NoSchedule }]',
      '    securityContext: { runAsUser: 1000, capabilities: { drop: [ALL] } }',
      '    imagePullSecrets: [pull-secret]',
      '    envFrom: [{ secret: db, prefix: DB_ }, { configMap: settings, optional: true }]',
      '    env: { TOKEN: { secret: deploy-token, key: token } }',
      '    ttlSecondsAfterFinished: 60',
    );
    const [job] = config.jobs;
    assert.deepEqual(job?.runtime, {
      namespace: 'ci',
      resources: { requests: { cpu: '100m' }, limits: { cpu: '2', memory: '1Gi' } },
      ttlSecondsAfterFinished: 60,
      securityContext: { runAsUser: 1000, capabilities: { drop: ['ALL'] } },
      nodeSelector: { pool: 'ci', gpu: 'true' },
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'ci', effect: 'NoSchedule' }],
      imagePullSecrets: ['pull-secret'],
      envFrom: [
        { kind: 'secret', name: 'db', prefix: 'DB_' },
        { kind: 'configMap', name: 'settings', optional: true },
      ],
    });
    assert.equal(job?.retries.limit, 2);
  });

  it('turns a job-level schedule into cron triggers', () => {
    const config = compile('jobs:', '  - { name: a, schedule: ["0 9 * * 1", "CRON_TZ=Europe/Prague 30 6 * * *"], command: [a] }');
    assert.deepEqual(
      config.jobs[0]?.triggers.map((t) => [t.source, t.schedule]),
      [
        ['cron', '0 9 * * 1'],
        ['cron', 'CRON_TZ=Europe/Prague 30 6 * * *'],
      ],
    );
  });

  it('rejects what a runtime cannot honour, images and namespaces outside the allow-lists', () => {
    assert.deepEqual(
      errorsOf(
        ...KUBERNETES_EXECUTOR,
        'jobs:',
        '  - name: a',
        '    on: [{ source: http }]',
        '    command: [a]',
        '    serviceAccountName: x',
        '    resources: { limits: { cpu: lots } }',
        '  - { name: b, on: [{ source: http }], executor: local, image: i, command: [b], tolerations: [] }',
        '  - { name: c, on: [{ source: http }], executor: cluster, image: docker.io/library/ubuntu, command: [c], namespace: prod }',
        '  - { name: d, executor: cluster, image: quay.io/acme/d, command: [d], envFrom: [{ secret: s, configMap: m }] }',
        '  - { name: e, schedule: "61 * * * *", command: [e] }',
      ),
      [
        'c.yaml:17:5: "serviceAccountName" only applies to kubernetes executors; executor "process" is of type process',
        'c.yaml:18:33: "resources.limits.cpu" must be a quantity like 500m, 2 or 256Mi',
        'c.yaml:19:81: "tolerations" only applies to kubernetes executors; executor "local" is of type container',
        'c.yaml:20:66: image "docker.io/library/ubuntu" is not allowed by executor "cluster" (allowed: registry.access.redhat.com/ubi9*, quay.io/acme/**)',
        'c.yaml:20:117: namespace "prod" is not allowed by executor "cluster" (allowed: jobs, ci; add it to the executor\'s "namespaces")',
        'c.yaml:21:5: job "d" needs "on" (a list of triggers) or "schedule" (a cron expression)',
        'c.yaml:21:82: an envFrom entry names exactly one of "secret" or "configMap"',
        'c.yaml:22:26: invalid schedule "61 * * * *": CronPattern: Invalid value for minute: 61',
      ],
    );
  });

  it('keeps a container working directory as written and requires it absolute; limits container resources to cpu and memory', () => {
    const base = ['executors:', '  box: { type: container }', 'jobs:'];
    const config = compile(...base, '  - { name: a, on: [{ source: http }], executor: box, image: i, command: [a], workingDir: /src }');
    assert.equal(config.jobs[0]?.workingDir, '/src');
    assert.deepEqual(
      errorsOf(...base, '  - { name: a, on: [{ source: http }], executor: box, image: i, command: [a], workingDir: src, resources: { limits: { nvidia.com/gpu: 1 } } }'),
      [
        'c.yaml:4:91: "workingDir" is a folder inside the container and must be absolute, like /jobwire/work',
        'c.yaml:4:119: the container executor can only limit cpu and memory, not "nvidia.com/gpu"',
      ],
    );
  });

  it('lists the keys of the executor’s own type for an unknown key', () => {
    assert.deepEqual(errorsOf('executors:', '  l: { type: container, namespace: x }', 'jobs:', '  - { name: a, on: [{ source: http }], command: [a] }'), [
      'c.yaml:2:25: unknown key "namespace" in executor "l" (allowed: type, engine, network, images, workingDir, resources, imagePullPolicy)',
    ]);
  });
});
