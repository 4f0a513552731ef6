/**
 * The `process` executor: runs an attempt as a local child process in its own process group.
 *
 * Message data reaches the child only through its environment and files (message.json), never
 * through argv or a shell line: the child is spawned with argv as-is and no shell. The child sees
 * a small allow-list of jobwire's environment plus the job's env, so secrets jobwire itself holds
 * do not leak into jobs that did not ask for them.
 *
 * jobwire prepares the run's folder (run-folder.ts) and environment here; the fork/exec, output
 * capture and exit wait happen in a small helper process, the spawner (spawner/main.ts), so that
 * forking never blocks jobwire's main thread. Stopping needs no round trip: jobwire signals the
 * run's process group itself.
 *
 * Crash safety: the spawner outlives jobwire (spawner/main.ts). After a restart `recover` asks it
 * for the attempt by its folder name: still running → adopted (live log, stop, timeout as
 * before); ended while jobwire was down → its true exit code and output, from the spawner's
 * memory or the exit record it wrote to the attempt's folder. Neither, and the run was still
 * `starting` → it never started. Only when the spawner itself is gone too (the machine
 * restarted) is a started attempt lost.
 *
 * Outputs: `$JOBWIRE_OUTPUT` is output.json in the attempt's folder, read when the attempt ends
 * (output-file.ts), adopted attempts included. A folder holding an output is kept until the end
 * is in the store (`release`), so an end the spawner still holds after a crash finds its output
 * again; the spawner's exit record, written there on that crash, lets `recovered` remove it.
 */
import { readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { JobwireError, PermanentError, RetryableError, errorMessage } from '../core/errors.js';
import { DEFAULT_MAX_OUTPUT_BYTES, type AttemptOutput, type RunRecord } from '../core/run.js';
import type {
  Attempt,
  AttemptResult,
  CapturedLog,
  Executor,
  RecoveredAttempt,
  RunSpec,
  StopReason,
} from './executor.js';
import { signalGroup } from './process-group.js';
import { readOutputFile } from './output-file.js';
import { attemptFolder, outputFileOf, prepareRunFolder, removeRunFolder } from './run-folder.js';
import { reportRecoveredSteps, reportSteps } from './step-results.js';
import { SpawnerClient, type ChildEnd, type SpawnOptions, type SpawnedChild } from './spawner/client.js';
import { ChildSpawnError, SpawnerError } from './spawner/errors.js';
import { readExitRecord, type ExitRecord } from './spawner/exit-record.js';

export interface ProcessExecutorOptions {
  readonly name: string;
  /** Parent of the per-attempt folders; created if missing. */
  readonly runsDir: string;
  readonly maxLogBytes: number;
  /**
   * `limits.maxOutputSize` for attempts adopted after a restart (a started attempt uses its
   * spec's); default DEFAULT_MAX_OUTPUT_BYTES.
   */
  readonly maxOutputBytes?: number;
  /**
   * The process spawner to fork through, shared by every executor of a jobwire and closed by its
   * owner (app.ts). Without one the executor starts, and closes, its own.
   */
  readonly spawner?: SpawnerClient;
  /** How long a stopped process group gets between SIGTERM and SIGKILL. */
  readonly killGraceMs?: number;
  /** Where the allow-listed variables are read from; defaults to jobwire's own environment. */
  readonly baseEnv?: NodeJS.ProcessEnv;
  readonly logger?: { warn(obj: object, msg: string): void; info?(obj: object, msg: string): void };
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
  readonly #spawner: SpawnerClient;
  readonly #ownsSpawner: boolean;
  /** Attempt folders that recovery handed to a run; the rest with an exit record are leftovers. */
  readonly #claimedFolders = new Set<string>();
  #closed = false;

  constructor(options: ProcessExecutorOptions) {
    this.name = options.name;
    this.#options = options;
    this.#ownsSpawner = options.spawner === undefined;
    this.#spawner = options.spawner ?? new SpawnerClient({ maxLogBytes: options.maxLogBytes });
  }

  get canLeaveAttempts(): boolean {
    return this.#spawner.persistent;
  }

  async start(spec: RunSpec): Promise<Attempt> {
    if (this.#closed) throw new RetryableError(`executor ${this.name} is closed`);
    const runDir = attemptFolder(this.#options.runsDir, spec.runId, spec.attempt);
    try {
      const { cwd, messagePath, outputPath } = await prepareRunFolder(spec, runDir);
      const env = childEnv(this.#options.baseEnv ?? process.env, spec.env, {
        JOBWIRE_MESSAGE: messagePath,
        JOBWIRE_OUTPUT: outputPath,
        JOBWIRE_WORKDIR: cwd,
      });
      const child = await spawnChild(this.#spawner, {
        argv: spec.argv,
        cwd,
        env,
        maxLogBytes: this.#options.maxLogBytes,
        attempt: { key: path.basename(runDir), dir: runDir },
      });
      const attempt = this.#track(child, runDir, spec.runId, spec.maxOutputBytes);
      // close() ran while this start was preparing: the shutdown applies to it as well.
      if (this.#closed) attempt.stop('shutdown');
      return reportSteps(attempt, spec.steps);
    } catch (error) {
      await this.#removeFolder(runDir, spec.runId);
      if (error instanceof JobwireError) throw error;
      throw new PermanentError(`cannot prepare run ${spec.runId}: ${errorMessage(error)}`, { cause: error });
    }
  }

  async recover(run: RunRecord): Promise<RecoveredAttempt> {
    return reportRecoveredSteps(await this.#recoverAttempt(run), run.id);
  }

  async #recoverAttempt(run: RunRecord): Promise<RecoveredAttempt> {
    if (run.attempts === 0) return { kind: 'not-started', reason: 'jobwire restarted before the run was started' };
    const runDir = attemptFolder(this.#options.runsDir, run.id, run.attempts);
    const key = path.basename(runDir);
    const adopted = await this.#spawner.adopt(key);
    if (adopted !== undefined) {
      this.#claimedFolders.add(key);
      return { kind: 'adopted', attempt: this.#track(adopted, runDir, run.id, this.#recoveredMaxOutputBytes()) };
    }
    const record = await readExitRecord(runDir).catch((error: unknown) => {
      this.#options.logger?.warn({ err: error, runId: run.id, dir: runDir }, 'the exit record of an attempt is unreadable; the attempt counts as lost');
      return undefined;
    });
    if (record !== undefined && record.key === key) {
      this.#claimedFolders.add(key);
      // The record is this end's only copy until the store has it: the folder goes at release.
      const attempt = this.#track(new RecordedChild(record), runDir, run.id, this.#recoveredMaxOutputBytes(), { keepFolderUntilRelease: true });
      return { kind: 'adopted', attempt };
    }
    const pid = parseHandle(run.handle);
    let killed = false;
    if (pid !== undefined && isAlive(pid) && environHas(pid, `JOBWIRE_RUN_ID=${run.id}`)) {
      // Its spawner is gone (it would have listed it), so nothing can report its end any more.
      // The orphan was spawned detached, so its pid is also its process group id.
      killed = signalGroup(pid, 'SIGKILL');
    }
    await this.#removeFolder(runDir, run.id);
    if (killed) {
      return { kind: 'lost', reason: `the process spawner that supervised the run is gone (pid ${pid} was still running and was killed)` };
    }
    if (run.status === 'starting') return { kind: 'not-started', reason: 'jobwire restarted before the process was started' };
    return { kind: 'lost', reason: 'the process is gone and so is its supervisor (the machine restarted, or the spawner was killed)' };
  }

  async recovered(): Promise<void> {
    await this.#spawner.releaseUnclaimed();
    // Exit records of attempts whose end the store had already recorded (a crash came between
    // recording it and removing the folder).
    const names = await readdir(this.#options.runsDir).catch(() => [] as string[]);
    for (const name of names) {
      if (this.#claimedFolders.has(name)) continue;
      const dir = path.join(path.resolve(this.#options.runsDir), name);
      const record = await readExitRecord(dir).catch(() => undefined);
      if (record !== undefined) await this.#removeFolder(dir, name);
    }
    this.#claimedFolders.clear();
  }

  #track(
    child: SpawnedChild,
    runDir: string,
    runId: string,
    maxOutputBytes: number,
    options: { keepFolderUntilRelease?: boolean } = {},
  ): ProcessAttempt {
    const attempt = new ProcessAttempt(child, {
      killGraceMs: this.#options.killGraceMs ?? DEFAULT_KILL_GRACE_MS,
      keepFolderUntilRelease: options.keepFolderUntilRelease === true,
      readOutput: () => readOutputFile(outputFileOf(runDir), maxOutputBytes),
      cleanup: () => this.#removeFolder(runDir, runId),
      untrack: () => this.#live.delete(attempt),
    });
    this.#live.add(attempt);
    void attempt.done.then(() => this.#live.delete(attempt));
    return attempt;
  }

  /** The limit an adopted attempt's output is read with: the current config's. */
  #recoveredMaxOutputBytes(): number {
    return this.#options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  }

  prepare(): void {
    this.#spawner.warm();
  }

  async close(): Promise<void> {
    this.#closed = true;
    const attempts = [...this.#live];
    for (const attempt of attempts) attempt.stop('shutdown');
    await Promise.all(attempts.map((attempt) => attempt.done));
    if (this.#ownsSpawner) await this.#spawner.close();
  }

  async #removeFolder(dir: string, runId: string): Promise<void> {
    try {
      await removeRunFolder(dir);
    } catch (error) {
      this.#options.logger?.warn({ err: error, runId, dir }, 'could not remove run folder');
    }
  }
}

interface AttemptOptions {
  readonly killGraceMs: number;
  /** Removes the per-run folder; runs before `done` resolves so callers see a clean disk. */
  readonly cleanup: () => Promise<void>;
  /** The folder holds the end's exit record: it is removed at release (committed), not before. */
  readonly keepFolderUntilRelease: boolean;
  /** What the job wrote to `$JOBWIRE_OUTPUT`, read from its folder (never throws). */
  readonly readOutput: () => Promise<AttemptOutput>;
  /** The executor stops counting it as its own (it was left running at shutdown). */
  readonly untrack: () => void;
}

/**
 * One running child, supervised by the spawner. `done` waits for the spawner's report, which
 * comes after both the exit and the end of stdout/stderr, so the log is complete — except after
 * a stop, where a process that escaped the group may hold the pipes forever; then the leader's
 * exit plus a bounded drain is enough (the drain timer releases the pipes).
 */
class ProcessAttempt implements Attempt {
  readonly handle: string;
  readonly startedAt: number;
  readonly done: Promise<AttemptResult>;
  readonly #child: SpawnedChild;
  readonly #pid: number;
  readonly #options: AttemptOptions;
  #left = false;
  #stopRequested = false;
  #finished = false;
  /** The folder goes at release, not before `done`: it holds the only copy of the end or its output. */
  #folderKeptUntilRelease: boolean;
  #graceTimer: NodeJS.Timeout | undefined;
  #drainTimer: NodeJS.Timeout | undefined;

  constructor(child: SpawnedChild, options: AttemptOptions) {
    this.#child = child;
    this.#pid = child.pid;
    this.handle = `pid:${child.pid}`;
    this.startedAt = child.startedAt;
    this.#options = options;
    this.#folderKeptUntilRelease = options.keepFolderUntilRelease;
    this.done = child.ended.then((end) => this.#finish(end));
  }

  /** Asks the spawner for the output so far. */
  readLog(): Promise<CapturedLog> {
    return this.#child.readLog();
  }

  release(): void {
    if (!this.#folderKeptUntilRelease) {
      this.#child.release();
      return;
    }
    // Folder first: should jobwire die in between, the spawner still holds the end, writes its
    // exit record into the folder, and the next start's `recovered` removes both.
    void this.#options.cleanup().then(() => this.#child.release());
  }

  leave(): void {
    this.#left = true;
    this.#options.untrack();
  }

  stop(_reason: StopReason): void {
    // The reason is the dispatcher's to record; the process is stopped the same way for all.
    if (this.#stopRequested || this.#finished) return;
    this.#stopRequested = true;
    signalGroup(this.#pid, 'SIGTERM');
    this.#graceTimer = setTimeout(() => {
      signalGroup(this.#pid, 'SIGKILL');
      this.#drainTimer = setTimeout(
        () => this.#child.releasePipes(),
        Math.min(this.#options.killGraceMs, MAX_DRAIN_AFTER_KILL_MS),
      );
    }, this.#options.killGraceMs);
  }

  async #finish(end: ChildEnd): Promise<AttemptResult> {
    this.#finished = true;
    clearTimeout(this.#graceTimer);
    clearTimeout(this.#drainTimer);
    // The spawner already killed what the run left in its group (or, if the spawner died, the
    // client killed the whole group): nothing of this run is left to signal.
    const result = this.#result(end);
    const ended = end.kind === 'exited' ? { ...result, endedAt: end.endedAt } : result;
    // Left running: its folder is its working directory (and its output not written yet), the
    // next jobwire's to read and remove.
    if (this.#left) return ended;
    const output = await this.#options.readOutput();
    // Until the store has the end, the spawner may hand it to the next jobwire after a crash;
    // the output must still be there then.
    if (output.kind !== 'none') this.#folderKeptUntilRelease = true;
    if (!this.#folderKeptUntilRelease) await this.#options.cleanup();
    return { ...ended, output };
  }

  #result(end: ChildEnd): AttemptResult {
    const log = end.log;
    if (this.#stopRequested) return { kind: 'stopped', log };
    if (end.kind === 'lost') return { kind: 'error', error: end.error, log };
    if (end.error !== undefined) return { kind: 'error', error: end.error, log };
    if (end.code !== null) return { kind: 'exited', exitCode: end.code, log };
    if (end.signal !== null) return { kind: 'signaled', signal: end.signal, log };
    return { kind: 'error', error: new JobwireError('process ended without an exit status'), log };
  }
}

/** An attempt that ended while no jobwire was attached, as its exit record tells it. */
class RecordedChild implements SpawnedChild {
  readonly pid: number;
  readonly startedAt: number;
  readonly ended: Promise<ChildEnd>;
  readonly #log: CapturedLog;

  constructor(record: ExitRecord) {
    const { end } = record;
    this.pid = record.pid;
    this.startedAt = record.startedAt;
    this.#log = end.log;
    const error = end.error === null ? undefined : Object.assign(new Error(end.error.message), { code: end.error.code });
    this.ended = Promise.resolve({ kind: 'exited', code: end.code, signal: end.signal, error, log: end.log, endedAt: end.endedAt });
  }

  readLog(): Promise<CapturedLog> {
    return Promise.resolve(this.#log);
  }

  releasePipes(): void {
    // It ended long ago: nothing holds its pipes.
  }

  release(): void {
    // The record lives in the attempt's folder, which cleanup removes.
  }
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

/**
 * Starts through the spawner; resolves once the program really started (the child's 'spawn'
 * event, in the spawner), and maps failures to what the dispatcher should do about them.
 */
async function spawnChild(spawner: SpawnerClient, options: SpawnOptions): Promise<SpawnedChild> {
  const command = options.argv[0];
  if (command === undefined || command === '') throw new PermanentError('the command is empty');
  try {
    return await spawner.spawn(options);
  } catch (error) {
    // The helper failed, not the command: a later attempt gets a fresh spawner.
    if (error instanceof SpawnerError) throw new RetryableError(`cannot run ${command}: ${error.message}`, { cause: error });
    if (!(error instanceof ChildSpawnError)) throw error;
    // Thrown synchronously by spawn(): invalid arguments (e.g. a NUL byte in an env value).
    if (error.thrown) throw new PermanentError(`cannot run ${command}: ${error.message}`, { cause: error });
    const message = error.code === 'ENOENT' ? `command not found: ${command}` : `cannot run ${command}: ${error.message}`;
    const transient = error.code !== undefined && TRANSIENT_SPAWN_CODES.has(error.code);
    throw transient ? new RetryableError(message, { cause: error }) : new PermanentError(message, { cause: error });
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
