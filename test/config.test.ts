import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../src/config/config-error.js';
import { celValueToEnvString, ExpressionError } from '../src/config/expressions.js';
import { compileConfig, loadConfig } from '../src/config/load.js';
import type { CompiledJob, EnvValue } from '../src/config/types.js';
import { JobwireError } from '../src/core/errors.js';
import { messageView, type Message } from '../src/core/message.js';
import { configErrorLines, tempConfigDir, yamlLines } from './support/config-fixtures.js';

const FULL_CONFIG = yamlLines(
  'sources:', // 1
  '  umb:', // 2
  '    type: stomp', // 3
  '    url: stomp://${UMB_HOST:-localhost}:61613', // 4
  '    login: ${UMB_USER}', // 5
  '    passcode: "$${literal}"', // 6
  '    tls: { ca: certs/ca.pem, rejectUnauthorized: false }', // 7
  '    options: { heartbeat: "10000,10000" }', // 8
  '  rabbit: { type: amqp, urls: [amqp://a, amqp://b], prefetch: 5 }', // 9
  'executors:', // 10
  '  cluster:', // 11
  '    type: kubernetes', // 12
  '    namespace: jobs', // 13
  '    context: ${K8S_CONTEXT}', // 14
  'jobs:', // 15
  '  - name: countdown', // 16
  '    description: counts down', // 17
  '    on:', // 18
  '      - source: umb', // 19
  '        topic: /queue/Consumer.jobwire.VirtualTopic.*', // 20
  '        if: message.body.execute == "true"', // 21
  '      - source: http', // 22
  '        type: "sh.keptn.event.*.triggered"', // 23
  '        jsonpath: { property: "$.data.test.teststrategy", match: health }', // 24
  '      - source: cron', // 25
  '        schedule: "0 9 * * 1"', // 26
  '    executor: cluster', // 27
  '    image: registry.access.redhat.com/ubi9', // 28
  '    env:', // 29
  '      MESSAGE: "Liftoff!"', // 30
  '      PORT: 8080', // 31
  '      INITIAL_VALUE: ${{ message.body["initial-value"] }}', // 32
  '      HOST: { jsonpath: "$.data.deployment.deploymentURIsLocal[0]" }', // 33
  '      TOKEN: { secret: deploy-token, key: token }', // 34
  '      API_KEY: { fromEnv: API_KEY }', // 35
  '      NOT_SUBSTITUTED: ${HOME}', // 36
  '    files: [locust/basic.py, data, data/a.txt]', // 37
  '    script: |', // 38
  '      echo "$MESSAGE"', // 39
  '    workingDir: /work', // 40
  '    timeout: 1h30m', // 41
  '    retries: 3', // 42
  '    concurrency: 5', // 43
  '    priority: -1', // 44
  '  - name: report', // 45
  '    on: [{ source: rabbit, topic: "reports.#" }]', // 46
  '    command: [python3, report.py]', // 47
  '    args: [--verbose, 2]', // 48
  '    retries: { limit: 2, backoff: 500ms, maxBackoff: 10s }', // 49
  'dispatcher: { concurrency: 4, shutdownGrace: 10s }', // 50
  'limits: { maxMessageSize: 512KiB, maxLogSize: 2MiB }', // 51
  'store: { synchronous: full }', // 52
);

function message(overrides: Partial<Message> = {}): Message {
  return {
    id: 'm-1',
    source: 'http',
    topic: 'countdown',
    headers: {},
    body: {},
    correlationId: 'c-1',
    receivedAt: Date.UTC(2024, 0, 2, 3, 4, 5),
    ...overrides,
  };
}

function envValue(job: CompiledJob | undefined, name: string): EnvValue {
  const entry = job?.env.find((e) => e.name === name);
  assert.ok(entry, `env ${name} is compiled`);
  return entry.value;
}

