/**
 * jobwire's side of the spawner (see main.ts for why it exists). The client starts the helper
 * process lazily on the first spawn and again after it died; a spawn costs jobwire's main thread
 * one request line and one reply line.
 *
 * If the helper dies, every spawn waiting for its reply fails with SpawnerError and every child
 * it supervised ends as `lost` — after its process group was killed, because nothing could
 * capture its output or report its exit any more, and a retry must not race a survivor.
 *
 * While nothing is in flight the helper's handles are unref'd, so an idle spawner never keeps
 * jobwire alive; when jobwire exits the helper sees EOF and follows.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { errorMessage } from '../../core/errors.js';
import { signalGroup } from '../process-group.js';
import { ChildSpawnError, SpawnerError } from './errors.js';
import { LineWriter, readLines } from './line-channel.js';
import { encode, maxReplyLine, parseReply, type Reply, type Request } from './protocol.js';
import { RemoteChild, type SpawnedChild } from './remote-child.js';

export type { ChildEnd, SpawnedChild } from './remote-child.js';

export interface SpawnerClientOptions {
  /** The largest log any spawn asks for; bounds the reply lines the client accepts. */
  readonly maxLogBytes: number;
}

export interface SpawnOptions {
  /** Spawned exactly as given: no shell, argv[0] looked up in PATH. */
  readonly argv: readonly string[];
  readonly cwd: string;
  /** The child's whole environment. */
  readonly env: Readonly<Record<string, string>>;
  readonly maxLogBytes: number;
}

/** The compiled helper, next to this file in dist/. */
const HELPER_ENTRY = fileURLToPath(new URL('./main.js', import.meta.url));
/**
 * fork() and the child's exec get slower with every page and thread the forking process has, so
 * the helper keeps both small: a 1 MiB young generation (it holds little live data) and one V8
 * worker thread. Measured on a 2-core VM: ~9% less spawner CPU per spawn than the defaults.
 */
const HELPER_FLAGS = ['--max-semi-space-size=1', '--v8-pool-size=1'];

export class SpawnerClient {
  readonly #maxLineLength: number;
  #connection: Connection | undefined;
  /** Request ids; unique for the client's lifetime, so a reply can never reach the wrong run. */
  #nextId = 1;
  #closed = false;

  constructor(options: SpawnerClientOptions) {
    this.#maxLineLength = maxReplyLine(options.maxLogBytes);
  }

  /**
   * Starts a child; resolves once it has spawned (exec'd). Rejects with ChildSpawnError when the
   * command cannot start, SpawnerError when the helper failed.
   */
  spawn(options: SpawnOptions): Promise<SpawnedChild> {
    if (this.#closed) return Promise.reject(new SpawnerError('the process spawner was closed'));
    this.warm();
    const connection = this.#connection;
    if (connection === undefined) return Promise.reject(new SpawnerError('the process spawner could not be started'));
    return connection.spawn(this.#nextId++, options);
  }

  /** Starts the helper now, so the first spawn does not wait for it. Idle, it holds nothing open. */
  warm(): void {
    if (this.#closed) return;
    this.#connection ??= new Connection(this.#maxLineLength, (gone) => {
      if (this.#connection === gone) this.#connection = undefined;
    });
  }

  /** The helper's pid, while one is running (for diagnostics and tests). */
  get helperPid(): number | undefined {
    return this.#connection?.pid;
  }

  /** Ends the helper and waits for it to exit. Children still running are killed. */
  async close(): Promise<void> {
    this.#closed = true;
    const connection = this.#connection;
    this.#connection = undefined;
    await connection?.close();
  }
}

interface PendingSpawn {
  readonly command: string;
  readonly resolve: (child: SpawnedChild) => void;
  readonly reject: (error: Error) => void;
}

/** One helper process and the requests in flight on its channel. */
class Connection {
  readonly #process: ChildProcessByStdio<Writable, Readable, null>;
  readonly #writer: LineWriter;
  readonly #pending = new Map<number, PendingSpawn>();
  readonly #children = new Map<number, RemoteChild>();
  readonly #closed: Promise<void>;
  readonly #onGone: (connection: Connection) => void;
  /** Why we ended the helper ourselves, when we did; otherwise its exit status says why. */
  #endReason: string | undefined;
  /** Called once no spawn waits for its reply any more. */
  readonly #noPending: (() => void)[] = [];
  #gone = false;
  #closing = false;
  #referenced = true;

  constructor(maxLineLength: number, onGone: (connection: Connection) => void) {
    this.#onGone = onGone;
    this.#process = spawn(process.execPath, [...HELPER_FLAGS, HELPER_ENTRY], { stdio: ['pipe', 'pipe', 'inherit'] });
    const helper = this.#process;
    this.#writer = new LineWriter(helper.stdin);
    // EPIPE when the helper died with requests queued: 'close' reports it, with a better reason.
    helper.stdin.on('error', () => undefined);
    readLines(helper.stdout, {
      maxLineLength,
      onLine: (line) => this.#receive(line),
      onError: (error) => this.#kill(`the process spawner broke the protocol: ${error.message}`),
    });
    this.#closed = new Promise((resolve) => {
      // 'on', not 'once': a failed kill() is reported here too, and must not crash jobwire.
      helper.on('error', (error) => {
        // A helper that never started may get no 'close'.
        if (helper.pid === undefined) {
          this.#lost(`cannot start the process spawner: ${errorMessage(error)}`);
          resolve();
        }
      });
      helper.once('close', (code, signal) => {
        const status = signal === null ? `exit code ${code}` : `signal ${signal}`;
        this.#lost(this.#endReason ?? `the process spawner (pid ${helper.pid}) exited unexpectedly (${status})`);
        resolve();
      });
    });
    this.#updateRef();
  }

