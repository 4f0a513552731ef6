/**
 * What can go wrong between jobwire and its spawner. The process executor turns these into the
 * dispatcher's vocabulary (PermanentError, RetryableError, an attempt that ended in error).
 */
import { JobwireError } from '../../core/errors.js';

/** The spawner process itself failed: it could not start, crashed, or broke the protocol. */
export class SpawnerError extends JobwireError {
  override readonly name: string = 'SpawnerError';
}

/**
 * The spawner could not start a job process. Shaped like Node's own spawn errors (`code`) so
 * code that inspects a cause keeps working; `thrown` says whether spawn() threw (invalid
 * arguments) rather than reporting an 'error' event (ENOENT, EAGAIN…).
 */
export class ChildSpawnError extends JobwireError {
  override readonly name: string = 'ChildSpawnError';
  readonly code: string | undefined;
  readonly thrown: boolean;

  constructor(message: string, options: { code: string | undefined; thrown: boolean; cause?: unknown }) {
    super(message, options);
    this.code = options.code;
    this.thrown = options.thrown;
  }
}
