import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileConfig } from '../src/config/load.js';
import { configErrorLines, yamlLines } from './support/config-fixtures.js';

const JOB_KEYS =
  'name, description, on, schedule, executor, command, args, script, steps, image, env, files, workingDir, timeout, retries, ' +
  'concurrency, priority, namespace, resources, ttlSecondsAfterFinished, restartPolicy, serviceAccountName, ' +
  'securityContext, nodeSelector, tolerations, priorityClassName, imagePullPolicy, imagePullSecrets, envFrom, events, then';

/** Compiles `text` as `c.yaml` and returns the error lines it must produce. */
function errorsOf(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  return configErrorLines(() => compileConfig(text, 'c.yaml', env));
}

/** A job with everything required, plus `extra` lines (indented 4) appended to it. */
function job(...extra: string[]): string {
  return yamlLines('jobs:', '  - name: build', '    on: [{ source: http }]', '    command: [make]', ...extra);
}

describe('config errors: YAML syntax', () => {
  it('reports syntax errors with the positions the YAML parser gives', () => {
    assert.deepEqual(errorsOf(yamlLines('jobs:', '  - name: a', '    name: b', '  - x: "open')), [
      'c.yaml:3:5: Map keys must be unique',
      'c.yaml:5:1: Missing closing "quote',
    ]);
  });

  it('hints at quoting when an unquoted ${...} value breaks the YAML, one error per line', () => {
    const hint = ' (put single quotes around values that contain ${...}: unquoted, YAML reads their braces, ": " and " #")';
    const flow = errorsOf(yamlLines('sources:', '  umb: { type: stomp, url: x, login: ${USER} }', ...job().split('\n')));
    assert.equal(flow[0], `c.yaml:2:39: Unexpected flow-map-start at node end${hint}`);
    assert.deepEqual(errorsOf(job('    env:', '      A: ${{ has(message.body.x) ? "y" : "n" }}')), [
      `c.yaml:6:10: Nested mappings are not allowed in compact mappings${hint}`,
    ]);
  });

  it('stops listing syntax errors after ten lines', () => {
    const lines = errorsOf(yamlLines('a: [', ...Array.from({ length: 12 }, () => '}: ]')));
    assert.equal(lines.length, 11);
    assert.match(lines[10] ?? '', /^c\.yaml:\d+:\d+: and \d+ more YAML syntax errors after this, probably caused by the ones above$/);
  });
});

