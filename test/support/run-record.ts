import type { RunRecord } from '../../src/core/run.js';

/** A run record as the store holds it for a run a crashed jobwire left `running`, for executor recovery tests. */
export function inFlightRun(fields: Pick<RunRecord, 'id' | 'job' | 'executor' | 'handle'> & Partial<RunRecord>): RunRecord {
  return {
    messageId: 'm-1',
    source: 'http',
    correlationId: 'c-1',
    status: 'running',
    priority: 0,
    attempts: 1,
    maxAttempts: 1,
    exitCode: null,
    reason: null,
    seq: 1,
    createdAt: 0,
    availableAt: 0,
    startedAt: 0,
    finishedAt: null,
    output: null,
    outputError: null,
    steps: null,
    ...fields,
  };
}
