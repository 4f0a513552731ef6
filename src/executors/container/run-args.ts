/**
 * The `<engine> run` command line of one attempt, and the environment it needs.
 *
 * Message data never appears on the command line (which any local user can read in `ps`) nor in
 * a shell string: each env var is passed as `--env=NAME`, which makes the engine copy the value
 * from its own environment, where jobwire put it. Only names the engine itself (or the C library
 * or Go runtime under it) reads — PATH, LD_*, DOCKER_*, HTTP_PROXY… — would change how the engine
 * behaves if set there, so those few go through an env file instead (one `NAME=value` per line,
 * mode 0600, outside the mounted folder); a value an env file cannot carry (a line break) is
 * refused for them. Everything else on the line comes from the reviewed config or from jobwire:
 * image, argv, labels, limits, the run folder.
 */
import path from 'node:path';
import type { ContainerExecutorSettings, ResourceRequirements, RuntimeOptions } from '../../config/types.js';
import { PermanentError } from '../../core/errors.js';
import type { RunSpec } from '../executor.js';
import { OUTPUT_FILE } from '../output-file.js';
import type { EngineName } from './engine.js';
import { bytesArgument, cpuSharesArgument, cpusArgument } from './quantity.js';

export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const LABEL_RUN_ID = 'jobwire.dev/run-id';
export const LABEL_JOB = 'jobwire.dev/job';
export const LABEL_ATTEMPT = 'jobwire.dev/attempt';

/** Same rule as the config's env names; anything else could be read as an option or a glob. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/**
 * Names that change the engine process itself when present in its environment: where it
 * finds programs and config, which daemon it talks to, proxies, the dynamic loader and libc,
 * the Go runtime, systemd and D-Bus hand-offs.
 */
const ENGINE_RESERVED =
  /^(?:PATH|HOME|USER|LOGNAME|SHELL|PWD|TMPDIR|TZ|TZDIR|LANG|LANGUAGE|TERM|NOTIFY_SOCKET|GCONV_PATH|GETCONF_DIR|HOSTALIASES|LOCALDOMAIN|LOCPATH|NIS_PATH|NLSPATH|RESOLV_HOST_CONF|RES_OPTIONS|GLIBC_TUNABLES|SSL_CERT_FILE|SSL_CERT_DIR|GO[A-Z0-9]*)$|^(?:LD_|LC_|MALLOC_|DOCKER_|BUILDKIT_|CONTAINER_|CONTAINERS_|_CONTAINERS_|PODMAN_|BUILDAH_|STORAGE_|REGISTRY_|XDG_|DBUS_|SSH_|SYSTEMD_|LISTEN_)|_(?:PROXY|proxy)$|^[a-z]+_proxy$/;
/** Go's bufio.Scanner, which both engines read env files with, stops at 64 KiB lines. */
const MAX_ENV_FILE_LINE = 60 * 1024;
/** Resource names a container engine can enforce. */
const SUPPORTED_RESOURCES = new Set(['cpu', 'memory']);

export interface RunArgsInput {
  readonly spec: RunSpec;
  readonly settings: ContainerExecutorSettings;
  readonly engine: EngineName;
  /** The attempt's folder on the host, mounted at the working directory. */
  readonly hostDir: string;
  /** Where the env file goes if one is needed (outside `hostDir`). */
  readonly envFilePath: string;
  /** Pass `--init` (a tiny init as PID 1 that forwards signals and reaps zombies). */
  readonly init: boolean;
}

export interface RunPlan {
  readonly containerName: string;
  /** Working directory in the container; the run folder is mounted there. */
  readonly workingDir: string;
  /** Arguments after the engine program: `run --detach … IMAGE ARGV…`. */
  readonly args: readonly string[];
  /** Added to the engine process's environment: the values behind each `--env=NAME`. */
  readonly env: Readonly<Record<string, string>>;
  /** Content of the env file, or undefined when no reserved name is set. */
  readonly envFile: string | undefined;
}

/** `jobwire-<run id>-<attempt>`: unique per attempt, and findable by a human in `podman ps`. */
export function containerName(runId: string, attempt: number): string {
  return `jobwire-${runId.toLowerCase().replace(/[^a-z0-9_.-]/g, '-')}-${attempt}`;
}

/** The in-container working directory of a spec: the job's own, else the executor's. */
export function containerWorkingDir(spec: RunSpec, settings: ContainerExecutorSettings): string {
  const dir = spec.workingDir ?? settings.workingDir;
  if (!path.posix.isAbsolute(dir)) throw new PermanentError(`workingDir ${JSON.stringify(dir)} must be an absolute path in the container`);
  return path.posix.normalize(dir);
}

/**
 * Builds the run. `messageFile` is message.json's name inside the run folder. Throws
 * PermanentError for what the job definition got wrong.
 */
