/**
 * One STOMP connection to one broker, on @stomp/stompjs with its own reconnect switched off: the
 * source decides when and where to reconnect (failover list, jittered backoff, status), and a
 * fresh connection object per attempt keeps no state across brokers.
 *
 * A connection ends for good on the first socket close or ERROR frame (STOMP 1.2 says the
 * server closes after ERROR); `closed` then resolves with the reason and every SEND still
 * waiting for its RECEIPT fails, so nothing waits forever on a dead socket.
 */
import { Client, Versions, type IFrame, type IMessage, type StompHeaders } from '@stomp/stompjs';
import type tls from 'node:tls';
import { JobwireError, errorMessage } from '../core/errors.js';
import { NodeStompSocket, type SocketCloseEvent } from './stomp-socket.js';
import type { StompEndpoint, StompSettings } from './stomp-settings.js';

/** A STOMP connection could not be made, was lost, or the broker refused a frame. */
export class StompConnectionError extends JobwireError {
  override readonly name = 'StompConnectionError';
}

export interface StompConnectOptions {
  readonly settings: StompSettings;
  /** `tls.connect` options for TLS endpoints (from `loadStompTls`). */
  readonly tls: tls.ConnectionOptions | undefined;
}

interface PendingReceipt {
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export class StompConnection {
  /** Resolves (never rejects) with the reason once the connection has ended. */
  readonly closed: Promise<string>;
  private resolveClosed!: (reason: string) => void;
  private open = true;
  private nextReceipt = 0;
  private readonly receipts = new Map<string, PendingReceipt>();

  private constructor(
    readonly endpoint: StompEndpoint,
    private readonly client: Client,
    private readonly receiptTimeoutMs: number,
  ) {
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
  }

  /** Connects to one endpoint; resolves once the broker answered CONNECTED. */
  static connect(endpoint: StompEndpoint, options: StompConnectOptions): Promise<StompConnection> {
    const { settings } = options;
    let socket: NodeStompSocket | undefined;
    const client = new Client({
      webSocketFactory: () => {
        socket = new NodeStompSocket({
          host: endpoint.host,
          port: endpoint.port,
          ...(endpoint.secure ? { tls: { ...options.tls, servername: options.tls?.servername ?? serverName(endpoint.host) } } : {}),
        });
        return socket;
      },
      connectHeaders: {
        host: settings.vhost ?? endpoint.host,
        ...(settings.login === undefined ? {} : { login: settings.login }),
        ...(settings.passcode === undefined ? {} : { passcode: settings.passcode }),
        ...(settings.clientId === undefined ? {} : { 'client-id': settings.clientId }),
      },
      stompVersions: new Versions([Versions.V1_2, Versions.V1_1]),
      heartbeatIncoming: settings.heartbeatMs,
      heartbeatOutgoing: settings.heartbeatMs,
      // Our own loop reconnects (failover + jitter); a dead socket is dropped, not half-closed.
      reconnectDelay: 0,
      discardWebsocketOnCommFailure: true,
      debug: () => {},
    });
    const connection = new StompConnection(endpoint, client, settings.receiptTimeoutMs);
    return new Promise<StompConnection>((resolve, reject) => {
      let connected = false;
      let stompError: string | undefined;
      // Our own timer rather than stompjs's, so the failure says what happened.
      const timer = setTimeout(() => {
        stompError = `no CONNECTED frame within ${settings.connectTimeoutMs} ms`;
        client.forceDisconnect();
      }, settings.connectTimeoutMs);
      client.onConnect = () => {
        clearTimeout(timer);
        connected = true;
        resolve(connection);
      };
      client.onStompError = (frame: IFrame) => {
        stompError = describeErrorFrame(frame);
        connection.failReceipt(frame.headers['receipt-id'], stompError);
        // The broker closes after ERROR; do not wait for it.
        client.forceDisconnect();
      };
      client.onWebSocketClose = (event: unknown) => {
        clearTimeout(timer);
        const reason = stompError ?? socket?.error?.message.trim() ?? closeReason(event);
        if (!connected) {
          reject(new StompConnectionError(`${endpoint.display}: ${reason}`, { cause: socket?.error }));
        }
        connection.ended(reason);
        void client.deactivate();
      };
      client.activate();
    });
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** Subscribes; resolves once the broker confirmed with a RECEIPT, so nothing sent later is missed. */
  subscribe(destination: string, headers: StompHeaders, onMessage: (message: IMessage) => void): Promise<void> {
    const receipt = this.newReceipt();
    const confirmed = this.awaitReceipt(receipt, `SUBSCRIBE ${destination}`);
    this.client.subscribe(destination, onMessage, { ...headers, receipt });
    return confirmed;
  }

  /** Acknowledges one message; false when the connection is gone (the broker will redeliver). */
  ack(message: IMessage): boolean {
    if (!this.open) return false;
    message.ack();
    return true;
  }

  /** Rejects one message (ActiveMQ: poison ack, straight to its dead-letter queue). */
  nack(message: IMessage): boolean {
    if (!this.open) return false;
    message.nack();
    return true;
  }

  /** SENDs with a receipt; resolves when the broker confirmed it has the message. */
  send(destination: string, body: Uint8Array, headers: StompHeaders): Promise<void> {
    if (!this.open) return Promise.reject(new StompConnectionError(`${this.endpoint.display}: not connected`));
    const receipt = this.newReceipt();
    const confirmed = this.awaitReceipt(receipt, `SEND ${destination}`);
    this.client.publish({ destination, binaryBody: body, headers: { ...headers, receipt } });
    return confirmed;
  }

  /** DISCONNECT politely (bounded), then drop the socket. Unacknowledged messages return to the broker. */
  async close(timeoutMs = 5000): Promise<void> {
    if (!this.open) return;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    await Promise.race([this.client.deactivate(), timedOut]);
    clearTimeout(timer);
    if (this.open) await this.client.deactivate({ force: true });
    this.ended('closed by jobwire');
  }

  /** Drops the connection at once with a reason (e.g. to get unacknowledged messages redelivered). */
  abort(reason: string): void {
    if (!this.open) return;
    this.ended(reason);
    void this.client.deactivate({ force: true });
  }

  private newReceipt(): string {
    this.nextReceipt += 1;
    return `jobwire-${this.nextReceipt}`;
  }

  private awaitReceipt(receipt: string, what: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.receipts.delete(receipt);
        reject(new StompConnectionError(`${this.endpoint.display}: no RECEIPT for ${what} within ${this.receiptTimeoutMs} ms`));
      }, this.receiptTimeoutMs);
      this.receipts.set(receipt, { resolve, reject, timer });
      this.client.watchForReceipt(receipt, () => {
        clearTimeout(timer);
        this.receipts.delete(receipt);
        resolve();
      });
    });
  }

  private failReceipt(receipt: string | undefined, reason: string): void {
    const pending = receipt === undefined ? undefined : this.receipts.get(receipt);
    if (pending === undefined || receipt === undefined) return;
    this.receipts.delete(receipt);
    clearTimeout(pending.timer);
    pending.reject(new StompConnectionError(`${this.endpoint.display}: ${reason}`));
  }

  private ended(reason: string): void {
    if (!this.open) return;
    this.open = false;
    for (const [receipt, pending] of this.receipts) {
      this.receipts.delete(receipt);
      clearTimeout(pending.timer);
      pending.reject(new StompConnectionError(`${this.endpoint.display}: connection ended before the RECEIPT: ${reason}`));
    }
    this.resolveClosed(reason);
  }
}

/** Tries each endpoint in order; the first that answers wins. Throws with every endpoint's reason. */
export async function connectInTurn(options: StompConnectOptions): Promise<StompConnection> {
  const failures: string[] = [];
  let lastError: unknown;
  for (const endpoint of options.settings.endpoints) {
    try {
      return await StompConnection.connect(endpoint, options);
    } catch (error) {
      lastError = error;
      failures.push(errorMessage(error));
    }
  }
  throw new StompConnectionError(failures.join('; '), { cause: lastError });
}

/** Node refuses an IP address as TLS SNI; the certificate is still checked against it. */
function serverName(host: string): string | undefined {
  return /^[\d.]+$|:/.test(host) ? undefined : host;
}

function describeErrorFrame(frame: IFrame): string {
  const message = frame.headers['message'] ?? 'ERROR frame';
  const body = frame.body.trim().split('\n')[0]?.trim() ?? '';
  return body === '' || body === message ? `broker error: ${message}` : `broker error: ${message} (${body})`;
}

function closeReason(event: unknown): string {
  const reason = (event as Partial<SocketCloseEvent> | undefined)?.reason;
  return typeof reason === 'string' && reason !== '' ? reason : 'connection closed';
}
