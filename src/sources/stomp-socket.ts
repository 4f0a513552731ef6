/**
 * A plain TCP or TLS socket dressed as the WebSocket-like object @stomp/stompjs speaks through.
 *
 * Written here rather than taken from @stomp/tcp-wrapper because that wrapper can only open
 * plain TCP, and declares itself open on TCP connect: for TLS the STOMP CONNECT must wait for
 * `secureConnect`, and a handshake failure (bad CA, missing client certificate) must surface as
 * an error with its reason. Errors are reported asynchronously, never thrown, because stompjs
 * creates the socket inside a promise chain where a throw would be lost.
 */
import net from 'node:net';
import tls from 'node:tls';
import { StompSocketState, type IStompSocket } from '@stomp/stompjs';

export interface SocketTarget {
  readonly host: string;
  readonly port: number;
  /** Present for TLS: the options `tls.connect` gets (secure context, servername, …). */
  readonly tls?: tls.ConnectionOptions;
}

/** What stompjs hands `onclose`: the shape of a WebSocket CloseEvent, plus the socket error. */
export interface SocketCloseEvent {
  readonly wasClean: boolean;
  readonly type: 'CloseEvent';
  readonly code: number;
  readonly reason: string;
}

type Handler = ((event?: unknown) => unknown) | null | undefined;

export class NodeStompSocket implements IStompSocket {
  readonly url: string;
  readyState: StompSocketState = StompSocketState.CONNECTING;
  onclose: Handler = null;
  onerror: Handler = null;
  onmessage: Handler = null;
  onopen: Handler = null;
  binaryType?: string;
  private readonly socket: net.Socket | undefined;
  private corked = false;
  /** The first error seen, reported in the close event so the caller can say why. */
  private lastError: Error | undefined;

  constructor(target: SocketTarget) {
    this.url = `${target.tls === undefined ? 'tcp' : 'tls'}://${target.host}:${target.port}`;
    try {
      this.socket =
        target.tls === undefined
          ? net.connect({ host: target.host, port: target.port })
          : tls.connect({ ...target.tls, host: target.host, port: target.port });
    } catch (error) {
      // E.g. an unusable key: report it the way a failed connection is reported.
      const failure = error instanceof Error ? error : new Error(String(error));
      setImmediate(() => {
        this.fail(failure);
        this.closed(true);
      });
      return;
    }
    const socket = this.socket;
    // Frames written in one turn of the event loop (a burst of ACKs) leave as one segment: the
    // socket is corked on the first write and uncorked once the turn is over. With that, Nagle's
    // delay buys nothing and is switched off, so a lone frame (a SEND awaiting its RECEIPT, a
    // heart-beat) is never held back.
    socket.setNoDelay(true);
    socket.on(target.tls === undefined ? 'connect' : 'secureConnect', () => {
      this.readyState = StompSocketState.OPEN;
      this.onopen?.();
    });
    socket.on('data', (chunk: Buffer) => {
      // stompjs copies what it is given into a Uint8Array; a Buffer is one already.
      this.onmessage?.({ data: chunk });
    });
    socket.on('error', (error: Error) => this.fail(error));
    socket.on('close', (hadError: boolean) => this.closed(hadError));
  }

  /** Why the socket failed, if it did (connection refused, TLS handshake error, …). */
  get error(): Error | undefined {
    return this.lastError;
  }

  send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
    const socket = this.socket;
    if (socket === undefined || this.readyState !== StompSocketState.OPEN) return;
    if (!this.corked) {
      this.corked = true;
      socket.cork();
      setImmediate(() => {
        this.corked = false;
        socket.uncork();
      });
    }
    if (typeof data === 'string') socket.write(data, 'utf8');
    else if (ArrayBuffer.isView(data)) socket.write(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    else if (data instanceof ArrayBuffer || data instanceof SharedArrayBuffer) socket.write(new Uint8Array(data));
    else throw new TypeError('NodeStompSocket cannot send a Blob');
  }

  /** Half-closes after flushing what was written (DISCONNECT must reach the broker). */
  close(): void {
    if (this.readyState === StompSocketState.CLOSED) return;
    this.readyState = StompSocketState.CLOSING;
    this.socket?.end();
    // A peer that never answers the FIN must not keep the socket (and stop()) forever.
    setTimeout(() => this.socket?.destroy(), 2000).unref();
  }

  /** Drops the connection at once (heartbeat lost, connect timeout). */
  terminate(): void {
    if (this.readyState === StompSocketState.CLOSED) return;
    this.readyState = StompSocketState.CLOSING;
    this.socket?.destroy();
  }

  private fail(error: Error): void {
    this.lastError ??= error;
    this.onerror?.({ type: 'error', error, message: error.message });
  }

  private closed(hadError: boolean): void {
    if (this.readyState === StompSocketState.CLOSED) return;
    this.readyState = StompSocketState.CLOSED;
    const event: SocketCloseEvent = {
      wasClean: !hadError && this.lastError === undefined,
      type: 'CloseEvent',
      code: hadError ? 1006 : 1000,
      reason: this.lastError?.message ?? (hadError ? 'connection failed' : 'connection closed'),
    };
    this.onclose?.(event);
  }
}
