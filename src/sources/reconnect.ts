/**
 * Reconnect delays shared by every broker source: exponential with "full jitter" (a random delay
 * between 0 and the exponential bound), so that many jobwire replicas losing the same broker do
 * not reconnect in lock-step.
 */
export function reconnectDelayMs(attempt: number, policy: { readonly initialMs: number; readonly maxMs: number }, random: () => number = Math.random): number {
  const bound = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.max(0, attempt - 1));
  return Math.max(policy.initialMs / 2, Math.round(random() * bound));
}