describe('config errors: schema', () => {
  it('suggests the closest key for an unknown one and lists the allowed keys', () => {
    assert.deepEqual(errorsOf(job('    comand: make')), [
      'c.yaml:5:5: unknown key "comand" in job "build"; did you mean "command"? ' +
        `(allowed: ${JOB_KEYS})`,
    ]);
    assert.deepEqual(errorsOf(yamlLines('sorces: {}', ...job().split('\n'))), [
      'c.yaml:1:1: unknown top-level key "sorces"; did you mean "sources"? ' +
        '(allowed: sources, executors, jobs, dispatcher, limits, events, store)',
    ]);
    assert.deepEqual(errorsOf(job('    env:', '      A: { jsonPath: "$.x" }')), [
      'c.yaml:6:12: unknown key "jsonPath" in env "A" of job "build"; did you mean "jsonpath"? ' +
        '(allowed: jsonpath, fromEnv, secret, key)',
    ]);
  });

  it('says where a misplaced job key belongs', () => {
    assert.deepEqual(errorsOf(job('    topic: builds')), [
      'c.yaml:5:5: unknown key "topic" in job "build"; the topic belongs in a trigger: on: [{ source: ..., topic: ... }] ' +
        `(allowed: ${JOB_KEYS})`,
    ]);
  });

  it('gives no suggestion when nothing is close', () => {
    assert.deepEqual(errorsOf(job('    on: [{ source: http, zzz: 1 }]').replace('    on: [{ source: http }]\n', '')), [
      'c.yaml:4:26: unknown key "zzz" in trigger 1 of job "build" (allowed: source, topic, type, if, jsonpath, schedule)',
    ]);
  });

  it('says what a value must be, at the value', () => {
    assert.deepEqual(
      errorsOf(
        job(
          '    timeout: 10x',
          '    retries: -1',
          '    concurrency: 0',
          '    args: [a, [b]]',
          '    priority: high',
          '    env: [A]',
        ),
      ),
      [
        'c.yaml:5:14: "timeout" must be a duration like 30s, 10m, 1h',
        'c.yaml:6:14: "retries" must be a whole number ≥ 0 or { limit, backoff, maxBackoff }',
        'c.yaml:7:18: "concurrency" must be a whole number ≥ 1',
        'c.yaml:8:15: "args[1]" must be a string',
        'c.yaml:9:15: "priority" must be a whole number',
        'c.yaml:10:10: "env" must be a map of NAME: value',
      ],
    );
  });

  it('names missing required keys and enum values', () => {
    assert.deepEqual(
      errorsOf(
        yamlLines(
          'sources:',
          '  umb: { type: stomb, url: x }',
          'jobs:',
          '  - on: [{ topic: a }]',
          '    script: echo',
          'store: { synchronous: fast }',
        ),
      ),
      [
        'c.yaml:2:16: "type" must be one of amqp, stomp, nats; did you mean "stomp"?',
        'c.yaml:4:5: job 1 needs "name" (a name of lowercase letters, digits and "-" (at most 52, not starting or ending with "-"))',
        'c.yaml:4:10: trigger 1 of job 1 needs "source" (a source name like http)',
        'c.yaml:6:23: "synchronous" must be one of normal, full',
      ],
    );
    assert.deepEqual(errorsOf(''), ['c.yaml:1:1: the config must be a map with at least "jobs"']);
    assert.deepEqual(errorsOf('dispatcher: {}\n'), ['c.yaml:1:1: the config needs "jobs" (a list of at least one job)']);
  });

  it('checks job names', () => {
    assert.deepEqual(errorsOf(job().replace('name: build', 'name: Build_1')), [
      'c.yaml:2:11: "name" must be a name of lowercase letters, digits and "-" (at most 52, not starting or ending with "-")',
    ]);
    assert.deepEqual(errorsOf(job().replace('name: build', `name: ${'a'.repeat(53)}`)), [
      'c.yaml:2:11: "name" must be a name of lowercase letters, digits and "-" (at most 52, not starting or ending with "-")',
    ]);
  });
});

describe('config errors: expressions', () => {
  it('positions CEL syntax and type errors at the offending character of the expression', () => {
    assert.deepEqual(
      errorsOf(
        yamlLines(
          'jobs:',
          '  - name: build',
          '    on:',
          '      - source: http',
          '        if: message.body.x == ', // plain scalar: points after `==`
          '      - source: http',
          "        if: 'message.body.ok && 1 + \"a\" == 2'", // quoted: `1 + "a"` is at offset 19
          '      - source: http',
          '        if: |',
          '          message.body.ok &&',
          '          unknown.thing',
          '    command: [make]',
        ),
      ),
      [
        'c.yaml:5:30: "if": CEL syntax error: Unexpected token: EOF',
        'c.yaml:7:33: "if": CEL type error: no such overload: int + string',
        'c.yaml:11:11: "if": CEL type error: Unknown variable: unknown',
      ],
    );
  });

  it('requires filters to be boolean', () => {
    assert.deepEqual(errorsOf(job().replace('{ source: http }', '{ source: http, if: message.topic + "x" }')), [
      'c.yaml:3:30: "if": expected a true/false (bool) expression, but this one gives string',
    ]);
  });

  it('positions errors inside ${{ }} env values and rejects partial ones', () => {
    assert.deepEqual(
      errorsOf(
        job(
          '    env:',
          '      A: ${{ message.body.x + }}',
          "      B: '${{ 1 + \"a\" }}'",
          '      C: prefix-${{ message.topic }}',
          '      D: ${{ message.id }} and ${{ message.topic }}',
        ),
      ),
      [
        'c.yaml:6:30: env "A": CEL syntax error: Unexpected token: EOF',
        'c.yaml:7:15: env "B": CEL type error: no such overload: int + string',
        'c.yaml:8:17: env "C": ${{ ... }} must be the whole value; build the text inside one expression instead, ' +
          'like ${{ "v" + string(message.body.version) }}',
        'c.yaml:9:10: env "D": ${{ ... }} must be the whole value; build the text inside one expression instead, ' +
          'like ${{ "v" + string(message.body.version) }}',
      ],
    );
  });

  it('validates JSONPath expressions', () => {
    assert.deepEqual(
      errorsOf(
        job(
          '    env:',
          '      A: { jsonpath: "data.x" }',
          '      B: { jsonpath: "$.a[0" }',
          '      C: { jsonpath: "$[?(@.x == )]" }',
        ).replace('{ source: http }', '{ source: http, jsonpath: { property: "$.a)", match: 1 } }'),
      ),
      [
        'c.yaml:3:48: JSONPath "$.a)" is malformed: unexpected ")"',
        'c.yaml:6:22: env "A": JSONPath "data.x" must start with "$" (the message body), like $.data.x',
        'c.yaml:7:22: env "B": JSONPath "$.a[0" is malformed: missing "]"',
        'c.yaml:8:22: env "C": JSONPath "$[?(@.x == )]" has a bad filter ?(@.x == ): Expected expression after == at character 10',
      ],
    );
  });
});

