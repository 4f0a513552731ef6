/**
 * A NATS source's connection state, fed by the client's status events. The client reconnects by
 * itself (unlimited attempts); this class gives it jobwire's backoff (exponential, full jitter),
 * logs every attempt with the source name and keeps `status()` truthful: `reconnecting` with the
 * attempt number and last error while the server is away, `connected` again once it is back.
 *
 * The client asks for the delay on every turn of its dial loop, not once per attempt, so the
 * delay is drawn once per attempt and repeated until the next attempt starts; otherwise fresh
 * random draws on each turn would shorten the waits.
 */
import type { NatsConnection, Status } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { errorMessage } from '../core/errors.js';
import { reconnectDelayMs } from './reconnect.js';
import type { SourceStatus } from './source.js';

export interface ReconnectPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
}

export class NatsConnectionState {
  private state: SourceStatus = { state: 'starting' };
  private attempt = 0;
  private attemptStartedAt = 0;
  private lastError = '';
  private drawn: { readonly attempt: number; readonly delayMs: number } | undefined;

  /** `logger` carries the source's name, so every line says which source is reconnecting. */
  constructor(
    private readonly policy: ReconnectPolicy,
    private readonly logger: Logger,
  ) {}

  status(): SourceStatus {
    return this.state;
  }

  /** The delay before the next attempt; handed to the client as `reconnectDelayHandler`. */
  readonly delayHandler = (): number => this.nextDelayMs();

  /** Called by jobwire's own loop (first connection or set-up, or after the client gave up). */
  failed(error: unknown): number {
    this.lastError = errorMessage(error);
    this.attempt += 1;
    this.attemptStartedAt = Date.now();
    const delayMs = this.nextDelayMs();
    this.setReconnecting(this.attemptStartedAt + delayMs);
    this.logger.warn(
      { attempt: this.attempt, delayMs, err: this.lastError },
      `NATS source not ready (cannot connect, or the server lacks what the config needs); next attempt in ${delayMs} ms`,
    );
    return delayMs;
  }

  connected(server: string): void {
    const after = this.attempt;
    this.attempt = 0;
    this.drawn = undefined;
    this.state = { state: 'connected', since: Date.now() };
    this.logger.info({ server, ...(after > 0 ? { attempts: after } : {}) }, 'connected to NATS');
  }

  stopped(): void {
    this.state = { state: 'stopped' };
  }

  /** Follows the client's status events until the connection closes. */
  async watch(connection: NatsConnection): Promise<void> {
    for await (const event of connection.status()) this.onStatus(event);
  }

  private onStatus(event: Status): void {
    const log = this.logger;
    switch (event.type) {
      case 'disconnect':
        this.attempt = 0;
        this.lastError = `connection to ${event.server} lost`;
        this.attemptStartedAt = Date.now();
        // The client dials again at once after a loss; backoff starts with the second attempt.
        this.setReconnecting(this.attemptStartedAt);
        log.warn({ server: event.server }, 'lost the connection to NATS; reconnecting');
        break;
      case 'reconnecting':
        // One event per dial: the attempt that starts now.
        this.attempt += 1;
        this.attemptStartedAt = Date.now();
        this.setReconnecting(this.attemptStartedAt + this.nextDelayMs());
        log.warn({ attempt: this.attempt, lastError: this.lastError }, `reconnecting to NATS (attempt ${this.attempt})`);
        break;
      case 'reconnect':
        this.connected(event.server);
        break;
      case 'error':
        this.lastError = errorMessage(event.error);
        log.warn({ err: this.lastError }, 'NATS reported an error');
        break;
      case 'staleConnection':
        this.lastError = 'the server stopped answering pings';
        log.warn('NATS connection is stale; reconnecting');
        break;
      case 'ldm':
        log.info({ server: event.server }, 'NATS server entered lame duck mode; will move to another server');
        break;
      case 'slowConsumer':
        log.warn({ subject: event.sub.getSubject(), pending: event.pending }, 'NATS slow consumer: the client buffer is full');
        break;
      default:
        break;
    }
  }

  private setReconnecting(nextTryAt: number): void {
    this.state = { state: 'reconnecting', attempt: Math.max(1, this.attempt), lastError: this.lastError, nextTryAt };
  }

  private nextDelayMs(): number {
    const attempt = Math.max(1, this.attempt);
    if (this.drawn?.attempt !== attempt) this.drawn = { attempt, delayMs: reconnectDelayMs(attempt, this.policy) };
    return this.drawn.delayMs;
  }
}
