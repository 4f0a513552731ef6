/**
 * A benchmark-only executor that does nothing measurable: `start` resolves at once with an
 * attempt that has already "exited 0". Broker benchmarks register it (as `noop`) through
 * `createJobwire({ extraExecutors })`, so their figures are the cost of consuming, matching,
 * committing and acknowledging — not of spawning processes. Never used outside bench/.
 */
import type { RunRecord } from '../src/core/run.js';
import type { Attempt, AttemptResult, Executor, RecoveredAttempt, RunSpec } from '../src/executors/executor.js';

const EMPTY_LOG = { text: '', droppedBytes: 0, totalBytes: 0 } as const;
const EXITED_OK: AttemptResult = { kind: 'exited', exitCode: 0, log: EMPTY_LOG };

export class NoopExecutor implements Executor {
  readonly type = 'noop';

  constructor(readonly name = 'noop') {}

  async start(spec: RunSpec): Promise<Attempt> {
    return {
      handle: `noop:${spec.runId}`,
      done: Promise.resolve(EXITED_OK),
      stop: () => undefined,
      readLog: async () => EMPTY_LOG,
    };
  }

  /** Nothing outlives a noop attempt: a run left in flight by a crash is simply lost. */
  async recover(_run: RunRecord): Promise<RecoveredAttempt> {
    return { kind: 'lost', reason: 'the noop executor keeps no state across restarts' };
  }

  async close(): Promise<void> {}
}