describe('config errors: events and then', () => {
  it('checks sinks, then entries, their expressions, and refuses then: run loops', () => {
    const errors = errorsOf(
      yamlLines(
        'sources:',
        '  rabbit: { type: amqp, url: amqp://x }',
        'events:',
        '  sinks:',
        '    both: { source: rabbit, webhook: "http://x" }',
        '    bus: { source: rabit, topic: t }',
        '    notopic: { source: rabbit }',
        '    hook: { webhook: "ftp://x" }',
        'jobs:',
        '  - name: a',
        '    on: [{ source: http }]',
        '    script: echo',
        '    then:',
        '      - run: b',
        '      - run: nope',
        '      - publish: { source: rabbit, topic: t }',
        '        run: b',
        '      - { forEach: "${{ run.output.files + }}", run: b }',
        '  - name: b',
        '    on: [{ source: http }]',
        '    script: echo',
        '    then: [{ when: failed, run: a }]',
      ),
    );
    assert.deepEqual(errors, [
      'c.yaml:5:5: sink "both" needs exactly one of "source" (a bus) or "webhook" (a URL)',
      'c.yaml:6:20: no source "rabit" to publish to; did you mean "rabbit"?',
      'c.yaml:7:5: sink "notopic" needs "topic": where on source "rabbit" the events go',
      'c.yaml:8:22: sink "hook": webhook must be an http:// or https:// URL',
      'c.yaml:15:14: no job "nope" to run',
      'c.yaml:16:9: a then entry needs exactly one of "publish" (a message to a bus) or "run" (a job)',
      'c.yaml:18:43: CEL syntax error: Unexpected token: EOF',
      'c.yaml:22:12: then: run makes a loop (a → b → a): it would run forever; break the cycle',
    ]);
  });
});

