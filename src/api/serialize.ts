import type { RunRecord, StepResult } from '../core/run.js';

/** A run as the API shows it: times as ISO-8601 strings. */
export interface RunJson {
  id: string;
  job: string;
  status: string;
  messageId: string;
  source: string;
  correlationId: string;
  priority: number;
  attempts: number;
  maxAttempts: number;
  exitCode: number | null;
  reason: string | null;
  executor: string;
  handle: string | null;
  createdAt: string;
  availableAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** What the last ended attempt wrote to $JOBWIRE_OUTPUT. */
  output: Readonly<Record<string, unknown>> | null;
  outputError: string | null;
  steps: readonly StepResult[] | null;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export function runJson(run: RunRecord): RunJson {
  return {
    id: run.id,
    job: run.job,
    status: run.status,
    messageId: run.messageId,
    source: run.source,
    correlationId: run.correlationId,
    priority: run.priority,
    attempts: run.attempts,
    maxAttempts: run.maxAttempts,
    exitCode: run.exitCode,
    reason: run.reason,
    executor: run.executor,
    handle: run.handle,
    createdAt: iso(run.createdAt),
    availableAt: iso(run.availableAt),
    startedAt: run.startedAt === null ? null : iso(run.startedAt),
    finishedAt: run.finishedAt === null ? null : iso(run.finishedAt),
    output: run.output,
    outputError: run.outputError,
    steps: run.steps,
  };
}
