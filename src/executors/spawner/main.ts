/**
 * The spawner: a small helper process that forks and execs job processes on jobwire's behalf,
 * and supervises them — the shim between jobwire and its runs (containerd's shim, Nomad's
 * executor).
 *
 * Why it exists: libuv forks on the calling thread and waits there until the child has exec'd,
 * and fork() gets slower the more memory the parent maps. In jobwire (HTTP server, SQLite, a
 * grown heap) that blocked the main thread for a large share of every run; here it costs a
 * small process, and jobwire's main thread only writes one request line.
 *
 * Why it outlives jobwire: it is the parent of every run's process, the only one that can read
 * its exit status and the holder of its output pipes. If it died with jobwire, every run in
 * flight would die or lose its fate with it. So:
 *
 *   attached ──(channel EOF: jobwire died, or left its runs running)──► orphaned
 *      ▲                                                                  │
 *      └──────────── attach on the socket (the next jobwire) ─────────────┤
 *                                                                         ▼
 *                                   exit (no attempt left running; every end is on disk)
 *
 * - attached: one jobwire drives it, through the pipes it was started with or through its
 *   socket (`--socket`, in the data dir). Ends of attempts are replied and kept in memory until
 *   jobwire says `forget` (they are in the store then).
 * - orphaned: helper calls (no `record`: engine CLI commands) are killed — nobody waits for
 *   them. Attempts go on: their output is still captured, and each end not forgotten is written
 *   to the attempt's folder (exit-record.ts), now and as later ones end. Once no attempt runs
 *   it exits: everything the next jobwire needs is on disk.
 * - The next jobwire connects to the socket and sends `attach`; the reply lists every attempt
 *   still running or not forgotten, and that jobwire adopts them (live logs, stop, timeout). An
 *   attach is answered only after the previous channel's last requests were handled (its EOF
 *   seen) and every spawn they asked for has started or failed, so "not listed" means "never
 *   started". While another jobwire is attached, `busy` is the answer.
 *
 * Without `--socket` (tests, benchmarks, executors built without a data dir) it has no
 * orphaned state: at EOF it exits, leaving running jobs alone.
 *
 * Terminal and service-manager signals aimed at jobwire's process group are ignored: jobwire
 * decides when the spawner ends, so a Ctrl-C lets jobwire drain its runs gracefully instead of
 * losing their supervisor first. (jobwire also starts it detached, in its own session.)
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { writeExitRecord } from './exit-record.js';
import { LineWriter, readLines } from './line-channel.js';
import {
  MAX_REQUEST_LINE,
  PROTOCOL_VERSION,
  encode,
  parseRequest,
  type AttachRequest,
  type ExitedReply,
  type Reply,
  type Request,
  type SpawnRequest,
} from './protocol.js';
import { SupervisedChild } from './supervised-child.js';

/** The jobwire driving the spawner now. */
interface Controller {
  readonly writer: LineWriter;
  /** Ends the channel from our side (a protocol error). */
  readonly close: () => void;
}

class Spawner {
  /** Live children, plus attempts that ended and were not forgotten yet. */
  readonly #children = new Map<number, SupervisedChild>();
  readonly #socketPath: string | undefined;
  #server: Server | undefined;
  #controller: Controller | undefined;
  /** Attaches waiting until every spawn asked for has started or failed. */
  #waitingAttach: (() => void) | undefined;
  #nextId = 1;
  /** Leaving (nothing left to supervise): no jobwire may attach, or it would start runs here. */
  #exiting = false;

  constructor(socketPath: string | undefined) {
    this.#socketPath = socketPath;
  }

