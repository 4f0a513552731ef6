/**
 * jobwire's view of one job process running under the spawner: its pid (jobwire signals the
 * process group directly, without a round trip), its latest log snapshot, and how it ended.
 */
import type { CapturedLog } from '../executor.js';
import type { SpawnerError } from './errors.js';
import type { ExitedReply, Request } from './protocol.js';

export type ChildEnd =
  | {
      readonly kind: 'exited';
      readonly code: number | null;
      readonly signal: string | null;
      /** An 'error' the child emitted after it had started. */
      readonly error: Error | undefined;
      readonly log: CapturedLog;
      /** When the spawner saw the end, ms since the epoch. */
      readonly endedAt: number;
    }
  /** The spawner died: exit status and the rest of the log are unknowable. */
  | { readonly kind: 'lost'; readonly error: SpawnerError; readonly log: CapturedLog };

export interface SpawnedChild {
  readonly pid: number;
  /** When the process exec'd, by the spawner's clock (ms since the epoch). */
  readonly startedAt: number;
  /** Resolves once the spawner reports the end (exit and pipes closed), or is lost. */
  readonly ended: Promise<ChildEnd>;
  /**
   * The log so far, asked of the spawner (one request in flight at a time, shared by every
   * caller waiting). Only snapshots cross the channel, never the raw output.
   */
  readLog(): Promise<CapturedLog>;
  /** Stop waiting for the pipes: end as soon as the leader has exited. */
  releasePipes(): void;
  /** Its end is recorded durably (in the store): the spawner may forget it. */
  release(): void;
}

const EMPTY_LOG: CapturedLog = { text: '', droppedBytes: 0, totalBytes: 0 };

export class RemoteChild implements SpawnedChild {
  readonly id: number;
  readonly pid: number;
  readonly startedAt: number;
  readonly ended: Promise<ChildEnd>;
  readonly #send: (request: Request) => void;
  #resolve!: (end: ChildEnd) => void;
  #snapshot: CapturedLog = EMPTY_LOG;
  #peekInFlight = false;
  #waiters: ((log: CapturedLog) => void)[] = [];
  #ended = false;
  #released = false;

  constructor(id: number, pid: number, startedAt: number, send: (request: Request) => void) {
    this.id = id;
    this.pid = pid;
    this.startedAt = startedAt;
    this.#send = send;
    this.ended = new Promise((resolve) => (this.#resolve = resolve));
  }

  readLog(): Promise<CapturedLog> {
    if (this.#ended) return Promise.resolve(this.#snapshot);
    return new Promise((resolve) => {
      this.#waiters.push(resolve);
      if (this.#peekInFlight) return;
      this.#peekInFlight = true;
      this.#send({ type: 'peek', id: this.id });
    });
  }

  #answerWaiters(): void {
    for (const resolve of this.#waiters.splice(0)) resolve(this.#snapshot);
  }

  releasePipes(): void {
    if (!this.#ended) this.#send({ type: 'release-pipes', id: this.id });
  }

  release(): void {
    if (this.#released || !this.#ended) return;
    this.#released = true;
    this.#send({ type: 'forget', id: this.id });
  }

  /** A `peeked` reply arrived. */
  peeked(log: CapturedLog): void {
    this.#peekInFlight = false;
    this.#snapshot = log;
    this.#answerWaiters();
  }

  exited(reply: ExitedReply): void {
    const error = reply.error === null ? undefined : Object.assign(new Error(reply.error.message), { code: reply.error.code });
    this.#end({ kind: 'exited', code: reply.code, signal: reply.signal, error, log: reply.log, endedAt: reply.endedAt });
  }

  /** The spawner is gone; the last snapshot is all of the log there will ever be. */
  lost(error: SpawnerError): void {
    this.#end({ kind: 'lost', error, log: this.#snapshot });
  }

  #end(end: ChildEnd): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#snapshot = end.log;
    this.#answerWaiters();
    this.#resolve(end);
  }
}
