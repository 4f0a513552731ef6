/**
 * One container run, from "the engine says it is running" to "its result is known and the
 * container is gone". The container runs detached, so it outlives jobwire: a restarted jobwire
 * adopts it by name (container-executor.ts `recover`) and watches it the same way.
 *
 * Watching is three engine calls: `wait` (blocks until the container exits; its exit code),
 * `logs` (the whole log, captured head + tail), `rm --force` (nothing is left behind). The log is
 * read once the container has exited, not streamed with `logs --follow`: podman 4.3's follow
 * mode stops at the container's exit before it has replayed everything (a fast `seq 1 100000`
 * lost three quarters of its output), so only a read after the exit is complete. A live view
 * (`readLog`) reads the log so far the same way. Stopping is `stop --time=<grace>` (SIGTERM,
 * then SIGKILL after the grace); `wait` then returns and the same path records `stopped`.
 *
 * The job's output (`$JOBWIRE_OUTPUT`, a file in the mounted run folder) is read from the host
 * side once the container has exited, before the folder is removed — for an adopted container
 * too, since its folder lives as long as the container.
 */
import type { Logger } from 'pino';
import { JobwireError, PermanentError, errorMessage } from '../../core/errors.js';
import type { AttemptOutput } from '../../core/run.js';
import type { Attempt, AttemptResult, CapturedLog, StopReason } from '../executor.js';
import { engineMessage, type EngineCli } from './engine-cli.js';

export interface ContainerAttemptOptions {
  readonly cli: EngineCli;
  readonly containerName: string;
  readonly maxLogBytes: number;
  /** `stop --time`, in whole seconds. */
  readonly stopGraceSeconds: number;
  /** Removes the run's folder and env file; runs before `done` resolves. */
  readonly cleanup: () => Promise<void>;
  /** What the job wrote to `$JOBWIRE_OUTPUT`, read from the run folder on the host (never throws). */
  readonly readOutput: () => Promise<AttemptOutput>;
  /** The executor stops counting it as its own (left running at shutdown). */
  readonly untrack?: () => void;
  readonly logger: Logger;
  /** What runs, for messages: `sh in image busybox` (unknown for an adopted container). */
  readonly command?: string;
}

/** How the container ended, as far as the engine can tell. */
type Exit = { readonly kind: 'exited'; readonly code: number } | { readonly kind: 'unknown'; readonly reason: string };

const EMPTY_LOG: CapturedLog = { text: '', droppedBytes: 0, totalBytes: 0 };
/**
 * The whole log of a container whose init (`--init`: podman's catatonit, docker's tini) could not
 * exec the job's command: the command is missing or not executable in the image.
 */
const INIT_EXEC_FAILURE = /^(?:ERROR \(catatonit:\d+\): failed to exec pid1|\[FATAL tini \(\d+\)\] exec .* failed): ([^\n]*)\n?$/;
/** `wait` retries when the engine itself fails (daemon restarting, spawner lost): backoff steps. */
const WAIT_RETRY_DELAYS_MS = [250, 1000, 2000, 5000, 10_000];

export class ContainerAttempt implements Attempt {
  readonly handle: string;
  readonly done: Promise<AttemptResult>;
  readonly #options: ContainerAttemptOptions;
  /** The latest log read; final once `#finished`. */
  #log: CapturedLog = EMPTY_LOG;
  /** A `logs` call in flight, shared by every reader waiting for it. */
  #reading: Promise<CapturedLog> | undefined;
  #stopRequested = false;
  #finished = false;
  /** Left running at shutdown: the next jobwire adopts the container; nothing here touches it. */
  #left = false;

  constructor(options: ContainerAttemptOptions) {
    this.#options = options;
    this.handle = options.containerName;
    this.done = this.#watch();
  }