  /** Drives the spawner from the pipes it was started with. */
  start(input: Readable, output: Writable): void {
    // EPIPE: jobwire is gone; its EOF on stdin says the same and is handled there.
    output.on('error', () => undefined);
    const controller: Controller = { writer: new LineWriter(output), close: () => input.destroy() };
    this.#controller = controller;
    input.on('error', () => this.#detach(controller));
    input.on('end', () => this.#detach(controller));
    readLines(input, {
      maxLineLength: MAX_REQUEST_LINE,
      onLine: (line) => this.#receive(controller, line),
      onError: (error) => this.#broken(controller, error),
    });
    if (this.#socketPath !== undefined) this.#listen(this.#socketPath);
  }

  #listen(socketPath: string): void {
    // Only jobwire's user may connect: the socket is created 0600 (umask), its folder is private.
    const umask = process.umask(0o177);
    const server = createServer((socket) => this.#accept(socket));
    server.on('error', (error) => fail(error));
    server.listen(socketPath, () => process.umask(umask));
    this.#server = server;
  }

  #accept(socket: Socket): void {
    socket.on('error', () => undefined);
    const writer = new LineWriter(socket);
    let controller: Controller | undefined;
    socket.on('close', () => {
      if (controller !== undefined) this.#detach(controller);
    });
    readLines(socket, {
      maxLineLength: MAX_REQUEST_LINE,
      onLine: (line) => {
        if (controller !== undefined) {
          this.#receive(controller, line);
          return;
        }
        let request: Request;
        try {
          request = parseRequest(line);
        } catch {
          socket.destroy();
          return;
        }
        // Until it attached, a connection may only ask to.
        if (request.type !== 'attach') {
          socket.destroy();
          return;
        }
        this.#attach(request, writer, () => {
          controller = { writer, close: () => socket.destroy() };
          return controller;
        });
      },
      onError: () => socket.destroy(),
    });
  }

