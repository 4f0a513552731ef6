/**
 * Delivers outbox entries to an HTTP endpoint: one POST per event, structured-mode CloudEvents
 * (`content-type: application/cloudevents+json`), one at a time so the receiver sees them in
 * order. A 2xx answer is delivered; 408, 429, 5xx, a timeout or a connection error is retried by
 * the relay with backoff; any other 4xx means the receiver will never take it (PermanentError).
 * Uses Node's own fetch (undici, keep-alive).
 */
import { errorMessage, PermanentError, RetryableError } from '../core/errors.js';
import type { OutboxRecord } from '../store/store.js';
import type { Deliverer, OutboundPayload } from './deliverer.js';

export interface WebhookDelivererOptions {
  readonly target: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly maxPending?: number;
}

const RETRIED_STATUSES: ReadonlySet<number> = new Set([408, 425, 429]);

export class WebhookDeliverer implements Deliverer {
  readonly target: string;
  readonly pipelined = false;
  readonly maxPending: number | undefined;
  #lastError: string | undefined;
  #delivered = 0;

  constructor(private readonly options: WebhookDelivererOptions) {
    this.target = options.target;
    this.maxPending = options.maxPending;
  }

  async deliver(entry: OutboxRecord, payload: OutboundPayload): Promise<void> {
    let response: Response;
    try {
      response = await fetch(this.options.url, {
        method: 'POST',
        headers: { ...payload.headers, ...this.options.headers, 'ce-id': entry.id },
        body: payload.body,
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      // Drain the body so the connection goes back to the pool.
      await response.arrayBuffer();
    } catch (error) {
      this.#lastError = `POST failed: ${errorMessage(error)}`;
      throw new RetryableError(this.#lastError, { cause: error });
    }
    if (response.ok) {
      this.#delivered++;
      this.#lastError = undefined;
      return;
    }
    this.#lastError = `answered ${response.status}`;
    if (response.status >= 500 || RETRIED_STATUSES.has(response.status)) throw new RetryableError(`webhook ${this.#lastError}`);
    throw new PermanentError(`webhook ${this.#lastError}: the receiver refuses this event`);
  }

  describe(): Readonly<Record<string, unknown>> {
    return { type: 'webhook', url: redact(this.options.url), delivered: this.#delivered, lastError: this.#lastError ?? null };
  }

  async close(): Promise<void> {}
}

/** The URL without credentials or query (tokens often travel there). */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return '<invalid url>';
  }
}