  readLog(): Promise<CapturedLog> {
    if (this.#finished) return Promise.resolve(this.#log);
    this.#reading ??= this.#readLogNow().finally(() => {
      this.#reading = undefined;
    });
    return this.#reading;
  }

  leave(): void {
    this.#left = true;
    this.#options.untrack?.();
  }

  stop(_reason: StopReason): void {
    // The reason is the dispatcher's to record; the container is stopped the same way for all.
    if (this.#stopRequested || this.#finished) return;
    this.#stopRequested = true;
    void this.#stopContainer();
  }

  async #stopContainer(): Promise<void> {
    const { cli, containerName, stopGraceSeconds, logger } = this.#options;
    try {
      const result = await cli.run(['stop', `--time=${stopGraceSeconds}`, containerName]);
      if (result.code === 0 || isNoSuchContainer(result.output)) return;
      logger.warn({ container: containerName, output: engineMessage(result.output) }, 'container stop failed; removing it by force');
    } catch (error) {
      logger.warn({ container: containerName, err: error }, 'container stop failed; removing it by force');
    }
    // SIGKILL, then remove (podman's `rm --force` alone would wait out the stop timeout first):
    // `wait` then returns and the run finishes.
    await cli.run(['kill', containerName]).catch(() => undefined);
    await this.#remove();
  }

  async #watch(): Promise<AttemptResult> {
    const exit = await this.#waitForExit();
    // Its `wait` ended with the channel to the engine; the container runs on for the next jobwire.
    if (this.#left) return { kind: 'stopped', log: this.#log };
    // A live read may be in flight; the read after the exit is the complete one.
    await this.#reading?.catch(() => undefined);
    await this.#readLogNow();
    this.#finished = true;
    await this.#remove();
    const output = await this.#options.readOutput();
    await this.#options.cleanup();
    return { ...this.#result(exit), output };
  }

  #result(exit: Exit): AttemptResult {
    const log = this.#log;
    if (this.#stopRequested) return { kind: 'stopped', log };
    if (exit.kind === 'unknown') return { kind: 'error', error: new ContainerLostError(exit.reason), log };
    const execFailure = exit.code !== 0 ? INIT_EXEC_FAILURE.exec(log.text) : null;
    if (execFailure !== null) {
      // What a start without --init reports up front: the same job would fail the same way again.
      const what = this.#options.command ?? 'the command';
      return { kind: 'error', error: new PermanentError(`cannot run ${what}: ${execFailure[1] ?? 'exec failed'}`), log };
    }
    return { kind: 'exited', exitCode: exit.code, log };
  }

  /** `<engine> logs`: everything so far, head + tail. Keeps the last good read on failure. */
  async #readLogNow(): Promise<CapturedLog> {
    const { cli, containerName, maxLogBytes, logger } = this.#options;
    try {
      const result = await cli.run(['logs', containerName], { maxOutputBytes: maxLogBytes, joinStderr: true });
      if (result.code === 0) this.#log = result.log;
      else if (!isNoSuchContainer(result.output)) {
        logger.warn({ container: containerName, output: engineMessage(result.output) }, 'cannot read the container log');
      }
    } catch (error) {
      logger.warn({ container: containerName, err: error }, 'cannot read the container log');
    }
    return this.#log;
  }

  /** `<engine> wait`: the exit code, retried while the engine itself fails. */
  async #waitForExit(): Promise<Exit> {
    const { cli, containerName, logger } = this.#options;
    let lastProblem = '';
    for (let attempt = 0; ; attempt++) {
      try {
        const result = await cli.run(['wait', containerName]);
        const code = lastInteger(result.output);
        if (result.code === 0 && code !== undefined) {
          return code >= 0 ? { kind: 'exited', code } : { kind: 'unknown', reason: `the engine could not tell the exit code of container ${containerName}` };
        }
        if (isNoSuchContainer(result.output)) {
          return { kind: 'unknown', reason: `container ${containerName} disappeared before its exit code was read (removed outside jobwire?)` };
        }
        lastProblem = engineMessage(result.output);
      } catch (error) {
        lastProblem = errorMessage(error);
      }
      const delay = WAIT_RETRY_DELAYS_MS[attempt];
      if (this.#left) return { kind: 'unknown', reason: 'left running at shutdown' };
      if (delay === undefined) {
        return { kind: 'unknown', reason: `cannot read the exit code of container ${containerName}: ${lastProblem}` };
      }
      logger.warn({ container: containerName, problem: lastProblem }, 'container wait failed; retrying');
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  async #remove(): Promise<void> {
    const { cli, containerName, logger } = this.#options;
    try {
      const result = await cli.run(['rm', '--force', '--volumes', containerName]);
      if (result.code !== 0 && !isNoSuchContainer(result.output)) {
        logger.warn({ container: containerName, output: engineMessage(result.output) }, 'could not remove the container');
      }
    } catch (error) {
      logger.warn({ container: containerName, err: error }, 'could not remove the container');
    }
  }
}

/** The container's end could not be observed (it vanished, the engine stopped answering). */
export class ContainerLostError extends JobwireError {
  override readonly name: string = 'ContainerLostError';
}

export function isNoSuchContainer(output: string): boolean {
  return /no such container|no container with name or id/i.test(output);
}

/** The last line that is a whole number (warnings may come before it). */
function lastInteger(output: string): number | undefined {
  for (const line of output.trim().split('\n').reverse()) {
    const text = line.trim();
    if (/^-?[0-9]+$/.test(text)) return Number(text);
  }
  return undefined;
}