  #attach(request: AttachRequest, writer: LineWriter, become: () => Controller): void {
    if (this.#exiting) {
      // Our socket file is gone already: runs started here would be invisible to the next
      // jobwire. Closing unanswered makes this one start a fresh spawner instead.
      writer.flush();
      become().close();
      return;
    }
    if (this.#controller !== undefined) {
      writer.write(encode({ type: 'busy', id: request.id, pid: process.pid }));
      return;
    }
    if (request.version !== PROTOCOL_VERSION) {
      // The reply says which version we speak; the jobwire refuses us and says why.
      writer.write(encode({ type: 'attached', id: request.id, version: PROTOCOL_VERSION, pid: process.pid, nextId: this.#nextId, children: [] }));
      return;
    }
    if ([...this.#children.values()].some((child) => !child.settled)) {
      this.#waitingAttach = () => this.#attach(request, writer, become);
      return;
    }
    this.#waitingAttach = undefined;
    const controller = become();
    this.#controller = controller;
    const children = [...this.#children.values()].filter((child) => child.record !== null).map((child) => child.attached());
    this.#send({ type: 'attached', id: request.id, version: PROTOCOL_VERSION, pid: process.pid, nextId: this.#nextId, children });
  }

  #send(reply: Reply): void {
    this.#controller?.writer.write(encode(reply));
  }

  #receive(controller: Controller, line: string): void {
    if (controller !== this.#controller) return;
    let request: Request;
    try {
      request = parseRequest(line);
    } catch (error) {
      this.#broken(controller, error);
      return;
    }
    switch (request.type) {
      case 'spawn':
        this.#spawn(request);
        return;
      case 'peek': {
        // Unknown ids are runs that ended a moment ago: their `exited` is already on its way.
        const child = this.#children.get(request.id);
        if (child !== undefined) this.#send({ type: 'peeked', id: request.id, log: child.snapshot() });
        return;
      }
      case 'release-pipes':
        this.#children.get(request.id)?.releasePipes();
        return;
      case 'forget':
        if (this.#children.get(request.id)?.end !== undefined) this.#children.delete(request.id);
        return;
      case 'attach':
        // Already attached: a jobwire bug, but a harmless one.
        return;
    }
  }

  #spawn(request: SpawnRequest): void {
    this.#nextId = Math.max(this.#nextId, request.id + 1);
    const settled = (): void => this.#waitingAttach?.();
    try {
      const child: SupervisedChild = new SupervisedChild(request, {
        onSpawned: (reply) => {
          // A helper call whose jobwire went away while it was being started.
          if (this.#controller === undefined && request.record === null) child.kill();
          this.#send(reply);
          settled();
        },
        onSpawnError: (reply) => {
          this.#children.delete(reply.id);
          this.#send(reply);
          settled();
          this.#exitIfDone();
        },
        onExited: (reply) => this.#exited(child, reply),
      });
      this.#children.set(request.id, child);
    } catch (error) {
      // spawn() threw: invalid arguments (a NUL byte in an env value), or an errno Node throws.
      const code = (error as NodeJS.ErrnoException | undefined)?.code;
      const message = error instanceof Error ? error.message : String(error);
      this.#send({ type: 'spawn-error', id: request.id, code: typeof code === 'string' ? code : null, message, thrown: true });
    }
  }

  #exited(child: SupervisedChild, reply: ExitedReply): void {
    const { record } = child;
    // A helper call's end is told and forgotten; an attempt's is kept until jobwire forgets it.
    if (record === null) this.#children.delete(reply.id);
    if (this.#controller !== undefined) {
      this.#send(reply);
      return;
    }
    if (record !== null) {
      this.#persist(child);
      this.#children.delete(reply.id);
    }
    this.#exitIfDone();
  }

  /** The jobwire driving us went away: see "orphaned" at the top. */
  #detach(controller: Controller): void {
    if (controller !== this.#controller) return;
    this.#controller = undefined;
    if (this.#socketPath === undefined) process.exit(0);
    for (const [id, child] of this.#children) {
      if (child.record === null) {
        // One still being started is killed once it has (see #spawn).
        if (child.settled) child.kill();
      } else if (child.end !== undefined) {
        this.#persist(child);
        this.#children.delete(id);
      }
    }
    this.#exitIfDone();
  }

  #persist(child: SupervisedChild): void {
    const { record, end } = child;
    if (record === null || end === undefined) return;
    try {
      writeExitRecord(record.dir, { key: record.key, pid: child.pid, startedAt: child.startedAt, end });
    } catch (error) {
      // Nothing else can keep it: say so where jobwire's service log collects our stderr.
      process.stderr.write(`jobwire spawner: cannot record the end of ${record.key}: ${String(error)}\n`);
    }
  }

  /** Orphaned with no attempt left running: everything is on disk, so there is no reason to stay. */
  #exitIfDone(): void {
    if (this.#controller !== undefined || this.#children.size > 0) return;
    this.#exiting = true;
    const server = this.#server;
    if (server === undefined) process.exit(0);
    // close() removes the socket file, so the next jobwire starts a fresh spawner. A connection
    // accepted a moment ago is refused its attach (see #attach); we do not wait for it.
    server.close();
    process.exit(0);
  }

  /** A malformed line on the channel: a bug on jobwire's side. The channel is dropped, the runs kept. */
  #broken(controller: Controller, error: unknown): void {
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
    process.stderr.write(`jobwire spawner: ${text}\n`);
    if (this.#socketPath === undefined) process.exit(70);
    controller.close();
    this.#detach(controller);
  }
}

/** Setting up failed (the socket could not be created): jobwire sees the exit and says why. */
function fail(error: unknown): never {
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`jobwire spawner: ${text}\n`);
  process.exit(70);
}

function socketArgument(argv: readonly string[]): string | undefined {
  const index = argv.indexOf('--socket');
  return index === -1 ? undefined : argv[index + 1];
}

try {
  // jobwire's stderr may be gone (it died): a failed write must not take the runs with it.
  process.stderr.on('error', () => undefined);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => undefined);
  new Spawner(socketArgument(process.argv.slice(2))).start(process.stdin, process.stdout);
} catch (error) {
  fail(error);
}