describe('config errors: cross-checks', () => {
  it('reports unknown sources and executors with the known names, and missing images', () => {
    assert.deepEqual(
      errorsOf(
        yamlLines(
          'sources:',
          '  umb: { type: stomp, url: "stomp://x" }',
          'executors:',
          '  cluster: { type: kubernetes }',
          'jobs:',
          '  - name: a',
          '    on: [{ source: umbb }, { source: nowhere }]',
          '    executor: clustr',
          '    command: [x]',
          '  - name: b',
          '    on: [{ source: umb }]',
          '    executor: cluster',
          '    command: [x]',
        ),
      ),
      [
        'c.yaml:7:20: unknown source "umbb"; did you mean "umb"? (known: http, cron, umb)',
        'c.yaml:7:38: unknown source "nowhere" (known: http, cron, umb)',
        'c.yaml:8:15: unknown executor "clustr"; did you mean "cluster"? (known: cluster, process)',
        'c.yaml:10:5: job "b" needs "image": executor "cluster" is of type kubernetes',
      ],
    );
  });

  it('rejects a secret reference on an executor that cannot resolve it', () => {
    assert.deepEqual(errorsOf(job('    env:', '      TOKEN: { secret: deploy, key: token }')), [
      'c.yaml:6:14: env "TOKEN": { secret } needs a kubernetes executor; executor "process" is of type process ' +
        '(use { fromEnv: NAME } for a local secret)',
    ]);
  });

  it('reports duplicate job names at the second one', () => {
    assert.deepEqual(errorsOf(yamlLines(...job().trim().split('\n'), ...job().trim().split('\n').slice(1))), [
      'c.yaml:5:11: duplicate job name "build" (first defined at line 2)',
    ]);
  });

  it('checks cron schedules, command/script and reserved names', () => {
    assert.deepEqual(
      errorsOf(
        yamlLines(
          'sources:',
          '  http: { type: amqp, url: amqp://x }',
          '  bad name: { type: amqp, url: amqp://x }',
          'jobs:',
          '  - name: a',
          '    on: [{ source: cron }, { source: http, schedule: "* * * * *" }]',
          '    env: { JOBWIRE_RUN: x, 1X: y }',
          '  - name: b',
          '    on: [{ source: http }]',
          '    command: echo hi',
          '    script: echo hi',
          '    args: [x]',
        ),
      ),
      [
        'c.yaml:2:3: source name "http" is reserved for the built-in http source; choose another name',
        'c.yaml:3:3: source name "bad name" may only contain letters, digits, "-" and "_", starting with a letter or digit',
        'c.yaml:5:5: job "a" needs one of command, script or steps',
        'c.yaml:6:10: a cron trigger needs "schedule" (a cron expression like "0 9 * * 1")',
        'c.yaml:6:54: "schedule" only applies to source cron, not http',
        'c.yaml:7:12: env name "JOBWIRE_RUN" is reserved: jobwire sets the JOBWIRE_* variables itself',
        'c.yaml:7:28: env name "1X" may only contain letters, digits and "_", and must not start with a digit',
        'c.yaml:11:13: job "b" has both "command" and "script"; keep one',
        'c.yaml:12:11: "args" only goes with "command"; a script gets its input from env and files',
      ],
    );
  });

  it('reports unset ${VAR} in source and executor settings at the reference', () => {
    assert.deepEqual(
      errorsOf(
        yamlLines(
          'sources:',
          '  umb:',
          '    type: stomp',
          '    url: "stomp://${HOST}:${PORT:-61613}"',
          '    login: ${USER',
          '    passcode: ${1X}',
          'executors:',
          '  k8s:',
          '    type: kubernetes',
          '    nodeSelector: { pool: "${TOKEN}" }',
          ...job('    image: x', '    executor: k8s').trim().split('\n'),
        ),
        { PORT: '1', USER: 'u' },
      ),
      [
        'c.yaml:4:19: environment variable HOST is not set (write ${HOST:-default} to give a default)',
        'c.yaml:5:12: unclosed "${" (write $${ for a literal ${)',
        'c.yaml:6:15: "${1X}" is not a variable reference like ${NAME} or ${NAME:-default} (write $${ for a literal ${)',
        'c.yaml:10:28: environment variable TOKEN is not set (write ${TOKEN:-default} to give a default)',
      ],
    );
  });
});

