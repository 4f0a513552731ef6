/**
 * How each transition of the state machine (core/run.ts) changes a run record, as pure
 * functions: the SQLite store uses them to compute the row it wrote instead of reading it back
 * (sqlite/owned-runs.ts), and the dispatcher to know the record a transition is about to write,
 * for the events that go with it.
 */
import type { RunRecord } from '../core/run.js';
import type { AttemptEnd } from './store.js';

/** CLAIM_ONE applied to a queued run. */
export function claimedRecord(run: RunRecord): RunRecord {
  return {
    ...run,
    status: 'starting',
    attempts: run.attempts + 1,
    exitCode: null,
    reason: null,
    handle: null,
    startedAt: null,
    finishedAt: null,
    output: null,
    outputError: null,
    steps: null,
  };
}

/** MARK_RUNNING applied to a starting run. */
export function runningRecord(run: RunRecord, handle: string, startedAt: number): RunRecord {
  return { ...run, status: 'running', handle, startedAt };
}

/** FINISH_ATTEMPT applied to a starting or running run; `retryAt` as bound to it (null: no retry). */
export function finishedRecord(run: RunRecord, end: AttemptEnd, retryAt: number | null): RunRecord {
  const retry = retryAt !== null && run.attempts < run.maxAttempts;
  return {
    ...run,
    status: retry ? 'queued' : end.status,
    exitCode: end.exitCode,
    reason: end.reason,
    availableAt: retry ? retryAt : run.availableAt,
    finishedAt: retry ? null : end.finishedAt,
    output: end.output?.kind === 'json' ? end.output.value : null,
    outputError: end.output?.kind === 'invalid' ? end.output.error : null,
    steps: end.steps ?? null,
  };
}

/** CANCEL_QUEUED applied to a queued run. */
export function cancelledRecord(run: RunRecord, reason: string, now: number): RunRecord {
  return { ...run, status: 'cancelled', reason, exitCode: null, finishedAt: now };
}
