/**
 * jobwire's side of the spawner (see main.ts for why it exists and why it outlives jobwire). The
 * client starts the helper lazily on the first spawn and again after it died; a spawn costs
 * jobwire's main thread one request line and one reply line.
 *
 * With a state folder (`stateDir`, the data dir) the helper is persistent: started detached, it
 * listens on `<stateDir>/spawner.sock`, and a client first tries to attach to one already running
 * there — the one a previous jobwire left behind — and adopts its attempts (`adopt`). Without
 * one, the helper lives exactly as long as this client's channel.
 *
 * If the helper dies, every spawn waiting for its reply fails with SpawnerError and every child
 * it supervised ends as `lost` — after its process group was killed, because nothing could
 * capture its output or report its exit any more, and a retry must not race a survivor.
 *
 * While nothing is in flight the helper's handles are unref'd, so an idle spawner never keeps
 * jobwire alive.
 */
import { spawn } from 'node:child_process';
import { unlink } from 'node:fs/promises';
import { Socket, connect } from 'node:net';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { errorMessage } from '../../core/errors.js';
import { signalGroup } from '../process-group.js';
import { ChildSpawnError, SpawnerError } from './errors.js';
import { LineWriter, readLines } from './line-channel.js';
import { PROTOCOL_VERSION, encode, maxReplyLine, parseReply, type AttachedReply, type Reply, type Request } from './protocol.js';
import { RemoteChild, type SpawnedChild } from './remote-child.js';

export type { ChildEnd, SpawnedChild } from './remote-child.js';

export interface SpawnerClientOptions {
  /** The largest log any spawn asks for; bounds the reply lines the client accepts. */
  readonly maxLogBytes: number;
  /**
   * Folder of the persistent helper's socket (jobwire's data dir). Without it the helper dies
   * with this client and nothing can be adopted.
   */
  readonly stateDir?: string;
}

export interface SpawnOptions {
  /** Spawned exactly as given: no shell, argv[0] looked up in PATH. */
  readonly argv: readonly string[];
  readonly cwd: string;
  /** The child's whole environment. */
  readonly env: Readonly<Record<string, string>>;
  readonly maxLogBytes: number;
  /**
   * An attempt (outlives jobwire, adopted by `key` after a restart, its end written to `dir`
   * when no jobwire is there): only kept when the helper is persistent.
   */
  readonly attempt?: { readonly key: string; readonly dir: string };
}

/** The compiled helper, next to this file in dist/. */
const HELPER_ENTRY = fileURLToPath(new URL('./main.js', import.meta.url));
/**
 * fork() and the child's exec get slower with every page and thread the forking process has, so
 * the helper keeps both small: a 1 MiB young generation (it holds little live data) and one V8
 * worker thread. Measured on a 2-core VM: ~9% less spawner CPU per spawn than the defaults.
 */
const HELPER_FLAGS = ['--max-semi-space-size=1', '--v8-pool-size=1'];
export const SOCKET_FILE = 'spawner.sock';
/** sockaddr_un holds 108 bytes with the terminating NUL. */
const MAX_SOCKET_PATH = 107;
/**
 * An attach answered `busy` is tried again this often: right after a `kill -9` the spawner may
 * not have read the dead jobwire's EOF yet. Past that, another jobwire really is attached.
 */
const ATTACH_RETRY_DELAYS_MS = [20, 50, 100, 200, 400, 800, 1000, 1000];

export class SpawnerClient {
  readonly #maxLineLength: number;
  readonly #socketPath: string | undefined;
  #connecting: Promise<Connection> | undefined;
  #connection: Connection | undefined;
  #closed = false;

  constructor(options: SpawnerClientOptions) {
    this.#maxLineLength = maxReplyLine(options.maxLogBytes);
    this.#socketPath = options.stateDir === undefined ? undefined : socketPathIn(options.stateDir);
  }

