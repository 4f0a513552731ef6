/**
 * Error classes carry an explicit `name` (it survives minification and is what the API returns
 * as `error`) and a `cause`. Their class tells the caller what to do with the failure.
 */
export class JobwireError extends Error {
  override readonly name: string = 'JobwireError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The caller's fault: bad input. Never retried; answered with a 4xx. */
export class InvalidInputError extends JobwireError {
  override readonly name: string = 'InvalidInputError';
}

/** The request's content type is not one the endpoint reads (HTTP 415). */
export class UnsupportedMediaTypeError extends InvalidInputError {
  override readonly name: string = 'UnsupportedMediaTypeError';
}

export class NotFoundError extends JobwireError {
  override readonly name: string = 'NotFoundError';
}

/** The requested change is not allowed in the current state (e.g. cancel a finished run). */
export class ConflictError extends JobwireError {
  override readonly name: string = 'ConflictError';
}

/** Too much work waits already (`dispatcher.maxQueuedRuns`): come back later (HTTP 429 with Retry-After). */
export class BackpressureError extends JobwireError {
  override readonly name: string = 'BackpressureError';
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A failure that may pass: the dispatcher retries the attempt if the job allows it. */
export class RetryableError extends JobwireError {
  override readonly name: string = 'RetryableError';
}

/** A failure that will not pass by trying again (bad spec, missing file): give up at once. */
export class PermanentError extends JobwireError {
  override readonly name: string = 'PermanentError';
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
