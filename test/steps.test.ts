import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../src/config/load.js';
import { newId } from '../src/core/ids.js';
import type { Message } from '../src/core/message.js';
import { DEFAULT_MAX_OUTPUT_BYTES, type StepResult } from '../src/core/run.js';
import type { AttemptResult, Executor, StepPlan } from '../src/executors/executor.js';
import { createProcessExecutor } from '../src/executors/process.js';
import { readStepMarkers, stepLogSection } from '../src/executors/step-markers.js';
import { stepResults } from '../src/executors/step-results.js';
import { commandScript, stepsDriverArgv } from '../src/executors/steps-driver.js';
import { dryRun } from '../src/matching/dry-run.js';
import { Matcher } from '../src/matching/matcher.js';
import { buildRunSpec } from '../src/matching/run-spec.js';
import { testSpec } from './support/run-spec.js';

const root = mkdtempSync(path.join(tmpdir(), 'jobwire-steps-'));
const executor: Executor = createProcessExecutor({ name: 'local', runsDir: path.join(root, 'runs'), maxLogBytes: 1 << 20, killGraceMs: 200 });

after(async () => {
  await executor.close();
  await rm(root, { recursive: true, force: true });
});

interface TestStep {
  readonly name: string;
  readonly script: string;
  readonly continueOnError?: boolean;
}

async function startSteps(steps: readonly TestStep[], env: Record<string, string> = {}) {
  const compiled = steps.map((step) => ({ name: step.name, script: step.script, continueOnError: step.continueOnError ?? false }));
  const plan: StepPlan[] = compiled.map(({ name, continueOnError }) => ({ name, continueOnError }));
  return executor.start(testSpec(stepsDriverArgv(compiled), { steps: plan, env }));
}

async function runSteps(steps: readonly TestStep[], env: Record<string, string> = {}): Promise<AttemptResult> {
  return (await startSteps(steps, env)).done;
}

/** The results without durations (they vary), which are checked to be numbers where known. */
function outcomes(result: AttemptResult): Omit<StepResult, 'durationMs'>[] {
  assert.ok(result.steps !== undefined, 'the result has no steps');
  return result.steps.map(({ durationMs, ...rest }) => {
    assert.equal(typeof durationMs === 'number', rest.status !== 'skipped' && rest.exitCode !== null, `durationMs of ${rest.name}`);
    return rest;
  });
}

const ok = (name: string, continueOnError = false) => ({ name, status: 'succeeded', exitCode: 0, continueOnError }) as const;
const failed = (name: string, exitCode: number | null, continueOnError = false) => ({ name, status: 'failed', exitCode, continueOnError }) as const;
const skipped = (name: string, continueOnError = false) => ({ name, status: 'skipped', exitCode: null, continueOnError }) as const;

