/**
 * Retries of Kubernetes API calls. An API server under load answers 429 with Retry-After
 * (priority and fairness), restarts answer 5xx or drop connections, a slow etcd times out: all of
 * that passes, so a call is tried again with exponential backoff and jitter (Retry-After, when
 * given, wins) before its caller gives up. Errors that will not pass (403, 404, 409, 422…) are
 * returned at once as a KubeApiError carrying the status and the API server's own message.
 *
 * Every try first takes a token from the executor's rate limiter, so retries are rate-limited too.
 */
import { ApiException } from '@kubernetes/client-node';
import { errorMessage, JobwireError } from '../../core/errors.js';
import type { RateLimiter } from './rate-limiter.js';

export interface ApiRetryPolicy {
  /** Tries in all, the first included. */
  readonly attempts: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** A Retry-After longer than this is cut to it. */
  readonly maxRetryAfterMs: number;
}

export const DEFAULT_API_RETRY: ApiRetryPolicy = { attempts: 6, initialDelayMs: 250, maxDelayMs: 10_000, maxRetryAfterMs: 60_000 };

/** A failed API call, with what the API server said (a `Status` object) when it said anything. */
export class KubeApiError extends JobwireError {
  override readonly name = 'KubeApiError';
  /** HTTP status, or undefined when no answer came (connection error, timeout). */
  readonly status: number | undefined;
  /** The Status object's `reason` (`AlreadyExists`, `Forbidden`, `Invalid`, `NotFound`…). */
  readonly reason: string | undefined;
  /** Whether trying again may help. */
  readonly transient: boolean;
  readonly retryAfterMs: number | undefined;

  constructor(
    message: string,
    details: { status?: number; reason?: string; transient: boolean; retryAfterMs?: number; cause?: unknown },
  ) {
    super(message, { cause: details.cause });
    this.status = details.status;
    this.reason = details.reason;
    this.transient = details.transient;
    this.retryAfterMs = details.retryAfterMs;
  }
}

/** Statuses that mean "not now": rate limited, server busy or restarting, a timeout on its side. */
const TRANSIENT_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

/** Turns whatever the client library threw into a KubeApiError; `what` names the call. */
export function toKubeApiError(error: unknown, what: string): KubeApiError {
  if (error instanceof KubeApiError) return error;
  if (error instanceof ApiException) {
    const status = error.code;
    const body = parseStatusBody(error.body);
    const retryAfterMs = parseRetryAfter(headerValue(error.headers, 'retry-after'));
    const said = body.message ?? (typeof error.body === 'string' && error.body.trim() !== '' ? error.body.trim().slice(0, 500) : undefined);
    return new KubeApiError(`${what}: HTTP ${status}${body.reason === undefined ? '' : ` ${body.reason}`}${said === undefined ? '' : `: ${said}`}`, {
      status,
      ...(body.reason === undefined ? {} : { reason: body.reason }),
      transient: TRANSIENT_STATUSES.has(status),
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      cause: error,
    });
  }
  // node-fetch: FetchError (type 'system' with an errno code, or a timeout), AbortError.
  const name = error instanceof Error ? error.name : '';
  const code = typeof error === 'object' && error !== null && 'code' in error ? String((error as { code: unknown }).code) : undefined;
  if (name === 'AbortError' || name === 'TimeoutError') {
    return new KubeApiError(`${what}: no answer in time`, { transient: true, cause: error });
  }
  if (name === 'FetchError' || (code !== undefined && /^E[A-Z]+$/.test(code))) {
    return new KubeApiError(`${what}: ${errorMessage(error)}`, { transient: true, cause: error });
  }
  return new KubeApiError(`${what}: ${errorMessage(error)}`, { transient: false, cause: error });
}

export interface RetryContext {
  readonly limiter: RateLimiter;
  readonly policy: ApiRetryPolicy;
  /** Told before each wait, for logging. */
  readonly onRetry?: (error: KubeApiError, attempt: number, delayMs: number) => void;
  /** Stops waiting between tries (executor closed). */
  readonly signal?: AbortSignal;
}

/** Calls `call` until it succeeds, fails for good, or the tries are used up; throws KubeApiError. */
export async function withRetry<T>(what: string, call: () => Promise<T>, context: RetryContext): Promise<T> {
  const { policy } = context;
  for (let attempt = 1; ; attempt++) {
    await context.limiter.acquire();
    try {
      return await call();
    } catch (thrown) {
      const error = toKubeApiError(thrown, what);
      if (!error.transient || attempt >= policy.attempts || context.signal?.aborted === true) throw error;
      const delayMs = retryDelayMs(policy, attempt, error.retryAfterMs);
      context.onRetry?.(error, attempt, delayMs);
      await sleep(delayMs, context.signal);
    }
  }
}

/** Retry-After when the server gave one (capped), else exponential backoff with jitter. */
export function retryDelayMs(policy: ApiRetryPolicy, attempt: number, retryAfterMs: number | undefined): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, policy.maxRetryAfterMs);
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (attempt - 1));
  // "Equal jitter": at least half the backoff, so retries never bunch up at zero.
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

/** Retry-After as delta-seconds (what the API server sends) or an HTTP date. */
export function parseRetryAfter(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function headerValue(headers: Readonly<Record<string, string>> | undefined, name: string): string | undefined {
  if (headers === undefined) return undefined;
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return value;
  return undefined;
}

/** The `message` and `reason` of a `Status` body, whether it arrived parsed or as text. */
function parseStatusBody(body: unknown): { message?: string; reason?: string } {
  let value = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      return {};
    }
  }
  if (typeof value !== 'object' || value === null) return {};
  const { message, reason } = value as { message?: unknown; reason?: unknown };
  return {
    ...(typeof message === 'string' && message !== '' ? { message } : {}),
    ...(typeof reason === 'string' && reason !== '' ? { reason } : {}),
  };
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
