import type { RetryPolicy } from '../config/types.js';

/**
 * Delay before the next attempt after `attempt` failed: exponential (backoff · 2^(attempt-1)),
 * capped, with "equal jitter" (half fixed, half random) so that a burst of runs failing together
 * does not retry in lock-step.
 */
export function retryDelayMs(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const exponential = policy.backoffMs * 2 ** Math.max(0, attempt - 1);
  const capped = Math.min(policy.maxBackoffMs, exponential);
  return Math.round(capped / 2 + random() * (capped / 2));
}
