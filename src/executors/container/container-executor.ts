/**
 * The `container` executor: runs each attempt as a local container through the podman or
 * docker CLI, with the process executor's semantics — env and files in, bounded head + tail
 * log out, exit code, stop on timeout/cancel/shutdown — plus recovery: containers run
 * detached and carry jobwire's labels, so a restarted jobwire finds them again and adopts them.
 *
 * Per attempt the run folder (run-folder.ts: the job's files and message.json) is mounted at
 * the working directory in the container; JOBWIRE_MESSAGE is message.json's path in there, and
 * JOBWIRE_OUTPUT names output.json in the same folder, read on the host when the container ended.
 * How the command line is built, and why message data is never on it, is in run-args.ts; the
 * lifecycle of a started container is in container-attempt.ts; engine choice in engine.ts.
 */
import { chmod, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { ContainerExecutorSettings } from '../../config/types.js';
import { JobwireError, PermanentError, RetryableError, errorMessage } from '../../core/errors.js';
import { DEFAULT_MAX_OUTPUT_BYTES, type RunRecord } from '../../core/run.js';
import type { Attempt, Executor, RecoveredAttempt, RunSpec } from '../executor.js';
import { readOutputFile } from '../output-file.js';
import { attemptFolder, outputFileOf, prepareRunFolder, removeRunFolder } from '../run-folder.js';
import { SpawnerClient } from '../spawner/client.js';
import { reportRecoveredSteps, reportSteps } from '../step-results.js';
import { ContainerAttempt } from './container-attempt.js';
import { EngineCli, engineMessage } from './engine-cli.js';
import { detectEngine, type ContainerEngine, type EngineName } from './engine.js';
import { LABEL_RUN_ID, buildRunPlan, containerName, type RunPlan } from './run-args.js';

export interface ContainerExecutorOptions {
  readonly name: string;
  readonly settings: ContainerExecutorSettings;
  /** Parent of the per-attempt folders; created (mode 0700) if missing. */
  readonly runsDir: string;
  readonly maxLogBytes: number;
  /**
   * `limits.maxOutputSize` for containers adopted after a restart (a started attempt uses its
   * spec's); default DEFAULT_MAX_OUTPUT_BYTES.
   */
  readonly maxOutputBytes?: number;
  readonly logger: Logger;
  /**
   * The process spawner to fork through, shared by every executor of a jobwire and closed by its
   * owner (app.ts). Without one the executor starts, and closes, its own.
   */
  readonly spawner?: SpawnerClient;
  /** Between SIGTERM and SIGKILL when a container is stopped; whole seconds. Default 10 s. */
  readonly stopGraceMs?: number;
  /** Where the engine's own variables (PATH, DOCKER_HOST, …) are read from; default jobwire's env. */
  readonly baseEnv?: NodeJS.ProcessEnv;
  /** The engine programs; default `podman` and `docker` from PATH. */
  readonly commands?: Partial<Readonly<Record<EngineName, string>>>;
}

/**
 * What the engine CLI needs from jobwire's environment to find itself, its config, its daemon
 * and its registries. Nothing else of jobwire's environment (its own secrets) reaches it.
 */
const ENGINE_ENV = /^(?:PATH|HOME|USER|LANG|LC_ALL|TZ|TMPDIR|XDG_[A-Z_]+|DOCKER_[A-Z_]+|CONTAINER_HOST|CONTAINER_CONNECTION|CONTAINER_SSHKEY|CONTAINERS_[A-Z_]+|REGISTRY_AUTH_FILE|DBUS_SESSION_BUS_ADDRESS|SSH_AUTH_SOCK|(?:HTTP|HTTPS|NO|ALL)_PROXY|(?:http|https|no|all)_proxy)$/;
const DEFAULT_STOP_GRACE_MS = 10_000;
/** After a failed engine detection, runs fail at once; a later run tries again after this. */
const REDETECT_AFTER_MS = 30_000;
/** Engine failures that no retry will fix: a bad image, reference, option or command. */
const PERMANENT_RUN_FAILURE =
  /image not known|no such image|manifest unknown|manifest for .* not found|invalid reference format|repository does not exist|pull access denied|requested access to the resource is denied|unauthorized|authentication required|unknown flag|unknown shorthand flag|invalid argument|no such network|network .*not found|unable to find network|minimum memory limit|range of cpus|executable file not found|command was not found|is not a valid/i;
/** The engine has no init binary for `--init` (podman without catatonit, docker without docker-init). */
const INIT_UNAVAILABLE = /catatonit|container-init|docker-init|init binary/i;

export function createContainerExecutor(options: ContainerExecutorOptions): Executor {
  return new ContainerExecutor(options);
}

class ContainerExecutor implements Executor {
  readonly type = 'container';
  /** Containers run detached: a shutdown may leave them (`dispatcher.onShutdown: leave`). */
  readonly canLeaveAttempts = true;
  readonly name: string;
  readonly #options: ContainerExecutorOptions;
  readonly #spawner: SpawnerClient;
  readonly #ownsSpawner: boolean;
  readonly #engineEnv: Readonly<Record<string, string>>;
  readonly #live = new Set<ContainerAttempt>();
  #engine: Promise<ContainerEngine> | undefined;
  #engineFailedAt: number | undefined;
  #runsDirReady: Promise<void> | undefined;
  /** Cleared when the engine turns out to have no init binary. */
  #useInit = true;
  #closed = false;

  constructor(options: ContainerExecutorOptions) {
    this.name = options.name;
    this.#options = options;
    this.#ownsSpawner = options.spawner === undefined;
    this.#spawner = options.spawner ?? new SpawnerClient({ maxLogBytes: options.maxLogBytes });
    const base = options.baseEnv ?? process.env;
    const env: Record<string, string> = {};
    for (const [name, value] of Object.entries(base)) {
      if (value !== undefined && ENGINE_ENV.test(name)) env[name] = value;
    }
    this.#engineEnv = env;
  }

  /** Detects the engine now, so the first run does not wait; says once in the log if none works. */
  prepare(): void {
    this.#getEngine().then(
      (engine) => this.#options.logger.info({ executor: this.name, engine: engine.name, version: engine.version }, 'container engine ready'),
      (error: unknown) => this.#options.logger.error({ executor: this.name, err: error }, errorMessage(error)),
    );
  }

  async start(spec: RunSpec): Promise<Attempt> {
    if (this.#closed) throw new RetryableError(`executor ${this.name} is closed`);
    if (spec.secretEnv.length > 0) {
      throw new PermanentError(`executor ${this.name} (container) cannot read Kubernetes secrets: ${spec.secretEnv.map((ref) => ref.name).join(', ')}`);
    }
    const engine = await this.#getEngine();
    await this.#ensureRunsDir();
    const hostDir = attemptFolder(this.#options.runsDir, spec.runId, spec.attempt);
    const envFilePath = `${hostDir}.env`;
    const cleanup = (): Promise<void> => this.#removeFiles(hostDir, envFilePath, spec.runId);
    try {
      // The job's workingDir is a path in the container: the host side is always the run folder.
      const { workingDir: _inContainer, ...hostSpec } = spec;
      const { messagePath } = await prepareRunFolder(hostSpec, hostDir);
      // The container may run as any user: it must be able to read its input and write its
      // outputs. The runs folder around it stays 0700, so other host users still cannot.
      await chmod(hostDir, 0o777);
      await chmod(messagePath, 0o644);
      const plan = await this.#runContainer(engine, spec, hostDir, envFilePath, path.basename(messagePath));
      const attempt = new ContainerAttempt({
        cli: engine.cli,
        containerName: plan.containerName,
        maxLogBytes: this.#options.maxLogBytes,
        stopGraceSeconds: this.#stopGraceSeconds(),
        cleanup,
        readOutput: () => readOutputFile(outputFileOf(hostDir), spec.maxOutputBytes),
        untrack: () => this.#live.delete(attempt),
        logger: this.#options.logger.child({ runId: spec.runId, correlationId: spec.correlationId, container: plan.containerName }),
        command: `${spec.argv[0] ?? "the image's default command"} in image ${spec.image ?? ''}`,
      });
      this.#track(attempt);
      return reportSteps(attempt, spec.steps);
    } catch (error) {
      await cleanup();
      if (error instanceof JobwireError) throw error;
      throw new PermanentError(`cannot prepare run ${spec.runId}: ${errorMessage(error)}`, { cause: error });
    }
  }

  async recover(run: RunRecord): Promise<RecoveredAttempt> {
    return reportRecoveredSteps(await this.#recoverAttempt(run), run.id);
  }

  async #recoverAttempt(run: RunRecord): Promise<RecoveredAttempt> {
    const engine = await this.#getEngine();
    const listed = await engine.cli.run(['ps', '--all', `--filter=label=${LABEL_RUN_ID}=${run.id}`, '--format', 'jobwire-container {{.Names}} {{.State}}']);
    if (listed.code !== 0) throw new RetryableError(`cannot list containers with ${engine.name}: ${engineMessage(listed.output)}`);
    const found = new Map<string, string>();
    for (const match of listed.output.matchAll(/^jobwire-container (\S+) (\S+)/gm)) found.set(match[1] ?? '', (match[2] ?? '').toLowerCase());
    const expected = run.attempts > 0 ? containerName(run.id, run.attempts) : undefined;
    const hostDir = run.attempts > 0 ? attemptFolder(this.#options.runsDir, run.id, run.attempts) : undefined;
    const cleanup = (): Promise<void> => (hostDir === undefined ? Promise.resolve() : this.#removeFiles(hostDir, `${hostDir}.env`, run.id));
    // Containers of earlier attempts whose removal a crash interrupted: their results are recorded.
    for (const name of found.keys()) if (name !== expected) await this.#forceRemove(engine, name);
    const state = expected === undefined ? undefined : found.get(expected);
    if (expected === undefined || hostDir === undefined || state === undefined) {
      await cleanup();
      if (run.status === 'starting') return { kind: 'not-started', reason: `jobwire restarted before the ${engine.name} container of the run was created` };
      return { kind: 'lost', reason: `jobwire restarted while the run was in flight and no ${engine.name} container of it was found (removed outside jobwire)` };
    }
    if (state === 'created' || state === 'configured' || state === 'initialized') {
      // Created, never started: nothing of the job ran, so this was not an attempt.
      await this.#forceRemove(engine, expected);
      await cleanup();
      return { kind: 'not-started', reason: `jobwire restarted while container ${expected} was being started; it never ran and was removed` };
    }
    const attempt = new ContainerAttempt({
      cli: engine.cli,
      containerName: expected,
      maxLogBytes: this.#options.maxLogBytes,
      stopGraceSeconds: this.#stopGraceSeconds(),
      cleanup,
      // The folder lives as long as the container: one that exited while jobwire was down still has its output.
      readOutput: () => readOutputFile(outputFileOf(hostDir), this.#options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES),
      untrack: () => this.#live.delete(attempt),
      logger: this.#options.logger.child({ runId: run.id, correlationId: run.correlationId, container: expected }),
    });
    this.#track(attempt);
    return { kind: 'adopted', attempt };
  }

  async close(): Promise<void> {
    this.#closed = true;
    const attempts = [...this.#live];
    for (const attempt of attempts) attempt.stop('shutdown');
    await Promise.all(attempts.map((attempt) => attempt.done));
    if (this.#ownsSpawner) await this.#spawner.close();
  }

  #track(attempt: ContainerAttempt): void {
    this.#live.add(attempt);
    void attempt.done.then(() => this.#live.delete(attempt));
    // close() ran while this attempt was starting: the shutdown applies to it as well.
    if (this.#closed) attempt.stop('shutdown');
  }

  /**
   * `<engine> run --detach …`: resolves once the container runs. Retries once without
   * `--init` when the engine has no init binary, and once after removing a leftover container
   * of the same name.
   */
  async #runContainer(engine: ContainerEngine, spec: RunSpec, hostDir: string, envFilePath: string, messageFile: string): Promise<RunPlan> {
    let removedLeftover = false;
    for (;;) {
      const plan = buildRunPlan({ spec, settings: this.#options.settings, engine: engine.name, hostDir, envFilePath, init: this.#useInit }, messageFile);
      if (plan.envFile !== undefined) await writeFile(envFilePath, plan.envFile, { mode: 0o600 });
      let result;
      try {
        result = await engine.cli.run(plan.args, { env: plan.env });
      } catch (error) {
        // The engine could not be called (the spawner failed, the CLI vanished): may pass.
        throw new RetryableError(`cannot start the container: ${errorMessage(error)}`, { cause: error });
      }
      if (result.code === 0) return plan;
      const message = engineMessage(result.output);
      if (/already in use/i.test(message) && !removedLeftover) {
        removedLeftover = true;
        await this.#forceRemove(engine, plan.containerName);
        continue;
      }
      // A failed start may leave a created container behind.
      await this.#forceRemove(engine, plan.containerName);
      if (plan.args.includes('--init') && INIT_UNAVAILABLE.test(message)) {
        this.#useInit = false;
        this.#options.logger.warn({ executor: this.name, engine: engine.name, problem: message }, 'the container engine has no init binary; running containers without --init');
        continue;
      }
      const text = `${engine.name} could not start the container for image ${spec.image}: ${message}`;
      if (result.code === 126 || result.code === 127 || PERMANENT_RUN_FAILURE.test(message)) throw new PermanentError(text);
      throw new RetryableError(text);
    }
  }

  #getEngine(): Promise<ContainerEngine> {
    const failedAt = this.#engineFailedAt;
    if (this.#engine === undefined || (failedAt !== undefined && Date.now() - failedAt > REDETECT_AFTER_MS)) {
      this.#engineFailedAt = undefined;
      const detection = detectEngine(this.#options.settings.engine, (name) => this.#cli(name));
      detection.catch(() => {
        this.#engineFailedAt = Date.now();
      });
      this.#engine = detection;
    }
    return this.#engine;
  }

  #cli(name: EngineName): EngineCli {
    return new EngineCli({
      spawner: this.#spawner,
      command: this.#options.commands?.[name] ?? name,
      // Any folder that surely exists: a missing cwd fails the spawn with ENOENT, like a missing program.
      cwd: '/',
      env: this.#engineEnv,
    });
  }

  #stopGraceSeconds(): number {
    return Math.max(0, Math.ceil((this.#options.stopGraceMs ?? DEFAULT_STOP_GRACE_MS) / 1000));
  }

  /** The runs folder exists and only jobwire's user can enter it (attempt folders inside are open). */
  #ensureRunsDir(): Promise<void> {
    this.#runsDirReady ??= (async () => {
      const dir = path.resolve(this.#options.runsDir);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const info = await stat(dir);
      if ((info.mode & 0o077) !== 0) await chmod(dir, info.mode & 0o700);
    })().catch((error: unknown) => {
      this.#runsDirReady = undefined;
      throw new RetryableError(`cannot prepare the runs folder ${this.#options.runsDir}: ${errorMessage(error)}`, { cause: error });
    });
    return this.#runsDirReady;
  }

  /** Kills (if running) and removes a container: podman's `rm --force` alone would wait out the stop timeout. */
  async #forceRemove(engine: ContainerEngine, name: string): Promise<void> {
    try {
      await engine.cli.run(['kill', name]);
      await engine.cli.run(['rm', '--force', '--volumes', name]);
    } catch (error) {
      this.#options.logger.warn({ container: name, err: error }, 'could not remove the container');
    }
  }

  async #removeFiles(hostDir: string, envFilePath: string, runId: string): Promise<void> {
    try {
      await rm(envFilePath, { force: true });
      await removeRunFolder(hostDir);
    } catch (error) {
      this.#options.logger.warn({ err: error, runId, dir: hostDir }, 'could not remove run folder');
    }
  }
}
