/**
 * The runs this store claimed and has not finished, and how each transition changes a run
 * record — so that claim, markRunning and finishAttempt compute the row they wrote (with the
 * transitions in ../transitions.ts) instead of reading it back (a RETURNING or a SELECT per write measured about as much as the write).
 *
 * Why the computed row is the stored row: every write is guarded by the run's status in its
 * WHERE clause (runs-sql.ts) — and, for a run claimed here, by the attempt number claimed — and
 * while a run is `starting` or `running` only its claimer writes it: cancel and retry act on
 * queued and final runs only. So when the guarded UPDATE changed the row, the row was exactly
 * the record this store handed out, and the new one follows from it. A run this store did not
 * claim (one a previous process left in flight, reconciled at start-up) is not here, and its
 * row is read back as before.
 */
import type { RunRecord } from '../../core/run.js';

/** Records of the runs this store claimed, by id, until their attempt finishes. */
export class OwnedRuns {
  private readonly runs = new Map<string, RunRecord>();

  /** The record as this store last wrote it, if the run is starting or running under this store. */
  get(id: string): RunRecord | undefined {
    const run = this.runs.get(id);
    return run !== undefined && (run.status === 'starting' || run.status === 'running') ? run : undefined;
  }

  set(run: RunRecord): void {
    this.runs.set(run.id, run);
  }

  delete(id: string): void {
    this.runs.delete(id);
  }
}
