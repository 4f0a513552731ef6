/**
 * The `process` executor: runs an attempt as a local child process in its own process group.
 *
 * Message data reaches the child only through its environment and files (message.json), never
 * through argv or a shell line: spawn gets argv as-is and `shell` is never set. The child sees a
 * small allow-list of jobwire's environment plus the job's env, so secrets jobwire itself holds
 * do not leak into jobs that did not ask for them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { copyFile, mkdir, rm, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { JobwireError, PermanentError, RetryableError, errorMessage } from '../core/errors.js';
import type { RunRecord } from '../core/run.js';
import type {
  Attempt,
  AttemptResult,
  CapturedLog,
  Executor,
  RecoveredAttempt,
  RunSpec,
  StopReason,
} from './executor.js';
import { BoundedLog } from './log-capture.js';

export interface ProcessExecutorOptions {
  readonly name: string;
  /** Parent of the per-attempt folders; created if missing. */
  readonly runsDir: string;
  readonly maxLogBytes: number;
  /** How long a stopped process group gets between SIGTERM and SIGKILL. */
  readonly killGraceMs?: number;
  /** Where the allow-listed variables are read from; defaults to jobwire's own environment. */
  readonly baseEnv?: NodeJS.ProcessEnv;
  readonly logger?: { warn(obj: object, msg: string): void };
}

/** Variables a job needs to behave like a normal program; nothing that could be a secret. */
const INHERITED_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'USER', 'SHELL'] as const;
const DEFAULT_KILL_GRACE_MS = 5000;
/**
 * After SIGKILL reached the group, how long to keep reading output still buffered in the pipes.
 * Anything holding them past this has left the group (setsid) and would keep `done` pending
 * forever, so we stop listening instead.
 */
const MAX_DRAIN_AFTER_KILL_MS = 1000;
/** spawn errors that mean "the machine is busy right now", not "this command cannot run". */
const TRANSIENT_SPAWN_CODES = new Set(['EAGAIN', 'EMFILE', 'ENFILE', 'ENOMEM']);

export function createProcessExecutor(options: ProcessExecutorOptions): Executor {
  return new ProcessExecutor(options);
}

class ProcessExecutor implements Executor {
  readonly type = 'process';
  readonly name: string;
  readonly #options: ProcessExecutorOptions;
  readonly #live = new Set<ProcessAttempt>();
  #closed = false;

  constructor(options: ProcessExecutorOptions) {
    this.name = options.name;
    this.#options = options;
  }