describe('loadConfig: a valid config', () => {
  const dir = tempConfigDir({
    'locust/basic.py': 'print("hi")\n',
    'data/a.txt': 'a\n',
    'data/sub/b.txt': 'b\n',
    'jobwire.yaml': FULL_CONFIG,
  });

  it('compiles sources, executors and global settings, substituting ${VAR} in settings only', async () => {
    const config = await loadConfig(path.join(dir, 'jobwire.yaml'), { UMB_USER: 'alice', K8S_CONTEXT: 'prod' });
    assert.equal(config.file, path.join(dir, 'jobwire.yaml'));
    assert.equal(config.dir, dir);
    assert.deepEqual([...config.sources.keys()], ['umb', 'rabbit']);
    assert.deepEqual(config.sources.get('umb'), {
      name: 'umb',
      type: 'stomp',
      settings: {
        url: 'stomp://localhost:61613',
        login: 'alice',
        passcode: '${literal}',
        tls: { ca: 'certs/ca.pem', rejectUnauthorized: false },
        options: { heartbeat: '10000,10000' },
      },
      position: { file: path.join(dir, 'jobwire.yaml'), line: 2, col: 3 },
    });
    assert.deepEqual(config.sources.get('rabbit')?.settings, { urls: ['amqp://a', 'amqp://b'], prefetch: 5 });
    assert.deepEqual(
      [...config.executors.values()].map((e) => [e.name, e.type]),
      [
        ['cluster', 'kubernetes'],
        ['process', 'process'],
      ],
    );
    const cluster = config.executors.get('cluster');
    assert.ok(cluster?.type === 'kubernetes');
    assert.equal(cluster.settings.namespace, 'jobs');
    assert.deepEqual(cluster.settings.namespaces, ['jobs']);
    assert.equal(cluster.settings.context, 'prod');
    assert.equal(cluster.settings.qps, 20);
    assert.deepEqual(config.dispatcher, { concurrency: 4, shutdownGraceMs: 10_000, onShutdown: 'wait', maxQueuedRuns: 10_000 });
    assert.deepEqual(config.limits, { maxMessageBytes: 524_288, maxLogBytes: 2_097_152, maxOutputBytes: 65_536, maxChainDepth: 16 });
    assert.deepEqual(config.store, { synchronous: 'full' });
  });

  it('compiles jobs with argv, env, files, limits and positions', async () => {
    const file = path.join(dir, 'jobwire.yaml');
    const config = await loadConfig(file, { UMB_USER: 'alice', K8S_CONTEXT: 'prod' });
    const [countdown, report] = config.jobs;
    assert.ok(countdown && report);
    assert.equal(countdown.name, 'countdown');
    assert.equal(countdown.description, 'counts down');
    assert.equal(countdown.executor, 'cluster');
    assert.equal(countdown.image, 'registry.access.redhat.com/ubi9');
    assert.deepEqual(countdown.argv, ['bash', '-c', 'echo "$MESSAGE"\n']);
    assert.equal(countdown.workingDir, '/work', 'a container path is kept as written');
    assert.equal(countdown.timeoutMs, 5_400_000);
    assert.deepEqual(countdown.retries, { limit: 3, backoffMs: 1_000, maxBackoffMs: 300_000 });
    assert.equal(countdown.concurrency, 5);
    assert.equal(countdown.priority, -1);
    assert.deepEqual(countdown.position, { file, line: 16, col: 5 });
    assert.deepEqual(countdown.files, [
      { path: 'locust/basic.py', absolutePath: path.join(dir, 'locust/basic.py') },
      { path: 'data/a.txt', absolutePath: path.join(dir, 'data/a.txt') },
      { path: 'data/sub/b.txt', absolutePath: path.join(dir, 'data/sub/b.txt') },
    ]);
    assert.deepEqual(
      countdown.env.map((e) => e.name),
      ['MESSAGE', 'PORT', 'INITIAL_VALUE', 'HOST', 'TOKEN', 'API_KEY', 'NOT_SUBSTITUTED'],
    );
    assert.deepEqual(envValue(countdown, 'MESSAGE'), { kind: 'literal', value: 'Liftoff!' });
    assert.deepEqual(envValue(countdown, 'PORT'), { kind: 'literal', value: '8080' });
    assert.deepEqual(envValue(countdown, 'NOT_SUBSTITUTED'), { kind: 'literal', value: '${HOME}' });
    assert.deepEqual(envValue(countdown, 'HOST'), {
      kind: 'jsonpath',
      path: '$.data.deployment.deploymentURIsLocal[0]',
      position: { file, line: 33, col: 25 },
    });
    assert.deepEqual(envValue(countdown, 'TOKEN'), { kind: 'secret', name: 'deploy-token', key: 'token' });
    assert.deepEqual(envValue(countdown, 'API_KEY'), { kind: 'fromEnv', name: 'API_KEY' });
    const initial = envValue(countdown, 'INITIAL_VALUE');
    assert.equal(initial.kind, 'expression');
    assert.equal(initial.kind === 'expression' && initial.expression.source, 'message.body["initial-value"]');
    assert.deepEqual(initial.kind === 'expression' && initial.expression.position, { file, line: 32, col: 26 });

    assert.deepEqual(report.argv, ['python3', 'report.py', '--verbose', '2']);
    assert.deepEqual(report.retries, { limit: 2, backoffMs: 500, maxBackoffMs: 10_000 });
    assert.equal(report.executor, 'process');
    assert.equal(report.priority, 0);
    assert.equal(report.timeoutMs, undefined);
    assert.equal(report.concurrency, undefined);
    assert.deepEqual(report.env, []);
  });

  it('compiles triggers into matchers, filters and JSONPath matches', async () => {
    const config = await loadConfig(path.join(dir, 'jobwire.yaml'), { UMB_USER: 'alice', K8S_CONTEXT: 'prod' });
    const [umb, http, cron] = config.jobs[0]?.triggers ?? [];
    assert.ok(umb && http && cron);
    assert.equal(umb.source, 'umb');
    assert.equal(umb.topic?.pattern, '/queue/Consumer.jobwire.VirtualTopic.*');
    assert.equal(umb.topic?.matches('/queue/Consumer.jobwire.VirtualTopic.countdown'), true);
    assert.equal(umb.topic?.matches('/queue/Consumer.other.VirtualTopic.countdown'), false);
    assert.equal(umb.filter?.source, 'message.body.execute == "true"');
    assert.equal(umb.filter?.evaluate(messageView(message({ body: { execute: 'true' } }))), true);
    assert.equal(umb.filter?.evaluate(messageView(message({ body: { execute: 'false' } }))), false);
    assert.deepEqual(umb.position, { file: path.join(dir, 'jobwire.yaml'), line: 19, col: 9 });
    assert.equal(http.type?.matches('sh.keptn.event.test.triggered'), true);
    assert.equal(http.type?.matches('sh.keptn.event.test.finished'), false);
    assert.deepEqual(http.jsonpath, { property: '$.data.test.teststrategy', match: 'health' });
    assert.equal(http.topic, undefined);
    assert.equal(cron.source, 'cron');
    assert.equal(cron.schedule, '0 9 * * 1');
    assert.equal(config.jobs[1]?.triggers[0]?.topic?.matches('reports.daily.eu'), true);
    assert.equal(config.jobs[1]?.triggers[0]?.topic?.matches('reports'), false);
  });

  it('loads the example config shipped in examples/', async () => {
    const file = fileURLToPath(new URL('../../examples/jobwire.yaml', import.meta.url));
    const config = await loadConfig(file, {});
    assert.deepEqual(
      config.jobs.map((job) => [job.name, job.executor, job.triggers.map((t) => t.source)]),
      [
        ['countdown', 'process', ['http']],
        ['health-check', 'process', ['http']],
        ['report', 'process', ['http']],
        ['release', 'process', ['http']],
      ],
    );
    assert.deepEqual(
      config.jobs[3]?.steps?.map((step) => [step.name, step.continueOnError, step.env.map((entry) => entry.name)]),
      [
        ['check', false, []],
        ['lint', true, []],
        ['package', false, ['CHANNEL']],
      ],
    );
    const [countdown, health, report] = config.jobs;
    assert.deepEqual(health?.files, [
      { path: 'scripts/health-check.sh', absolutePath: path.join(path.dirname(file), 'scripts/health-check.sh') },
    ]);
    assert.deepEqual(health?.argv, ['sh', 'scripts/health-check.sh']);
    assert.equal(health?.triggers[0]?.type?.matches('sh.keptn.event.evaluation.triggered'), true);
    assert.deepEqual(health?.triggers[0]?.jsonpath, { property: '$.data.test.teststrategy', match: 'health' });
    const view = messageView(message({ topic: 'countdown', body: { execute: 'true', 'initial-value': 3 } }));
    assert.equal(countdown?.triggers[0]?.filter?.evaluate(view), true);
    const initial = envValue(countdown, 'INITIAL_VALUE');
    assert.equal(initial.kind === 'expression' && celValueToEnvString(initial.expression.evaluate(view)), '3');
    const title = envValue(report, 'REPORT_TITLE');
    assert.equal(title.kind === 'expression' && celValueToEnvString(title.expression.evaluate(view)), 'untitled');
    assert.deepEqual(report?.retries, { limit: 3, backoffMs: 2_000, maxBackoffMs: 60_000 });
    assert.equal(report?.concurrency, 2);
    assert.equal(report?.priority, 10);
    assert.equal(report?.timeoutMs, 120_000);
  });
});