describe('config errors: many at once', () => {
  it('reports every problem of every kind in file order', () => {
    const lines = errorsOf(
      yamlLines(
        'dispatcher: { concurrency: many }', // 1
        'limits: { maxLogSize: 0 }', // 2
        'jobs:', // 3
        '  - name: one', // 4
        '    on: [{ source: htp, if: "1 +" }]', // 5
        '    script: x', // 6
        '    timeout: 0s', // 7
        '    retries: { limit: 1, backoff: 1m, maxBackoff: 1s }', // 8
        '  - name: two', // 9
        '    on: [{ source: http }]', // 10
        '    script: x', // 11
        '    scirpt: y', // 12
        '    files: [missing.txt]', // 13
      ),
    );
    assert.deepEqual(
      lines.map((line) => line.replace(/ \(looked for .*\)$/, '')),
      [
        'c.yaml:1:28: "concurrency" must be a whole number ≥ 1',
        'c.yaml:2:23: "maxLogSize" must be a size like 1MiB, 512KiB or a number of bytes',
        'c.yaml:5:20: unknown source "htp"; did you mean "http"? (known: http, cron)',
        'c.yaml:5:33: "if": CEL syntax error: Unexpected token: EOF',
        'c.yaml:7:14: "timeout" must be longer than 0 (leave it out for no timeout)',
        'c.yaml:8:51: "maxBackoff" must not be shorter than "backoff"',
        'c.yaml:12:5: unknown key "scirpt" in job "two"; did you mean "script"? ' +
        `(allowed: ${JOB_KEYS})`,
        'c.yaml:13:13: file "missing.txt" does not exist',
      ],
    );
  });
});

describe('config errors: steps', () => {
  /** A job with a trigger and `lines` (indented 4) for what it runs. */
  const stepsJob = (...lines: string[]): string => yamlLines('jobs:', '  - name: build', '    on: [{ source: http }]', ...lines);

  it('says a job runs either steps or one command or script', () => {
    assert.deepEqual(errorsOf(stepsJob('    script: make', '    steps:', '      - script: make test')), [
      'c.yaml:4:5: job "build" has both "steps" and "script"; a job runs either steps or one command or script (move it into a step)',
    ]);
    assert.deepEqual(errorsOf(stepsJob('    command: [make]', '    args: [all]', '    steps: [{ script: make test }]')), [
      'c.yaml:4:5: job "build" has both "steps" and "command"; a job runs either steps or one command or script (move it into a step)',
      'c.yaml:5:5: job "build" has both "steps" and "args"; a job runs either steps or one command or script (move it into a step)',
    ]);
  });

  it('wants at least one step, and unique names (the default ones included)', () => {
    assert.deepEqual(errorsOf(stepsJob('    steps: []')), [
      'c.yaml:4:12: "steps" must be a list of at least one step like { name: build, script: make }',
    ]);
    assert.deepEqual(
      errorsOf(stepsJob('    steps:', '      - { name: test, script: a }', '      - { name: test, script: b }', '      - script: c', '      - { name: step-3, script: d }')),
      [
        'c.yaml:6:17: step name "test" is taken by step 1 of job "build"; step names must be unique',
        'c.yaml:8:17: step name "step-3" is taken by step 3 of job "build" (a step without a name is called step-N); step names must be unique',
      ],
    );
  });

  it('checks each step like a job: one of command or script, its keys, its name and its env', () => {
    assert.deepEqual(
      errorsOf(
        stepsJob(
          '    steps:',
          '      - name: both',
          '        command: [make]',
          '        script: make',
          '      - name: none',
          '        continueOnError: true',
          '      - name: has space',
          '        script: x',
          '      - script: y',
          '        contineOnError: true',
          '      - script: z',
          '        env: { TOKEN: { secret: s, key: k }, JOBWIRE_X: a }',
        ),
      ),
      [
        'c.yaml:7:17: step "both" of job "build" has both "command" and "script"; keep one',
        'c.yaml:8:9: step "none" of job "build" needs one of command or script',
        'c.yaml:10:15: "name" must be a step name of letters, digits, "-", "_" and "." (at most 63, starting with a letter or digit)',
        'c.yaml:13:9: unknown key "contineOnError" in step 4 of job "build"; did you mean "continueOnError"? ' +
          '(allowed: name, command, args, script, continueOnError, env)',
        'c.yaml:15:23: env "TOKEN": { secret } needs a kubernetes executor; executor "process" is of type process (use { fromEnv: NAME } for a local secret)',
        'c.yaml:15:46: env name "JOBWIRE_X" is reserved: jobwire sets the JOBWIRE_* variables itself',
      ],
    );
  });
});