  /** True when attempts outlive this client (a persistent helper). */
  get persistent(): boolean {
    return this.#socketPath !== undefined;
  }

  /**
   * Starts a child; resolves once it has spawned (exec'd). Rejects with ChildSpawnError when the
   * command cannot start, SpawnerError when the helper failed.
   */
  async spawn(options: SpawnOptions): Promise<SpawnedChild> {
    if (this.#closed) throw new SpawnerError('the process spawner was closed');
    const connection = await this.#connect();
    return connection.spawn(options, this.persistent);
  }

  /**
   * The attempt `key` that a previous jobwire's spawner still runs, or saw end and still holds:
   * adopted (its `ended` resolves with its true end). Undefined when the spawner does not know it.
   */
  async adopt(key: string): Promise<SpawnedChild | undefined> {
    if (!this.persistent) return undefined;
    const connection = await this.#connect();
    return connection.adopt(key);
  }

  /**
   * Recovery is over: attempts found at attach that no run claimed are no one's (their runs are
   * finished in the store, or gone) — live ones are killed, ended ones forgotten.
   */
  async releaseUnclaimed(): Promise<void> {
    if (!this.persistent || this.#closed) return;
    const connection = await this.#connect();
    connection.releaseUnclaimed();
  }

  /** Starts (or attaches to) the helper now, so the first spawn does not wait for it. */
  warm(): void {
    if (this.#closed) return;
    // A failure is reported to the spawn that waits for it; here there is no one to tell.
    this.#connect().catch(() => undefined);
  }

  /** The helper's pid, while one is connected (for diagnostics and tests). */
  get helperPid(): number | undefined {
    return this.#connection?.pid;
  }

  /**
   * Ends the channel. Without `leaveRunning`, waits for the helper to exit (children still
   * running are its to kill or keep, see main.ts). With it, a persistent helper keeps the
   * attempts still running for the next jobwire to adopt.
   */
  async close(options: { readonly leaveRunning?: boolean } = {}): Promise<void> {
    this.#closed = true;
    const connection = await this.#connecting?.catch(() => undefined);
    this.#connecting = undefined;
    this.#connection = undefined;
    await connection?.close(options.leaveRunning === true && this.persistent);
  }

  #connect(): Promise<Connection> {
    if (this.#connecting === undefined) {
      const connecting = this.#open();
      this.#connecting = connecting;
      connecting.then(
        (connection) => {
          if (this.#connecting === connecting) this.#connection = connection;
        },
        () => {
          if (this.#connecting === connecting) this.#connecting = undefined;
        },
      );
    }
    return this.#connecting;
  }

  async #open(): Promise<Connection> {
    const onGone = (gone: Connection): void => {
      if (this.#connection !== gone) return;
      this.#connection = undefined;
      this.#connecting = undefined;
    };
    const socketPath = this.#socketPath;
    if (socketPath !== undefined) {
      for (let retry = 0; ; retry++) {
        const socket = await connectToSpawner(socketPath);
        if (socket === undefined) break;
        const connection = Connection.attach(socket, this.#maxLineLength, onGone);
        const refused = await connection.ready.then(
          () => undefined,
          (error: unknown) => error,
        );
        if (refused === undefined) return connection;
        const delay = ATTACH_RETRY_DELAYS_MS[retry];
        // Busy (the last jobwire's EOF not read yet), or the spawner was exiting as we came.
        if (!(refused instanceof SpawnerBusyError || refused instanceof SpawnerGoneError) || delay === undefined) throw refused;
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
    return Connection.start(socketPath, this.#maxLineLength, onGone);
  }
}

/** Another jobwire is attached to the spawner of this data dir. */
class SpawnerBusyError extends SpawnerError {
  override readonly name: string = 'SpawnerBusyError';
}

/** The spawner closed the channel before it answered the attach (it was exiting). */
class SpawnerGoneError extends SpawnerError {
  override readonly name: string = 'SpawnerGoneError';
}

/** `<stateDir>/spawner.sock`, as a path short enough for a Unix socket. */
function socketPathIn(stateDir: string): string {
  const absolute = path.resolve(stateDir, SOCKET_FILE);
  if (Buffer.byteLength(absolute) <= MAX_SOCKET_PATH) return absolute;
  // Connect and listen resolve a relative path from the process's cwd, which both share.
  const relative = path.relative(process.cwd(), absolute);
  if (Buffer.byteLength(relative) <= MAX_SOCKET_PATH) return relative;
  throw new SpawnerError(`the data dir's spawner socket path ${absolute} is longer than ${MAX_SOCKET_PATH} bytes; use a shorter --data-dir`);
}

/** A connected socket, or undefined when no spawner listens there (a stale socket file is removed). */
async function connectToSpawner(socketPath: string): Promise<Socket | undefined> {
  const socket = connect(socketPath);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return socket;
  } catch (error) {
    socket.destroy();
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ECONNREFUSED') {
      // Its spawner died without closing it (killed, or the machine restarted).
      await unlink(socketPath).catch(() => undefined);
      return undefined;
    }
    throw new SpawnerError(`cannot connect to the process spawner at ${socketPath}: ${errorMessage(error)}`, { cause: error });
  }
}

interface PendingSpawn {
  readonly command: string;
  readonly resolve: (child: SpawnedChild) => void;
  readonly reject: (error: Error) => void;
}

/** The channel to one helper process, whether we started it (pipes) or attached to it (socket). */
interface Channel {
  readonly input: Readable;
  readonly output: Writable;
  /** Resolves with why the channel ended. */
  readonly closed: Promise<string>;
  pid(): number | undefined;
  kill(): void;
  setRef(referenced: boolean): void;
}

/** One helper process and the requests in flight on its channel. */
class Connection {
  /** Resolves once requests may be sent: at once for a helper we started, at `attached` otherwise. */
  readonly ready: Promise<void>;
  readonly #channel: Channel;
  readonly #writer: LineWriter;
  readonly #pending = new Map<number, PendingSpawn>();
  readonly #children = new Map<number, RemoteChild>();
  /** Attempts listed at attach and not adopted yet, by key. */
  readonly #unclaimed = new Map<string, RemoteChild>();
  readonly #onGone: (connection: Connection) => void;
  #settleReady: { resolve: () => void; reject: (error: Error) => void } | undefined;
  /** Why we ended the helper ourselves, when we did; otherwise its exit status says why. */
  #endReason: string | undefined;
  /** Called once no spawn waits for its reply any more. */
  readonly #noPending: (() => void)[] = [];
  /** Request ids; unique per helper, so a reply can never reach the wrong run. */
  #nextId = 1;
  #gone = false;
  #closing = false;
  /** Closed with its attempts left running: losing the channel then kills nothing. */
  #leaving = false;
  #referenced = true;

  /** Starts a helper; persistent (detached, listening on `socketPath`) when a path is given. */
  static start(socketPath: string | undefined, maxLineLength: number, onGone: (connection: Connection) => void): Connection {
    const args = socketPath === undefined ? [...HELPER_FLAGS, HELPER_ENTRY] : [...HELPER_FLAGS, HELPER_ENTRY, '--socket', socketPath];
    // Detached: a persistent helper is in its own session, so signals for jobwire's process
    // group (a terminal's Ctrl-C) do not reach it.
    const helper = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'], detached: socketPath !== undefined });
    // EPIPE when the helper died with requests queued: 'close' reports it, with a better reason.
    helper.stdin.on('error', () => undefined);
    const closed = new Promise<string>((resolve) => {
      // 'on', not 'once': a failed kill() is reported here too, and must not crash jobwire.
      helper.on('error', (error) => {
        // A helper that never started may get no 'close'.
        if (helper.pid === undefined) resolve(`cannot start the process spawner: ${errorMessage(error)}`);
      });
      helper.once('close', (code, signal) => {
        const status = signal === null ? `exit code ${code}` : `signal ${signal}`;
        resolve(`the process spawner (pid ${helper.pid}) exited unexpectedly (${status})`);
      });
    });
    const channel: Channel = {
      input: helper.stdout,
      output: helper.stdin,
      closed,
      pid: () => helper.pid,
      kill: () => helper.kill('SIGKILL'),
      setRef: (referenced) => {
        if (referenced) helper.ref();
        else helper.unref();
        // The pipes are net.Sockets at run time; the reading one would otherwise hold the loop.
        for (const stream of [helper.stdin, helper.stdout]) {
          if (!(stream instanceof Socket)) continue;
          if (referenced) stream.ref();
          else stream.unref();
        }
      },
    };
    return new Connection(channel, maxLineLength, onGone, false);
  }

  /** Attaches to a running helper over its socket; `ready` settles with its answer. */
  static attach(socket: Socket, maxLineLength: number, onGone: (connection: Connection) => void): Connection {
    socket.on('error', () => undefined);
    let pid: number | undefined;
    const closed = new Promise<string>((resolve) => {
      socket.once('close', () => resolve(`the process spawner (pid ${pid ?? 'unknown'}) closed its channel unexpectedly`));
    });
    const channel: Channel = {
      input: socket,
      output: socket,
      closed,
      pid: () => pid,
      kill: () => {
        if (pid !== undefined) signalProcess(pid, 'SIGKILL');
        socket.destroy();
      },
      setRef: (referenced) => {
        if (referenced) socket.ref();
        else socket.unref();
      },
    };
    const connection = new Connection(channel, maxLineLength, onGone, true);
    connection.#onAttachedPid = (attachedPid) => {
      pid = attachedPid;
    };
    connection.#send({ type: 'attach', id: 0, version: PROTOCOL_VERSION });
    return connection;
  }

  #onAttachedPid: (pid: number) => void = () => undefined;

  private constructor(channel: Channel, maxLineLength: number, onGone: (connection: Connection) => void, attaching: boolean) {
    this.#channel = channel;
    this.#onGone = onGone;
    this.#writer = new LineWriter(channel.output);
    this.ready = attaching
      ? new Promise<void>((resolve, reject) => {
          this.#settleReady = { resolve, reject };
        })
      : Promise.resolve();
    // Rejections are for the client's attach loop; none may go unhandled if it is not waiting.
    this.ready.catch(() => undefined);
    readLines(channel.input, {
      maxLineLength,
      onLine: (line) => this.#receive(line),
      onError: (error) => this.#kill(`the process spawner broke the protocol: ${error.message}`),
    });
    void channel.closed.then((reason) => this.#lost(this.#endReason ?? reason));
    this.#updateRef();
  }

  get pid(): number | undefined {
    return this.#channel.pid();
  }

  spawn(options: SpawnOptions, persistent: boolean): Promise<SpawnedChild> {
    if (this.#gone) return Promise.reject(new SpawnerError('the process spawner is gone'));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { command: options.argv[0] ?? '', resolve, reject });
      this.#updateRef();
      const { argv, cwd, env, maxLogBytes } = options;
      const record = persistent && options.attempt !== undefined ? { key: options.attempt.key, dir: options.attempt.dir } : null;
      this.#send({ type: 'spawn', id, argv, cwd, env, maxLogBytes, record });
    });
  }

  adopt(key: string): SpawnedChild | undefined {
    const child = this.#unclaimed.get(key);
    this.#unclaimed.delete(key);
    return child;
  }

  releaseUnclaimed(): void {
    for (const child of this.#unclaimed.values()) {
      if (this.#children.has(child.id)) {
        // Still running for a run that is not active any more: nothing will ever record it.
        signalGroup(child.pid, 'SIGKILL');
      } else {
        child.release();
      }
    }
    this.#unclaimed.clear();
  }

  async close(leaveRunning: boolean): Promise<void> {
    this.#endReason ??= 'the process executor was closed';
    this.#leaving = leaveRunning;
    // Whoever awaits close() waits for the helper's exit, so the loop must wait for it too.
    this.#closing = true;
    this.#updateRef();
    // A spawn already on its way gets its answer first: a child started after the channel
    // closed would be nobody's.
    if (this.#pending.size > 0) await new Promise<void>((resolve) => this.#noPending.push(resolve));
    this.#writer.flush();
    this.#channel.output.end();
    if (leaveRunning) {
      // The helper stays for the attempts still running; it is no longer ours to wait for.
      this.#channel.input.destroy();
      this.#channel.setRef(false);
      return;
    }
    await this.#channel.closed;
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
      case 'attached':
        this.#attached(reply);
        return;
      case 'busy': {
        const settle = this.#settleReady;
        this.#settleReady = undefined;
        this.#endReason = 'another jobwire is attached to the process spawner';
        this.#channel.output.end();
        settle?.reject(
          new SpawnerBusyError(`another jobwire is attached to the process spawner (pid ${reply.pid}) of this data dir: is jobwire already running on it?`),
        );
        return;
      }
      case 'spawned': {
        const pending = this.#takePending(reply.id);
        if (pending === undefined) return;
        const child = new RemoteChild(reply.id, reply.pid, reply.startedAt, (request) => this.#send(request));
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

  #attached(reply: AttachedReply): void {
    const settle = this.#settleReady;
    this.#settleReady = undefined;
    if (settle === undefined) {
      this.#kill('the process spawner answered an attach that was not asked for');
      return;
    }
    this.#onAttachedPid(reply.pid);
    if (reply.version !== PROTOCOL_VERSION) {
      this.#endReason = 'the process spawner speaks another protocol version';
      this.#channel.output.end();
      settle.reject(
        new SpawnerError(
          `the process spawner (pid ${reply.pid}) left running by an earlier jobwire speaks protocol ${reply.version}, this jobwire ${PROTOCOL_VERSION}: ` +
            'let its runs finish (it exits after them) or stop it, then start jobwire again',
        ),
      );
      return;
    }
    this.#nextId = Math.max(this.#nextId, reply.nextId);
    for (const listed of reply.children) {
      const child = new RemoteChild(listed.id, listed.pid, listed.startedAt, (request) => this.#send(request));
      if (listed.end === null) this.#children.set(listed.id, child);
      else child.exited(listed.end);
      this.#unclaimed.set(listed.key, child);
    }
    this.#updateRef();
    settle.resolve();
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

  /** Ends a helper we no longer trust; its channel's end then fails everything in flight with `reason`. */
  #kill(reason: string): void {
    this.#endReason ??= reason;
    this.#channel.kill();
  }

  #lost(reason: string): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#onGone(this);
    const error = new SpawnerError(reason);
    this.#settleReady?.reject(new SpawnerGoneError(reason));
    this.#settleReady = undefined;
    for (const [id, pending] of this.#pending) {
      const message = `${reason}; cannot tell whether ${pending.command} (request ${id}) started`;
      pending.reject(new SpawnerError(message, { cause: error }));
    }
    this.#pending.clear();
    this.#notifyNoPending();
    for (const child of this.#children.values()) {
      // Left running on purpose: the helper keeps them for the next jobwire.
      if (!this.#leaving) signalGroup(child.pid, 'SIGKILL');
      child.lost(error);
    }
    this.#children.clear();
  }

  /** Keeps jobwire's event loop alive exactly while something is in flight or closing. */
  #updateRef(): void {
    const busy = this.#closing || this.#pending.size + this.#children.size > 0 || this.#settleReady !== undefined;
    if (busy === this.#referenced) return;
    this.#referenced = busy;
    this.#channel.setRef(busy);
  }
}

function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}