describe('YAML conveniences', () => {
  it('accepts x- keys for anchors and << merges into jobs', () => {
    const config = compileConfig(
      yamlLines(
        'x-defaults: &defaults',
        '  on: [{ source: http }]',
        '  timeout: 10m',
        'jobs:',
        '  - <<: *defaults',
        '    name: a',
        '    command: [x]',
        '  - <<: *defaults',
        '    name: b',
        '    command: [y]',
        '    timeout: 5s',
      ),
      'merge.yaml',
      {},
    );
    assert.deepEqual(
      config.jobs.map((job) => [job.name, job.timeoutMs, job.triggers.map((t) => t.source)]),
      [
        ['a', 600_000, ['http']],
        ['b', 5_000, ['http']],
      ],
    );
  });
});

describe('expressions', () => {
  const config = compileConfig(
    yamlLines(
      'jobs:',
      '  - name: expr',
      '    on: [{ source: http }]',
      '    command: [env]',
      '    env:',
      '      COUNT: ${{ message.body.items.size() }}',
      '      LIST: ${{ message.body.items }}',
      '      WHO: "${{ message.headers[\'x-user\'] + \'@\' + message.source }}"',
      '      MISSING: ${{ message.body.nope }}',
    ),
    'expr.yaml',
    {},
  );
  const job = config.jobs[0];
  const view = messageView(
    message({ headers: { 'x-user': 'ann' }, body: { items: [1, 'two', { three: true }, null] } }),
  );
  const evaluate = (name: string): unknown => {
    const value = envValue(job, name);
    assert.equal(value.kind, 'expression');
    return value.kind === 'expression' ? value.expression.evaluate(view) : undefined;
  };

  it('evaluates env expressions against a MessageView', () => {
    assert.equal(celValueToEnvString(evaluate('COUNT')), '4');
    assert.equal(celValueToEnvString(evaluate('LIST')), '[1,"two",{"three":true},null]');
    assert.equal(celValueToEnvString(evaluate('WHO')), 'ann@http');
  });

  it('wraps evaluation failures in an ExpressionError naming the expression and position', () => {
    assert.throws(
      () => evaluate('MISSING'),
      (error: unknown) => {
        assert.ok(error instanceof ExpressionError);
        assert.ok(error instanceof JobwireError);
        assert.equal(error.name, 'ExpressionError');
        assert.equal(error.message, 'expression "message.body.nope" (expr.yaml:9:20) failed: No such key: nope');
        assert.ok(error.cause instanceof Error);
        return true;
      },
    );
  });

  it('turns CEL values into env text', () => {
    assert.equal(celValueToEnvString('text'), 'text');
    assert.equal(celValueToEnvString(42n), '42');
    assert.equal(celValueToEnvString(2.5), '2.5');
    assert.equal(celValueToEnvString(true), 'true');
    assert.equal(celValueToEnvString(false), 'false');
    assert.equal(celValueToEnvString(null), '');
    assert.equal(celValueToEnvString(new Date(Date.UTC(2024, 0, 2))), '2024-01-02T00:00:00.000Z');
    assert.equal(celValueToEnvString(new TextEncoder().encode('bytés')), 'bytés');
    assert.equal(celValueToEnvString([1n, 'a', [true]]), '[1,"a",[true]]');
    assert.equal(celValueToEnvString({ big: 12345678901234567890n, s: 'x' }), '{"big":12345678901234567890,"s":"x"}');
    assert.equal(celValueToEnvString(new Map([['k', 1n]])), '{"k":1}');
  });
});

