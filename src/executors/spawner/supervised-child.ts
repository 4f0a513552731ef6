/**
 * One job process, inside the spawner: spawned detached (it leads its own process group, so a
 * stop reaches its descendants), its stdout and stderr captured into one bounded log, and its
 * end reported once both the exit and the end of its pipes were seen — so the log is complete —
 * or, after jobwire released the pipes (a stopped run whose escaped descendant holds them), once
 * the leader has exited.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { BoundedLog } from '../log-capture.js';
import { signalGroup } from '../process-group.js';
import type { AttachedChild, AttemptRecord, ExitedReply, SpawnErrorReply, SpawnRequest, SpawnedReply } from './protocol.js';

export interface SupervisedChildEvents {
  readonly onSpawned: (reply: SpawnedReply) => void;
  /** An 'error' event before 'spawn': the process never started. */
  readonly onSpawnError: (reply: SpawnErrorReply) => void;
  readonly onExited: (reply: ExitedReply) => void;
}

export class SupervisedChild {
  /** Set for an attempt (it outlives its jobwire); null for a helper call. */
  readonly record: AttemptRecord | null;
  /** Its end, once seen; kept for an attempt until jobwire says `forget`. */
  end: ExitedReply | undefined;
  startedAt = 0;
  readonly #id: number;
  readonly #child: ChildProcess;
  readonly #log: BoundedLog;
  readonly #events: SupervisedChildEvents;
  #pid = 0;
  #exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  #pipesReleased = false;
  #finished = false;
  #error: ExitedReply['error'] = null;

  /** Spawns at once; throws (Node's own error) when spawn() refuses synchronously. */
  constructor(request: SpawnRequest, events: SupervisedChildEvents) {
    this.#id = request.id;
    this.record = request.record;
    this.#events = events;
    this.#log = new BoundedLog(request.maxLogBytes);
    const [command, ...args] = request.argv;
    // argv exactly as given and no `shell` option: nothing in a request is ever parsed as code.
    const child = spawn(command ?? '', args, {
      cwd: request.cwd,
      env: request.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#child = child;
    const onSpawnError = (error: NodeJS.ErrnoException): void => {
      this.#finished = true;
      events.onSpawnError({ type: 'spawn-error', id: this.#id, code: error.code ?? null, message: error.message, thrown: false });
    };
    child.once('error', onSpawnError);
    child.once('spawn', () => {
      child.off('error', onSpawnError);
      child.on('error', (error: NodeJS.ErrnoException) => {
        this.#error ??= { code: error.code ?? null, message: error.message };
      });
      this.#pid = child.pid ?? 0;
      this.startedAt = Date.now();
      events.onSpawned({ type: 'spawned', id: this.#id, pid: this.#pid, startedAt: this.startedAt });
    });
    const onData = (chunk: Buffer): void => this.#log.write(chunk);
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', (code, signal) => {
      this.#exit = { code, signal };
      if (this.#pipesReleased) this.#finish();
    });
    child.on('close', () => this.#finish());
  }

  /** False until the child exec'd or failed to: an attach waits for that (see main.ts). */
  get settled(): boolean {
    return this.#pid !== 0 || this.#finished;
  }

  get pid(): number {
    return this.#pid;
  }

  /** How a jobwire that attaches sees this attempt. */
  attached(): AttachedChild {
    return { id: this.#id, key: this.record?.key ?? '', pid: this.#pid, startedAt: this.startedAt, end: this.end ?? null };
  }

  /** Kills what is left of the child's group (a helper call whose jobwire went away). */
  kill(): void {
    if (this.#pid > 1) signalGroup(this.#pid, 'SIGKILL');
  }

  snapshot(): ExitedReply['log'] {
    return this.#log.snapshot();
  }

  /** Stops waiting for the pipes: the run ends as soon as its leader has exited. */
  releasePipes(): void {
    this.#pipesReleased = true;
    if (this.#exit !== undefined) this.#finish();
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#child.stdout?.destroy();
    this.#child.stderr?.destroy();
    // A run leaves nothing behind: background processes it started in its group die with it.
    // This runs right after the leader was reaped, in the process that reaped it: while members
    // remain the kernel keeps the pid reserved as their group id, and once none remain this is
    // ESRCH — so the signal cannot reach a stranger that reused the pid.
    if (this.#pid > 1) signalGroup(this.#pid, 'SIGKILL');
    const exit = this.#exit;
    this.end = {
      type: 'exited',
      id: this.#id,
      code: exit?.code ?? null,
      signal: exit?.signal ?? null,
      error: this.#error,
      log: this.#log.snapshot(),
      endedAt: Date.now(),
    };
    this.#events.onExited(this.end);
  }
}