describe('steps on the process executor (real processes)', () => {
  it('runs the steps in order, each in its own log section, and reports each', async () => {
    const result = await runSteps([
      { name: 'build', script: 'echo compiling; echo warning >&2' },
      { name: 'test', script: 'echo testing' },
      { name: 'cmd', script: commandScript(['printf', '%s|', "it's", '$HOME', '*']) },
    ]);
    assert.equal(result.kind, 'exited');
    assert.equal(result.kind === 'exited' ? result.exitCode : -1, 0);
    assert.deepEqual(outcomes(result), [ok('build'), ok('test'), ok('cmd')]);
    const log = result.log.text;
    assert.ok(log.indexOf('compiling') < log.indexOf('testing'), log);
    assert.match(stepLogSection(log, 'build') ?? '', /^::step build\ncompiling\nwarning\n::step-end build exit=0 ms=\d+\n$/);
    assert.match(stepLogSection(log, 'test') ?? '', /^::step test\ntesting\n::step-end test exit=0 ms=\d+\n$/);
    // The command's words reach printf as they are: no quoting, expansion or globbing.
    assert.match(stepLogSection(log, 'cmd') ?? '', /^::step cmd\nit's\|\$HOME\|\*\|::step-end cmd exit=0 ms=\d+\n$/);
  });

  it('stops at the first failing step: the later ones are skipped and the run fails with its exit code', async () => {
    const result = await runSteps([
      { name: 'one', script: 'echo one' },
      { name: 'two', script: 'echo two; exit 7' },
      { name: 'three', script: 'echo three' },
    ]);
    assert.equal(result.kind === 'exited' ? result.exitCode : -1, 7);
    assert.deepEqual(outcomes(result), [ok('one'), failed('two', 7), skipped('three')]);
    assert.doesNotMatch(result.log.text, /^three$/m);
    assert.equal(stepLogSection(result.log.text, 'three'), undefined);
  });

  it('goes on after a continueOnError step fails; the run succeeds and the step shows failed', async () => {
    const result = await runSteps([
      { name: 'lint', script: 'printf "no newline at the end"; exit 3', continueOnError: true },
      { name: 'build', script: 'echo built' },
    ]);
    assert.equal(result.kind === 'exited' ? result.exitCode : -1, 0);
    assert.deepEqual(outcomes(result), [failed('lint', 3, true), ok('build')]);
    assert.match(stepLogSection(result.log.text, 'lint') ?? '', /^::step lint\nno newline at the end::step-end lint exit=3 ms=\d+\n$/);
  });

  it('gives each step its own env on top of the job env, and its name in JOBWIRE_STEP', async () => {
    const result = await runSteps(
      [
        { name: 'first', script: 'echo "$JOB_WIDE $STAGE $JOBWIRE_STEP"; env | grep -c "^JOBWIRE_STEP_" || true' },
        { name: 'second', script: 'echo "$JOB_WIDE ${STAGE:-unset} $JOBWIRE_STEP"' },
      ],
      { JOB_WIDE: 'everywhere', JOBWIRE_STEP_1_STAGE: 'one $(not run) `nor this`' },
    );
    assert.deepEqual(outcomes(result), [ok('first'), ok('second')]);
    assert.match(stepLogSection(result.log.text, 'first') ?? '', /\neverywhere one \$\(not run\) `nor this` first\n0\n/);
    assert.match(stepLogSection(result.log.text, 'second') ?? '', /\neverywhere unset second\n/);
  });

  it('reports the running step failed and the rest skipped when the attempt is stopped', async () => {
    const attempt = await startSteps([
      { name: 'quick', script: 'echo quick' },
      { name: 'slow', script: 'echo started slow; sleep 60' },
      { name: 'after', script: 'echo after' },
    ]);
    for (let k = 0; k < 500 && !(await attempt.readLog()).text.includes('started slow'); k++) await new Promise((resolve) => setTimeout(resolve, 20));
    attempt.stop('cancel');
    const result = await attempt.done;
    assert.equal(result.kind, 'stopped');
    assert.deepEqual(outcomes(result), [ok('quick'), failed('slow', null), skipped('after')]);
  });
});

describe('step results from a log', () => {
  const plan: StepPlan[] = [
    { name: 'a', continueOnError: false },
    { name: 'b', continueOnError: true },
    { name: 'c', continueOnError: false },
  ];

  it('takes the last line when the middle of a long log was dropped', () => {
    const log = '::steps run=r a b:continueOnError c\n::step a\n[… 5000000 bytes dropped …]\n::steps-end a=0/5ms b=2/1ms c=skipped\n';
    assert.deepEqual(stepResults(plan, log), [
      { name: 'a', status: 'succeeded', exitCode: 0, durationMs: 5, continueOnError: false },
      { name: 'b', status: 'failed', exitCode: 2, durationMs: 1, continueOnError: true },
      { name: 'c', status: 'skipped', exitCode: null, durationMs: null, continueOnError: false },
    ]);
  });

  it('infers what it can when a stopped attempt lost the middle: no success is claimed that is not known', () => {
    const log = '::steps run=r a b:continueOnError c\n::step a\n[… dropped …]\n::step c\nworking\n';
    assert.deepEqual(stepResults(plan, log), [
      { name: 'a', status: 'succeeded', exitCode: 0, durationMs: null, continueOnError: false },
      { name: 'b', status: 'failed', exitCode: null, durationMs: null, continueOnError: true },
      { name: 'c', status: 'failed', exitCode: null, durationMs: null, continueOnError: false },
    ]);
  });

  it('lets the driver\'s own end marker win over one a step printed', () => {
    const log = '::step a\n::step-end a exit=0 ms=1\n::step-end a exit=4 ms=9\n';
    assert.deepEqual(stepResults(plan.slice(0, 1), log)[0], { name: 'a', status: 'failed', exitCode: 4, durationMs: 9, continueOnError: false });
  });

  it('takes a plan only from a line that names the run, when asked to', () => {
    assert.deepEqual(readStepMarkers('::steps run=other x\n', 'mine').plan, undefined);
    assert.deepEqual(readStepMarkers('::steps run=mine x y:continueOnError\n', 'mine').plan, [
      { name: 'x', continueOnError: false },
      { name: 'y', continueOnError: true },
    ]);
  });

  it('slices a section that never ended up to the next header, and knows no unknown step', () => {
    const log = '::step a\none\ntwo\n::step b\nthree\n';
    assert.equal(stepLogSection(log, 'a'), '::step a\none\ntwo\n');
    assert.equal(stepLogSection(log, 'b'), '::step b\nthree\n');
    assert.equal(stepLogSection(log, 'zz'), undefined);
    assert.equal(stepLogSection('::step ab\n', 'a'), undefined);
  });
});

describe('steps from a config to a run', () => {
  it('resolves each step\'s env from the message, and runs the compiled steps', async () => {
    const dir = mkdtempSync(path.join(root, 'config-'));
    const file = path.join(dir, 'jobwire.yaml');
    await writeFile(
      file,
      `jobs:
  - name: release
    on: [{ source: http }]
    env: { VERSION: '\${{ message.body.version }}' }
    steps:
      - script: echo "building $VERSION"
      - name: publish
        script: printf 'to %s\\n' "$TARGET"
        env: { TARGET: { jsonpath: "$.target" } }
        continueOnError: true
      - command: [printf, '%s\\n', 'literal $TARGET']
`,
    );
    const config = await loadConfig(file, {});
    const job = config.jobs[0];
    assert.ok(job !== undefined);
    const message: Message = {
      id: newId(),
      source: 'http',
      topic: '',
      headers: {},
      body: { version: '1.2', target: 'prod; rm -rf /' },
      correlationId: 'c',
      receivedAt: Date.now(),
    };
    const spec = buildRunSpec(job, message, { runId: newId(), attempt: 1, maxOutputBytes: DEFAULT_MAX_OUTPUT_BYTES }, {});
    assert.deepEqual(spec.steps, [
      { name: 'step-1', continueOnError: false },
      { name: 'publish', continueOnError: true },
      { name: 'step-3', continueOnError: false },
    ]);
    assert.equal(spec.env['JOBWIRE_STEP_2_TARGET'], 'prod; rm -rf /');
    assert.ok(!spec.argv.some((word) => word.includes('prod')), 'message data reached argv');
    const result = await (await executor.start(spec)).done;
    assert.deepEqual(outcomes(result), [ok('step-1'), ok('publish', true), ok('step-3')]);
    assert.match(stepLogSection(result.log.text, 'step-1') ?? '', /\nbuilding 1\.2\n/);
    assert.match(stepLogSection(result.log.text, 'publish') ?? '', /\nto prod; rm -rf \/\n/);
    assert.match(stepLogSection(result.log.text, 'step-3') ?? '', /\nliteral \$TARGET\n/);
  });

  it('masks a step\'s fromEnv values in a dry run, as a job\'s', async () => {
    const dir = mkdtempSync(path.join(root, 'config-'));
    const file = path.join(dir, 'jobwire.yaml');
    await writeFile(file, 'jobs:\n  - name: deploy\n    on: [{ source: http }]\n    steps:\n      - script: ./deploy\n        env: { TOKEN: { fromEnv: DEPLOY_TOKEN } }\n');
    const env = { DEPLOY_TOKEN: 'hunter2' };
    const config = await loadConfig(file, env);
    const message: Message = { id: 'm', source: 'http', topic: '', headers: {}, body: {}, correlationId: 'c', receivedAt: Date.now() };
    const [match] = dryRun(new Matcher(config.jobs), message, env).matches;
    assert.ok(match !== undefined && 'env' in match);
    assert.equal(match.env['JOBWIRE_STEP_1_TOKEN'], '***(from $DEPLOY_TOKEN)');
    assert.deepEqual(match.steps, [{ name: 'step-1', script: './deploy', continueOnError: false }]);
  });
});
