/**
 * A job's `steps`: commands or scripts run in order in one run, by jobwire's step driver
 * (executors/steps-driver.ts). Each step is `command` (+ `args`) or `script`, has a unique name
 * (`step-N` by default), may `continueOnError`, and may add env on top of the job's. The job's
 * own env, files, timeout and retries apply to the whole run.
 */
import { commandScript } from '../executors/steps-driver.js';
import type { CompileContext } from './compile-context.js';
import { compileEnv } from './compile-env.js';
import { compileRunnable } from './compile-runnable.js';
import { stepLabel } from './describe.js';
import type { ConfigPath } from './positions.js';
import { StepSchema, type RawJob, type RawStep } from './schema.js';
import type { CompiledStep, EnvEntry } from './types.js';

const STEP_KEYS = new Set(Object.keys(StepSchema.properties));
/** Linux's limit on one argument (MAX_ARG_STRLEN), less room for the terminating NUL. */
const MAX_STEP_SCRIPT_BYTES = 128 * 1024 - 1;

/**
 * Compiles the steps that passed the schema check. `checkEnv` applies the job's rules for env
 * values (secrets need a kubernetes executor) to each step's env.
 */
export function compileSteps(
  steps: ReadonlyArray<[RawStep, number]>,
  at: ConfigPath,
  jobLabel: string,
  ctx: CompileContext,
  checkEnv: (env: readonly EnvEntry[], at: ConfigPath) => void,
): CompiledStep[] {
  const firstByName = new Map<string, number>();
  const compiled: CompiledStep[] = [];
  for (const [raw, k] of steps) {
    const stepAt: ConfigPath = [...at, 'steps', k];
    const label = `${stepLabel(raw.name, k)} of ${jobLabel}`;
    const name = raw.name ?? `step-${k + 1}`;
    const first = firstByName.get(name);
    if (first === undefined) firstByName.set(name, k);
    else {
      // One side of the clash may be a default name, which the user never wrote.
      const defaulted = raw.name === undefined || steps.some(([other, j]) => j === first && other.name === undefined);
      ctx.report(
        raw.name === undefined ? stepAt : [...stepAt, 'name'],
        `step name "${name}" is taken by step ${first + 1} of ${jobLabel}${defaulted ? ' (a step without a name is called step-N)' : ''}; step names must be unique`,
      );
    }
    const script = stepScript(raw, stepAt, label, ctx);
    const env = raw.env === undefined ? [] : compileEnv(raw.env, [...stepAt, 'env'], ctx);
    checkEnv(env, [...stepAt, 'env']);
    compiled.push({ name, script, continueOnError: raw.continueOnError ?? false, env, position: ctx.locator.value(stepAt) });
  }
  return compiled;
}

/** A job runs either `steps` or one `command`/`script`: says so at each field that collides. */
export function checkStepsAlone(raw: RawJob, at: ConfigPath, jobLabel: string, ctx: CompileContext): void {
  for (const key of ['command', 'args', 'script'] as const) {
    if (raw[key] === undefined) continue;
    ctx.reportKey([...at, key], `${jobLabel} has both "steps" and "${key}"; a job runs either steps or one command or script (move it into a step)`);
  }
}

function stepScript(raw: RawStep, at: ConfigPath, label: string, ctx: CompileContext): string {
  const runnable = compileRunnable(raw, raw, at, label, STEP_KEYS, ctx);
  if (runnable === undefined) return '';
  const script = runnable.kind === 'script' ? runnable.script : commandScript(runnable.argv);
  if (Buffer.byteLength(script) > MAX_STEP_SCRIPT_BYTES) {
    ctx.report(
      [...at, runnable.kind],
      `${label} is longer than 128 KiB, the most one program argument can hold; put it in a file (files:) and run that with command: [bash, FILE]`,
    );
  }
  return script;
}
