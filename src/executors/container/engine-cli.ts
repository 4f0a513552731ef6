/**
 * Calls to a container engine's CLI (`podman …`, `docker …`), made through the process spawner
 * (../spawner) like every other process jobwire starts, so forking the engine never blocks
 * jobwire's event loop. No shell is involved: arguments are passed as-is, and anything that came
 * from a message travels in the engine process's environment (see run-args.ts), never in argv.
 *
 * Every call runs to its end and returns its exit code and output (stdout and stderr together),
 * bounded head + tail by the spawner: a few KiB for most commands, maxLogBytes for `logs`.
 */
import { JobwireError, errorMessage } from '../../core/errors.js';
import type { CapturedLog } from '../executor.js';
import type { SpawnedChild, SpawnerClient } from '../spawner/client.js';
import { ChildSpawnError } from '../spawner/errors.js';

/** The engine could not be called at all (not installed, not executable, the spawner failed). */
export class EngineCliError extends JobwireError {
  override readonly name: string = 'EngineCliError';
  /** True when the engine program does not exist (ENOENT): no retry will help. */
  readonly missing: boolean;

  constructor(message: string, options: { missing: boolean; cause?: unknown }) {
    super(message, options);
    this.missing = options.missing;
  }
}

export interface CliResult {
  /** Exit code; null when the engine was killed by a signal or its supervisor was lost. */
  readonly code: number | null;
  readonly output: string;
  /** The output with its byte counts (head + tail when it was larger than asked for). */
  readonly log: CapturedLog;
}

export interface RunOptions {
  /** Added to the engine's environment for this call. */
  readonly env?: Readonly<Record<string, string>>;
  /** Output kept, head + tail; default 64 KiB. */
  readonly maxOutputBytes?: number;
  /** Join the engine's stderr to its stdout in one pipe, so their order is kept. */
  readonly joinStderr?: boolean;
}

export interface EngineCliOptions {
  readonly spawner: SpawnerClient;
  /** The program: `podman`, `docker`, or a path. */
  readonly command: string;
  /** Working directory of the engine process (nothing is relative to it). */
  readonly cwd: string;
  /** The engine's environment for every call; `run` may add to it. */
  readonly env: Readonly<Record<string, string>>;
}

/** Runs the engine with stderr joined to stdout (see `run`, `joinStderr`). */
const JOIN_SHELL = '/bin/sh';
/** Output kept of a short command: plenty for an id, an exit code or an error message. */
const SHORT_OUTPUT_BYTES = 64 * 1024;

export class EngineCli {
  readonly command: string;
  readonly #options: EngineCliOptions;

  constructor(options: EngineCliOptions) {
    this.command = options.command;
    this.#options = options;
  }

  /**
   * Runs `<engine> ...args` to the end; output bounded to `maxOutputBytes` (head + tail).
   * Throws EngineCliError only when the engine could not be started at all.
   */
  async run(args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
    const { spawner, command, cwd, env } = this.#options;
    // `logs` replays the container's stdout and stderr lines in order, but to two pipes: read
    // back from two pipes, a finished container's stderr would land after all of its stdout.
    // So the engine can run with stderr joined to stdout, through a fixed `sh` line whose only
    // inputs are positional arguments (engine, container name), never data.
    const argv = options.joinStderr === true ? [JOIN_SHELL, '-c', 'exec "$@" 2>&1', 'sh', command, ...args] : [command, ...args];
    let child: SpawnedChild;
    try {
      child = await spawner.spawn({
        argv,
        cwd,
        env: options.env === undefined ? env : { ...env, ...options.env },
        maxLogBytes: options.maxOutputBytes ?? SHORT_OUTPUT_BYTES,
      });
    } catch (error) {
      if (error instanceof ChildSpawnError && error.code === 'ENOENT') {
        throw new EngineCliError(`${command}: not found in PATH`, { missing: true, cause: error });
      }
      throw new EngineCliError(`cannot run ${command}: ${errorMessage(error)}`, { missing: false, cause: error });
    }
    const end = await child.ended;
    return { code: end.kind === 'exited' ? end.code : null, output: end.log.text, log: end.log };
  }
}

/**
 * The engine's own words about a failure: its `Error` lines when it printed some (podman and
 * docker both mark their fatal message that way), else its last non-empty lines. Bounded, for
 * run records and log lines.
 */
export function engineMessage(output: string, maxChars = 600): string {
  const lines = output
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  // podman: `Error: …`; docker: `docker: Error response from daemon: …`, `Cannot connect to …`.
  const errors = lines.filter((line) => /^(?:[\w.-]+: )?Error\b/i.test(line) || /^Cannot connect to/i.test(line));
  const text = (errors.length > 0 ? errors : lines.slice(-2)).join(' / ');
  if (text === '') return 'no output';
  return text.length > maxChars ? `${text.slice(0, maxChars)}…` : text;
}
