/**
 * `AttemptResult.steps` for a job with steps, the same for every executor: the attempt's
 * captured log is read for the step driver's markers (step-markers.ts) when the attempt ends.
 * An executor wraps the attempts it hands out with `reportSteps` (started from a spec) or
 * `reportRecoveredSteps` (adopted after a restart, when only the run id is known: the plan then
 * comes from the log's plan line naming that run).
 *
 * Why the log and not a results file: it is captured by every runtime already (a Kubernetes pod
 * has no folder jobwire can read), and the driver puts what matters where a bounded log keeps
 * it — the plan first, every step's result on the last line. What each step did follows from
 * the markers left when there is no last line (the attempt was stopped, the driver killed):
 *
 *  - an end marker → succeeded (exit 0) or failed (its exit code);
 *  - a later step started, but this one's end is not in the log (a long log's middle was
 *    dropped) → it ended 0 unless it had continueOnError (the driver went on either way; then
 *    it is reported failed with no exit code rather than claimed a success);
 *  - it started and nothing came after → it was running when the attempt ended: failed, no
 *    exit code;
 *  - it never started → skipped.
 */
import type { StepResult } from '../core/run.js';
import type { Attempt, AttemptResult, CapturedLog, RecoveredAttempt, StepPlan, StopReason } from './executor.js';
import { readStepMarkers, type StepMarkers } from './step-markers.js';

/** Each planned step's result, from the markers in `logText`. */
export function stepResults(plan: readonly StepPlan[], logText: string): StepResult[] {
  return resultsFrom(plan, readStepMarkers(logText));
}

/** `attempt`, whose result also reports `plan`'s steps; `attempt` itself when there are none. */
export function reportSteps(attempt: Attempt, plan: readonly StepPlan[] | undefined): Attempt {
  if (plan === undefined || plan.length === 0) return attempt;
  return new StepReportingAttempt(attempt, (result) => ({ ...result, steps: stepResults(plan, result.log.text) }));
}

/** An adopted attempt of run `runId` reports steps when its log shows the step driver's plan for that run. */
export function reportRecoveredSteps(recovered: RecoveredAttempt, runId: string): RecoveredAttempt {
  if (recovered.kind !== 'adopted') return recovered;
  return {
    kind: 'adopted',
    attempt: new StepReportingAttempt(recovered.attempt, (result) => {
      const markers = readStepMarkers(result.log.text, runId);
      return markers.plan === undefined ? result : { ...result, steps: resultsFrom(markers.plan, markers) };
    }),
  };
}

function resultsFrom(plan: readonly StepPlan[], markers: StepMarkers): StepResult[] {
  const reached = plan.map((step) => markers.started.has(step.name) || markers.ended.has(step.name) || markers.summary?.has(step.name) === true);
  return plan.map((step, k): StepResult => {
    const base = { name: step.name, continueOnError: step.continueOnError };
    const end = markers.summary?.get(step.name) ?? markers.ended.get(step.name);
    if (end === 'skipped') return { ...base, status: 'skipped', exitCode: null, durationMs: null };
    if (end !== undefined) return { ...base, status: end.exitCode === 0 ? 'succeeded' : 'failed', exitCode: end.exitCode, durationMs: end.durationMs };
    const laterReached = reached.slice(k + 1).some(Boolean);
    if (laterReached && !step.continueOnError) return { ...base, status: 'succeeded', exitCode: 0, durationMs: null };
    if (laterReached || reached[k] === true) return { ...base, status: 'failed', exitCode: null, durationMs: null };
    return { ...base, status: 'skipped', exitCode: null, durationMs: null };
  });
}

/** Passes everything through to the runtime's attempt; only its result gains `steps`. */
class StepReportingAttempt implements Attempt {
  readonly done: Promise<AttemptResult>;
  readonly #inner: Attempt;

  constructor(inner: Attempt, addSteps: (result: AttemptResult) => AttemptResult) {
    this.#inner = inner;
    this.done = inner.done.then(addSteps);
  }

  get handle(): string {
    return this.#inner.handle;
  }

  get startedAt(): number | undefined {
    return this.#inner.startedAt;
  }

  stop(reason: StopReason): void {
    this.#inner.stop(reason);
  }

  readLog(): Promise<CapturedLog> {
    return this.#inner.readLog();
  }

  release(): void {
    this.#inner.release?.();
  }

  leave(): void {
    this.#inner.leave?.();
  }
}
