import { newId } from '../../src/core/ids.js';
import { DEFAULT_MAX_OUTPUT_BYTES } from '../../src/core/run.js';
import type { RunSpec } from '../../src/executors/executor.js';

/** A minimal RunSpec for executor tests; JOBWIRE_RUN_ID is set as the dispatcher would. */
export function testSpec(argv: string[], extra: Partial<RunSpec> = {}): RunSpec {
  const runId = extra.runId ?? newId();
  return {
    runId,
    job: 'test',
    attempt: 1,
    messageId: 'm-1',
    source: 'http',
    correlationId: 'c-1',
    argv,
    files: [],
    messageJson: '{}',
    secretEnv: [],
    runtime: {},
    retryLimit: 0,
    maxOutputBytes: DEFAULT_MAX_OUTPUT_BYTES,
    ...extra,
    env: { JOBWIRE_RUN_ID: runId, ...extra.env },
  };
}
