/**
 * Client-side rate limit on Kubernetes API requests: a token bucket (`qps` tokens a second, up
 * to `burst` saved), shared by every request of one executor, so a burst of 10,000 messages
 * turns into a steady stream of requests the API server (and its priority-and-fairness limits)
 * can take, as client-go's default limiter does. `qps: 0` turns it off.
 *
 * Each caller reserves the next token at once and sleeps until it is due, so callers are served
 * in arrival order and no timer is shared; a reservation is never given back (a request that is
 * then cancelled still counts, which only errs on the side of fewer requests).
 */

export interface RateLimiterStats {
  /** Tokens handed out. */
  readonly acquired: number;
  /** Of those, how many had to wait for their token. */
  readonly waited: number;
}

export interface RateLimiter {
  /** Resolves when the caller may send one request. */
  acquire(): Promise<void>;
  stats(): RateLimiterStats;
}

export function createRateLimiter(options: { qps: number; burst: number; now?: () => number }): RateLimiter {
  if (!(options.qps > 0)) return new Unlimited();
  return new TokenBucket(options.qps, Math.max(1, Math.floor(options.burst)), options.now ?? (() => performance.now()));
}

class Unlimited implements RateLimiter {
  #acquired = 0;

  acquire(): Promise<void> {
    this.#acquired++;
    return Promise.resolve();
  }

  stats(): RateLimiterStats {
    return { acquired: this.#acquired, waited: 0 };
  }
}

class TokenBucket implements RateLimiter {
  readonly #perMs: number;
  readonly #burst: number;
  readonly #now: () => number;
  /** Tokens at `#at`; negative when callers have reserved tokens that are not there yet. */
  #tokens: number;
  #at: number;
  #acquired = 0;
  #waited = 0;

  constructor(qps: number, burst: number, now: () => number) {
    this.#perMs = qps / 1000;
    this.#burst = burst;
    this.#now = now;
    this.#tokens = burst;
    this.#at = now();
  }

  acquire(): Promise<void> {
    const now = this.#now();
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#at) * this.#perMs);
    this.#at = now;
    this.#tokens -= 1;
    this.#acquired++;
    if (this.#tokens >= 0) return Promise.resolve();
    this.#waited++;
    const waitMs = -this.#tokens / this.#perMs;
    return new Promise((resolve) => setTimeout(resolve, Math.ceil(waitMs)));
  }

  stats(): RateLimiterStats {
    return { acquired: this.#acquired, waited: this.#waited };
  }
}
