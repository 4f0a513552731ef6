/**
 * Steps on the kubernetes executor. The fake cluster's kubelet plays a scripted log; here the
 * script is what the Job's container really prints: its `command` and literal env, as the Job
 * carries them, run by a local bash (Kubernetes' `$$` escapes undone, as the kubelet would).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { StepPlan } from '../src/executors/executor.js';
import { stepLogSection } from '../src/executors/step-markers.js';
import { stepsDriverArgv } from '../src/executors/steps-driver.js';
import { startFakeKube } from './support/fake-kube/server.js';
import type { FakeKube, KubeObject, PodScript } from './support/fake-kube/types.js';
import { ExecutorPool, exited, jobContainer, kubeSpec, runRecord } from './support/kube-runs.js';

let fake: FakeKube;
const pool = new ExecutorPool();

/** The pod's output: the container's command run here, with its literal env and nothing else. */
function playContainer(job: KubeObject): PodScript {
  const container = jobContainer(job);
  const [program = 'false', ...args] = (container.command ?? []).map(unescapeKube);
  const env: Record<string, string> = { PATH: process.env['PATH'] ?? '/usr/bin:/bin' };
  for (const entry of container.env ?? []) if (entry.value !== undefined) env[entry.name] = unescapeKube(entry.value);
  const ran = spawnSync(program, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return { kind: 'run', exitCode: ran.status ?? 1, log: ran.stdout + ran.stderr, runMs: 20 };
}

/** Kubernetes reads `$$` in command and env values as one `$`. */
function unescapeKube(value: string): string {
  return value.replace(/\$\$/g, '$');
}

before(async () => {
  fake = await startFakeKube({ podScript: playContainer });
});

after(async () => {
  await pool.closeAll();
  await fake.close();
});

const steps = [
  { name: 'fetch', script: 'echo "fetching $WHAT"', continueOnError: false },
  { name: 'flaky', script: 'echo flaky; exit 2', continueOnError: true },
  { name: 'deploy', script: 'echo deploying; exit 5', continueOnError: false },
  { name: 'notify', script: 'echo never', continueOnError: false },
];
const plan: StepPlan[] = steps.map(({ name, continueOnError }) => ({ name, continueOnError }));

describe('steps on the kubernetes executor', () => {
  it('reports each step from the pod log markers, with the failing step\'s exit code', async () => {
    const executor = pool.create(fake);
    const spec = kubeSpec({ job: 'stepped', argv: stepsDriverArgv(steps), steps: plan, env: { JOBWIRE_STEP_1_WHAT: '$(secrets) and $HOME' } });
    const result = await (await executor.start(spec)).done;
    assert.equal(exited(result).exitCode, 5);
    assert.deepEqual(
      result.steps?.map(({ name, status, exitCode }) => ({ name, status, exitCode })),
      [
        { name: 'fetch', status: 'succeeded', exitCode: 0 },
        { name: 'flaky', status: 'failed', exitCode: 2 },
        { name: 'deploy', status: 'failed', exitCode: 5 },
        { name: 'notify', status: 'skipped', exitCode: null },
      ],
    );
    assert.match(stepLogSection(result.log.text, 'fetch') ?? '', /\nfetching \$\(secrets\) and \$HOME\n/);
  });

  it('reports the steps of a Job adopted after a restart, from the plan line naming the run', async () => {
    const first = pool.create(fake);
    const spec = kubeSpec({ job: 'stepped-again', argv: stepsDriverArgv(steps.slice(0, 2)), steps: plan.slice(0, 2) });
    const attempt = await first.start(spec);
    await first.close();
    const recovered = await pool.create(fake).recover(runRecord(spec.runId, 'stepped-again', attempt.handle));
    assert.ok(recovered.kind === 'adopted');
    const result = await recovered.attempt.done;
    assert.equal(exited(result).exitCode, 0);
    assert.deepEqual(
      result.steps?.map(({ name, status, continueOnError }) => ({ name, status, continueOnError })),
      [
        { name: 'fetch', status: 'succeeded', continueOnError: false },
        { name: 'flaky', status: 'failed', continueOnError: true },
      ],
    );
  });
});