  async start(spec: RunSpec): Promise<Attempt> {
    if (this.#closed) throw new RetryableError(`executor ${this.name} is closed`);
    const runDir = attemptFolder(this.#options.runsDir, spec.runId, spec.attempt);
    try {
      const cwd = await prepareFolders(spec, runDir);
      const messagePath = path.join(runDir, 'message.json');
      // 0600: the message may carry data other local users should not read.
      await writeFile(messagePath, spec.messageJson, { mode: 0o600 });
      const env = childEnv(this.#options.baseEnv ?? process.env, spec.env, {
        JOBWIRE_MESSAGE: messagePath,
        JOBWIRE_WORKDIR: cwd,
      });
      const child = await spawnChild(spec.argv, cwd, env);
      const attempt = new ProcessAttempt(child, {
        maxLogBytes: this.#options.maxLogBytes,
        killGraceMs: this.#options.killGraceMs ?? DEFAULT_KILL_GRACE_MS,
        cleanup: () => this.#removeFolder(runDir, spec.runId),
      });
      this.#live.add(attempt);
      void attempt.done.then(() => this.#live.delete(attempt));
      // close() ran while this start was preparing: the shutdown applies to it as well.
      if (this.#closed) attempt.stop('shutdown');
      return attempt;
    } catch (error) {
      await this.#removeFolder(runDir, spec.runId);
      if (error instanceof JobwireError) throw error;
      throw new PermanentError(`cannot prepare run ${spec.runId}: ${errorMessage(error)}`, { cause: error });
    }
  }

  async recover(run: RunRecord): Promise<RecoveredAttempt> {
    const pid = parseHandle(run.handle);
    let killed = false;
    if (pid !== undefined && isAlive(pid) && environHas(pid, `JOBWIRE_RUN_ID=${run.id}`)) {
      // The orphan was spawned detached, so its pid is also its process group id.
      killed = signalGroup(pid, 'SIGKILL');
    }
    if (run.attempts > 0) {
      await this.#removeFolder(attemptFolder(this.#options.runsDir, run.id, run.attempts), run.id);
    }
    return killed
      ? {
          kind: 'lost',
          reason: `jobwire restarted while the process was running (pid ${pid}); the orphaned process group was killed`,
        }
      : { kind: 'lost', reason: 'jobwire restarted while the run was in flight; its process is gone' };
  }

  async close(): Promise<void> {
    this.#closed = true;
    const attempts = [...this.#live];
    for (const attempt of attempts) attempt.stop('shutdown');
    await Promise.all(attempts.map((attempt) => attempt.done));
  }

  async #removeFolder(dir: string, runId: string): Promise<void> {
    try {
      // Fast path for a folder holding only message.json: two syscalls instead of a tree walk.
      await unlink(path.join(dir, 'message.json')).catch(() => undefined);
      const emptied = await rmdir(dir).then(
        () => true,
        (error: NodeJS.ErrnoException) => error.code === 'ENOENT',
      );
      if (!emptied) await rm(dir, { recursive: true, force: true });
    } catch (error) {
      this.#options.logger?.warn({ err: error, runId, dir }, 'could not remove run folder');
    }
  }
}

interface AttemptOptions {
  readonly maxLogBytes: number;
  readonly killGraceMs: number;
  /** Removes the per-run folder; runs before `done` resolves so callers see a clean disk. */
  readonly cleanup: () => Promise<void>;
}

/**
 * One running child. `done` waits for both the exit and the end of stdout/stderr, so the log is
 * complete — except after a stop, where a process that escaped the group may hold the pipes
 * forever; then the leader's exit plus a bounded drain is enough.
 */
class ProcessAttempt implements Attempt {
  readonly handle: string;
  readonly done: Promise<AttemptResult>;
  readonly #child: ChildProcess;
  readonly #pid: number;
  readonly #log: BoundedLog;
  readonly #options: AttemptOptions;
  #resolve!: (result: AttemptResult) => void;
  #exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  #stopRequested = false;
  #drainExpired = false;
  #finished = false;
  #error: Error | undefined;
  #graceTimer: NodeJS.Timeout | undefined;
  #drainTimer: NodeJS.Timeout | undefined;

  constructor(child: ChildProcess, options: AttemptOptions) {
    if (child.pid === undefined) throw new JobwireError('spawned child has no pid');
    this.#child = child;
    this.#pid = child.pid;
    this.handle = `pid:${child.pid}`;
    this.#options = options;
    this.#log = new BoundedLog(options.maxLogBytes);
    this.done = new Promise((resolve) => (this.#resolve = resolve));
    const onData = (chunk: Buffer): void => this.#log.write(chunk);
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', (code, signal) => {
      this.#exit = { code, signal };
      if (this.#drainExpired) void this.#finish();
    });
    child.on('close', () => void this.#finish());
    child.on('error', (error) => {
      this.#error ??= error;
    });
  }

  peekLog(): CapturedLog {
    return this.#log.snapshot();
  }

  stop(_reason: StopReason): void {
    // The reason is the dispatcher's to record; the process is stopped the same way for all.
    if (this.#stopRequested || this.#finished) return;
    this.#stopRequested = true;
    signalGroup(this.#pid, 'SIGTERM');
    this.#graceTimer = setTimeout(() => {
      signalGroup(this.#pid, 'SIGKILL');
      this.#drainTimer = setTimeout(() => {
        this.#drainExpired = true;
        // If the leader has not even exited yet, its 'exit' handler finishes instead.
        if (this.#exit !== undefined) void this.#finish();
      }, Math.min(this.#options.killGraceMs, MAX_DRAIN_AFTER_KILL_MS));
    }, this.#options.killGraceMs);
  }

  async #finish(): Promise<void> {
    if (this.#finished) return;
    this.#finished = true;
    clearTimeout(this.#graceTimer);
    clearTimeout(this.#drainTimer);
    this.#child.stdout?.destroy();
    this.#child.stderr?.destroy();
    // A run leaves nothing behind: background processes it started in its group die with it.
    // The leader was reaped only moments ago; while members remain the kernel keeps its pid
    // reserved as their group id, and once none remain this is ESRCH.
    signalGroup(this.#pid, 'SIGKILL');
    const result = this.#result();
    await this.#options.cleanup();
    this.#resolve(result);
  }

  #result(): AttemptResult {
    const log = this.#log.snapshot();
    if (this.#stopRequested) return { kind: 'stopped', log };
    if (this.#error !== undefined) return { kind: 'error', error: this.#error, log };
    const exit = this.#exit;
    if (exit?.code !== null && exit?.code !== undefined) return { kind: 'exited', exitCode: exit.code, log };
    if (exit?.signal) return { kind: 'signaled', signal: exit.signal, log };
    return { kind: 'error', error: new JobwireError('process ended without an exit status'), log };
  }
}

function attemptFolder(runsDir: string, runId: string, attempt: number): string {
  const name = `${runId}-${attempt}`;
  // Run ids are generated, but a folder name that could climb out of runsDir is never used.
  if (name !== path.basename(name) || name.startsWith('.')) {
    throw new PermanentError(`run id ${JSON.stringify(runId)} cannot name a folder`);
  }
  return path.join(path.resolve(runsDir), name);
}

/** Creates the per-run folder (fresh) and fills the working directory; returns the cwd. */
async function prepareFolders(spec: RunSpec, runDir: string): Promise<string> {
  // The common case is one mkdir; a folder left by a crashed attempt is replaced.
  await mkdir(runDir, { mode: 0o700 }).catch(async (error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') await mkdir(runDir, { recursive: true, mode: 0o700 });
    else if (error.code === 'EEXIST') {
      await rm(runDir, { recursive: true, force: true });
      await mkdir(runDir, { mode: 0o700 });
    } else throw error;
  });
  let cwd = runDir;
  if (spec.workingDir !== undefined) {
    cwd = path.resolve(spec.workingDir);
    const info = await stat(cwd).catch((error: unknown) => {
      throw new PermanentError(`workingDir ${cwd} does not exist`, { cause: error });
    });
    if (!info.isDirectory()) throw new PermanentError(`workingDir ${cwd} is not a directory`);
  }
  for (const file of spec.files) {
    const target = path.resolve(cwd, file.path);
    const relative = path.relative(cwd, target);
    if (path.isAbsolute(file.path) || relative === '' || relative.startsWith('..')) {
      throw new PermanentError(`file path ${JSON.stringify(file.path)} must stay inside the working directory`);
    }
    await mkdir(path.dirname(target), { recursive: true });
    if (file.from !== undefined) {
      // copyFile keeps the source's mode, so executable scripts stay executable.
      await copyFile(file.from, target).catch((error: unknown) => {
        throw new PermanentError(`cannot copy file ${file.from} to ${file.path}: ${errorMessage(error)}`, {
          cause: error,
        });
      });
    } else if (file.content !== undefined) {
      await writeFile(target, file.content);
    } else {
      throw new PermanentError(`file ${JSON.stringify(file.path)} has neither 'from' nor 'content'`);
    }
  }
  return cwd;
}

function childEnv(
  base: NodeJS.ProcessEnv,
  jobEnv: Readonly<Record<string, string>>,
  jobwireEnv: Readonly<Record<string, string>>,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of INHERITED_ENV) {
    const value = base[name];
    if (value !== undefined) env[name] = value;
  }
  // The paths jobwire chose win over anything a job definition says.
  return Object.assign(env, jobEnv, jobwireEnv);
}

/** Spawns and resolves on the 'spawn' event, i.e. once the program really started. */
function spawnChild(argv: readonly string[], cwd: string, env: Record<string, string>): Promise<ChildProcess> {
  const [command, ...args] = argv;
  if (command === undefined || command === '') throw new PermanentError('the command is empty');
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      // detached: the child leads its own process group, so stop() reaches its descendants.
      child = spawn(command, args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      // Synchronous throws are invalid arguments (e.g. a NUL byte in an env value).
      reject(new PermanentError(`cannot run ${command}: ${errorMessage(error)}`, { cause: error }));
      return;
    }
    const onError = (error: NodeJS.ErrnoException): void => {
      const transient = error.code !== undefined && TRANSIENT_SPAWN_CODES.has(error.code);
      const message =
        error.code === 'ENOENT' ? `command not found: ${command}` : `cannot run ${command}: ${error.message}`;
      reject(transient ? new RetryableError(message, { cause: error }) : new PermanentError(message, { cause: error }));
    };
    child.once('error', onError);
    child.once('spawn', () => {
      child.off('error', onError);
      resolve(child);
    });
  });
}

/**
 * Sends a signal to a whole process group; false when the group no longer exists. Never throws:
 * it runs inside event handlers where a throw would leave `done` pending forever, and the only
 * failures (ESRCH gone, EPERM not ours) both mean there is nothing of ours left to signal.
 */
function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

function parseHandle(handle: string | null): number | undefined {
  const match = /^pid:(\d+)$/.exec(handle ?? '');
  const pid = match?.[1] === undefined ? NaN : Number(match[1]);
  return Number.isSafeInteger(pid) && pid > 1 ? pid : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    // ESRCH: gone. EPERM: alive but another user's, so certainly not our orphan.
    return false;
  }
}

/** Whether the process's environment holds this exact `NAME=value` entry (Linux /proc). */
function environHas(pid: number, entry: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(entry);
  } catch {
    return false;
  }
}