  get pid(): number | undefined {
    return this.#process.pid;
  }

  spawn(id: number, options: SpawnOptions): Promise<SpawnedChild> {
    if (this.#gone) return Promise.reject(new SpawnerError('the process spawner is gone'));
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { command: options.argv[0] ?? '', resolve, reject });
      this.#updateRef();
      const { argv, cwd, env, maxLogBytes } = options;
      this.#send({ type: 'spawn', id, argv, cwd, env, maxLogBytes });
    });
  }

  async close(): Promise<void> {
    this.#endReason ??= 'the process executor was closed';
    // Whoever awaits close() waits for the helper's exit, so the loop must wait for it too.
    this.#closing = true;
    this.#updateRef();
    // A spawn already on its way gets its answer first: the helper exits at EOF without
    // replying, and a child it started then would be nobody's.
    if (this.#pending.size > 0) await new Promise<void>((resolve) => this.#noPending.push(resolve));
    this.#writer.flush();
    this.#process.stdin.end();
    await this.#closed;
  }

  #send(request: Request): void {
    this.#writer.write(encode(request));
  }

  #receive(line: string): void {
    if (this.#gone) return;
    let reply: Reply;
    try {
      reply = parseReply(line);
    } catch (error) {
      this.#kill(`the process spawner broke the protocol: ${errorMessage(error)}`);
      return;
    }
    switch (reply.type) {
      case 'spawned': {
        const pending = this.#takePending(reply.id);
        if (pending === undefined) return;
        const child = new RemoteChild(reply.id, reply.pid, (request) => this.#send(request));
        this.#children.set(reply.id, child);
        pending.resolve(child);
        return;
      }
      case 'spawn-error': {
        const pending = this.#takePending(reply.id);
        if (pending === undefined) return;
        this.#updateRef();
        pending.reject(new ChildSpawnError(reply.message, { code: reply.code ?? undefined, thrown: reply.thrown }));
        return;
      }
      case 'peeked':
        // A run that ended meanwhile has no snapshot to update; its `exited` came first.
        this.#children.get(reply.id)?.peeked(reply.log);
        return;
      case 'exited': {
        const child = this.#children.get(reply.id);
        if (child === undefined) {
          this.#kill(`the process spawner reported the end of an unknown run (${reply.id})`);
          return;
        }
        this.#children.delete(reply.id);
        this.#updateRef();
        child.exited(reply);
        return;
      }
    }
  }

  #takePending(id: number): PendingSpawn | undefined {
    const pending = this.#pending.get(id);
    if (pending === undefined) {
      this.#kill(`the process spawner answered a spawn that was never requested (${id})`);
      return undefined;
    }
    this.#pending.delete(id);
    if (this.#pending.size === 0) this.#notifyNoPending();
    return pending;
  }

  #notifyNoPending(): void {
    for (const resolve of this.#noPending.splice(0)) resolve();
  }

  /** Ends a helper we no longer trust; 'close' then fails everything in flight with `reason`. */
  #kill(reason: string): void {
    this.#endReason ??= reason;
    this.#process.kill('SIGKILL');
  }

  #lost(reason: string): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#onGone(this);
    const error = new SpawnerError(reason);
    for (const [id, pending] of this.#pending) {
      const message = `${reason}; cannot tell whether ${pending.command} (request ${id}) started`;
      pending.reject(new SpawnerError(message, { cause: error }));
    }
    this.#pending.clear();
    this.#notifyNoPending();
    for (const child of this.#children.values()) {
      signalGroup(child.pid, 'SIGKILL');
      child.lost(error);
    }
    this.#children.clear();
  }

  /** Keeps jobwire's event loop alive exactly while something is in flight or closing. */
  #updateRef(): void {
    const busy = this.#closing || this.#pending.size + this.#children.size > 0;
    if (busy === this.#referenced) return;
    this.#referenced = busy;
    const helper = this.#process;
    if (busy) helper.ref();
    else helper.unref();
    // The pipes are net.Sockets at run time; the reading one would otherwise hold the loop.
    for (const stream of [helper.stdin, helper.stdout]) {
      if (!(stream instanceof Socket)) continue;
      if (busy) stream.ref();
      else stream.unref();
    }
  }
}