export function buildRunPlan(input: RunArgsInput, messageFile: string): RunPlan {
  const { spec, settings, engine } = input;
  if (spec.secretEnv.length > 0) {
    // Config load rejects `{ secret: … }` env for this executor; a spec that has one anyway
    // must fail loudly rather than run without the variable.
    throw new PermanentError(`the container executor cannot read Kubernetes secrets (${spec.secretEnv.map((ref) => ref.name).join(', ')})`);
  }
  const image = spec.image;
  if (image === undefined || image === '') throw new PermanentError('the job names no image to run');
  if (image.startsWith('-') || /\s/.test(image)) throw new PermanentError(`image ${JSON.stringify(image)} is not a valid image reference`);
  if (settings.images !== undefined && !settings.images.some((pattern) => pattern.matches(image))) {
    throw new PermanentError(`image ${image} is not allowed by the executor's image list`);
  }
  const workingDir = containerWorkingDir(spec, settings);
  for (const [what, value] of [['run folder', input.hostDir], ['workingDir', workingDir]] as const) {
    // `--volume SRC:DST:OPTIONS` has no quoting: a colon or comma would split the value.
    if (/[:,\n]/.test(value)) throw new PermanentError(`${what} ${JSON.stringify(value)} cannot be mounted: it contains ':' or ','`);
  }
  const name = containerName(spec.runId, spec.attempt);
  const args: string[] = [
    'run',
    '--detach',
    `--name=${name}`,
    `--label=${LABEL_MANAGED_BY}=jobwire`,
    `--label=${LABEL_RUN_ID}=${spec.runId}`,
    `--label=${LABEL_JOB}=${spec.job}`,
    `--label=${LABEL_ATTEMPT}=${spec.attempt}`,
    // :Z gives the folder a private SELinux label so the container may use it (no-op elsewhere).
    `--volume=${input.hostDir}:${workingDir}:Z`,
    `--workdir=${workingDir}`,
  ];
  const { env, envFile, names } = splitEnv({
    ...spec.env,
    JOBWIRE_MESSAGE: path.posix.join(workingDir, messageFile),
    // In the mounted run folder: jobwire reads it from the host side when the container ended.
    JOBWIRE_OUTPUT: path.posix.join(workingDir, OUTPUT_FILE),
    JOBWIRE_WORKDIR: workingDir,
  });
  for (const envName of names) args.push(`--env=${envName}`);
  if (envFile !== undefined) args.push(`--env-file=${input.envFilePath}`);
  if (settings.network !== undefined) args.push(`--network=${settings.network}`);
  const pull = pullArgument(spec.runtime.imagePullPolicy ?? settings.defaults.imagePullPolicy);
  if (pull !== undefined) args.push(`--pull=${pull}`);
  args.push(...resourceArgs(mergeResources(settings.defaults.resources, spec.runtime.resources)));
  if (input.init) args.push('--init');
  // Podman may default to journald, which is absent in many containers and CI machines;
  // k8s-file always works and `podman logs` reads it. Docker's default keeps `docker logs` working.
  if (engine === 'podman') args.push('--log-driver=k8s-file');
  args.push(image, ...spec.argv);
  return { containerName: name, workingDir, args, env, envFile };
}

function splitEnv(all: Readonly<Record<string, string>>): { env: Record<string, string>; envFile: string | undefined; names: string[] } {
  const env: Record<string, string> = {};
  const names: string[] = [];
  const fileLines: string[] = [];
  for (const [name, value] of Object.entries(all)) {
    if (!ENV_NAME.test(name)) throw new PermanentError(`env var name ${JSON.stringify(name)} is not valid (letters, digits and _)`);
    if (value.includes('\0')) throw new PermanentError(`env var ${name} contains a NUL byte`);
    if (!ENGINE_RESERVED.test(name)) {
      env[name] = value;
      names.push(name);
      continue;
    }
    if (/[\r\n]/.test(value)) {
      throw new PermanentError(`env var ${name} cannot hold a line break in a container: the engine reads ${name} itself, so jobwire passes it through an env file, one line per variable`);
    }
    const line = `${name}=${value}`;
    if (Buffer.byteLength(line) > MAX_ENV_FILE_LINE) throw new PermanentError(`env var ${name} is longer than ${MAX_ENV_FILE_LINE} bytes`);
    fileLines.push(line);
  }
  return { env, names, envFile: fileLines.length === 0 ? undefined : `${fileLines.join('\n')}\n` };
}

function pullArgument(policy: RuntimeOptions['imagePullPolicy']): string | undefined {
  switch (policy) {
    case 'Always':
      return 'always';
    case 'IfNotPresent':
      return 'missing';
    case 'Never':
      return 'never';
    default:
      return undefined;
  }
}

/** Executor defaults under the job's own values, key by key (`limits.cpu` from one, `memory` from the other). */
export function mergeResources(defaults: ResourceRequirements | undefined, own: ResourceRequirements | undefined): ResourceRequirements {
  const requests = { ...defaults?.requests, ...own?.requests };
  const limits = { ...defaults?.limits, ...own?.limits };
  return { requests, limits };
}

/** What the container executor cannot enforce in `resources`; empty when all is well. For config load too. */
export function unsupportedResources(resources: ResourceRequirements | undefined): string[] {
  const problems: string[] = [];
  for (const section of ['requests', 'limits'] as const) {
    for (const key of Object.keys(resources?.[section] ?? {})) {
      if (!SUPPORTED_RESOURCES.has(key)) problems.push(`resources.${section}.${key}`);
    }
  }
  return problems;
}

/** limits.cpu → --cpus, limits.memory → --memory, requests.cpu → --cpu-shares, requests.memory → --memory-reservation. */
function resourceArgs(resources: ResourceRequirements): string[] {
  const unsupported = unsupportedResources(resources);
  if (unsupported.length > 0) {
    throw new PermanentError(`the container executor can only limit cpu and memory, not ${unsupported.join(', ')}`);
  }
  const args: string[] = [];
  const { requests = {}, limits = {} } = resources;
  if (limits['cpu'] !== undefined) args.push(`--cpus=${cpusArgument(String(limits['cpu']))}`);
  if (limits['memory'] !== undefined) args.push(`--memory=${bytesArgument(String(limits['memory']))}`);
  if (requests['cpu'] !== undefined) args.push(`--cpu-shares=${cpuSharesArgument(String(requests['cpu']))}`);
  if (requests['memory'] !== undefined) args.push(`--memory-reservation=${bytesArgument(String(requests['memory']))}`);
  return args;
}