describe('files', () => {
  const compileIn = (dir: string, files: string): ReturnType<typeof compileConfig> =>
    compileConfig(
      yamlLines('jobs:', '  - name: f', '    on: [{ source: http }]', '    command: [ls]', `    files: ${files}`),
      path.join(dir, 'jobwire.yaml'),
      {},
    );

  it('expands folders recursively in name order, keeping relative paths and dropping repeats', () => {
    const dir = tempConfigDir({ 'tests/b.py': '', 'tests/a/z.py': '', 'tests/a/y.py': '', 'top.txt': '' });
    const config = compileIn(dir, '[top.txt, ./tests, tests/b.py]');
    assert.deepEqual(
      config.jobs[0]?.files.map((f) => [f.path, f.absolutePath]),
      ['top.txt', 'tests/a/y.py', 'tests/a/z.py', 'tests/b.py'].map((p) => [p, path.join(dir, p)]),
    );
  });

  it('rejects missing files and paths that leave the config folder', () => {
    const outside = tempConfigDir({ 'secret.txt': 'x' });
    const dir = tempConfigDir({ 'ok.txt': '' });
    symlinkSync(path.join(outside, 'secret.txt'), path.join(dir, 'link.txt'));
    mkdirSync(path.join(dir, 'linked'));
    symlinkSync(outside, path.join(dir, 'linked', 'out'));
    mkdirSync(path.join(dir, 'empty'));
    writeFileSync(path.join(dir, 'linked', 'fine.txt'), '');
    const file = path.join(dir, 'jobwire.yaml');
    assert.deepEqual(
      configErrorLines(() => compileIn(dir, '[ok.txt, ../x.txt, /etc/passwd, nope.txt, link.txt, linked, empty]')),
      [
        `${file}:5:21: file "../x.txt" points outside the config's folder`,
        `${file}:5:31: file "/etc/passwd" must be a path relative to the config's folder`,
        `${file}:5:44: file "nope.txt" does not exist (looked for ${path.join(dir, 'nope.txt')})`,
        `${file}:5:54: file "link.txt" leads outside the config's folder through a symbolic link`,
        `${file}:5:64: file "linked": linked/out leads outside the config's folder through a symbolic link`,
        `${file}:5:72: folder "empty" contains no files`,
      ],
    );
  });
});

describe('ConfigError', () => {
  it('is a JobwireError carrying structured problems', () => {
    try {
      compileConfig('jobs: []\n', 'x.yaml', {});
      assert.fail('should throw');
    } catch (error) {
      assert.ok(error instanceof ConfigError && error instanceof JobwireError);
      assert.equal(error.name, 'ConfigError');
      assert.deepEqual(error.problems, [
        { file: 'x.yaml', line: 1, col: 7, message: '"jobs" must be a list of at least one job' },
      ]);
      assert.equal(error.message, 'x.yaml:1:7: "jobs" must be a list of at least one job');
    }
  });

  it('reports a config file that cannot be read without a position', async () => {
    const missing = path.join(tempConfigDir(), 'missing.yaml');
    await assert.rejects(loadConfig(missing, {}), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, new RegExp(`^${missing}: cannot read the config file: ENOENT`));
      return true;
    });
  });
});
