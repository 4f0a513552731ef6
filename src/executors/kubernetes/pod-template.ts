/**
 * The pod template of a run's Job (and of a rendered CronJob): one container named `job` running
 * the job's argv as `command` — never a shell line built from message data — with the message's
 * values as literal env values (`$` escaped against the kubelet's `$(VAR)` expansion), secrets
 * as `secretKeyRef`/`envFrom` (jobwire never reads them), and the run's files mounted under the
 * working directory. `$JOBWIRE_OUTPUT` is the container's terminationMessagePath, read back
 * from the pod's status (termination-output.ts).
 *
 * Runtime fields merge as built-in default < executor `defaults` < the job's own value, field by
 * field; `securityContext` merges per key (and `capabilities` per add/drop), so a job that only
 * sets `runAsUser` keeps the secure defaults. Those defaults are what OpenShift's restricted SCC
 * and the Pod Security "restricted" profile ask for — non-root, no privilege escalation, drop
 * ALL, RuntimeDefault seccomp — without a runAsUser, since OpenShift assigns random UIDs.
 */
import type {
  V1Container,
  V1EnvFromSource,
  V1EnvVar,
  V1PodTemplateSpec,
  V1SecurityContext,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';
import type { KubernetesExecutorSettings, RuntimeOptions, SecurityContext } from '../../config/types.js';
import { PermanentError } from '../../core/errors.js';
import type { RunSpec } from '../executor.js';
import { MESSAGE_DIR, MESSAGE_KEY, MESSAGE_PATH, type RunFileEntry } from './run-files.js';
import { TERMINATION_MESSAGE_PATH } from './termination-output.js';

export const CONTAINER_NAME = 'job';
export const VOLUME = { workdir: 'jobwire-workdir', files: 'jobwire-files', message: 'jobwire-message' } as const;

export const DEFAULT_SECURITY_CONTEXT: SecurityContext = {
  runAsNonRoot: true,
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

/** What of a RunSpec shapes the pod. */
export type PodSpecInput = Pick<RunSpec, 'job' | 'argv' | 'env' | 'secretEnv' | 'image' | 'workingDir' | 'runtime'>;

export interface PodTemplateInput {
  readonly spec: PodSpecInput;
  readonly settings: KubernetesExecutorSettings;
  /** The ConfigMap holding the files and the message. */
  readonly configMapName: string;
  readonly files: readonly RunFileEntry[];
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  /** Env vars that replace the spec's of the same name (CronJobs: values from the downward API). */
  readonly envOverrides?: readonly V1EnvVar[];
}

/** The job's runtime fields over the executor's defaults, field by field. */
export function mergeRuntime(defaults: RuntimeOptions, job: RuntimeOptions): RuntimeOptions {
  const merged: Record<string, unknown> = { ...defaults };
  for (const [key, value] of Object.entries(job)) if (value !== undefined) merged[key] = value;
  const securityContext = mergeSecurityContext(DEFAULT_SECURITY_CONTEXT, defaults.securityContext, job.securityContext);
  return { ...(merged as RuntimeOptions), securityContext };
}

function mergeSecurityContext(...layers: (SecurityContext | undefined)[]): SecurityContext {
  let merged: SecurityContext = {};
  for (const layer of layers) {
    if (layer === undefined) continue;
    const capabilities =
      layer.capabilities === undefined ? merged.capabilities : { ...merged.capabilities, ...definedOnly(layer.capabilities) };
    merged = { ...merged, ...definedOnly(layer), ...(capabilities === undefined ? {} : { capabilities }) };
  }
  return merged;
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as Partial<T>;
}

/** The namespace of a run: the job's, which must be allow-listed, else the executor's. */
export function runNamespace(runtime: RuntimeOptions, settings: KubernetesExecutorSettings): string {
  const namespace = runtime.namespace ?? settings.namespace;
  if (namespace !== settings.namespace && !settings.namespaces.includes(namespace)) {
    throw new PermanentError(
      `namespace ${JSON.stringify(namespace)} is not in the executor's allow-list (${settings.namespaces.join(', ')})`,
    );
  }
  return namespace;
}

/** Where the job runs in the container: its own workingDir, else the executor's. */
export function containerWorkingDir(spec: Pick<RunSpec, 'workingDir'>, settings: KubernetesExecutorSettings): string {
  return spec.workingDir ?? settings.workingDir;
}

export function buildPodTemplate(input: PodTemplateInput, runtime: RuntimeOptions): V1PodTemplateSpec {
  const { spec, settings } = input;
  if (spec.image === undefined || spec.image === '') {
    throw new PermanentError(`job ${spec.job} has no image: the kubernetes executor runs every job in a container`);
  }
  const workingDir = containerWorkingDir(spec, settings);
  const { volumes, mounts } = buildVolumes(input, workingDir);
  const envFrom = (runtime.envFrom ?? []).map(
    (source): V1EnvFromSource => ({
      ...(source.prefix === undefined ? {} : { prefix: source.prefix }),
      [source.kind === 'secret' ? 'secretRef' : 'configMapRef']: {
        name: source.name,
        ...(source.optional === undefined ? {} : { optional: source.optional }),
      },
    }),
  );
  const container: V1Container = {
    name: CONTAINER_NAME,
    image: spec.image,
    ...(spec.argv.length === 0 ? {} : { command: spec.argv.map(literal) }),
    workingDir,
    env: buildEnv(input, workingDir),
    ...(envFrom.length === 0 ? {} : { envFrom }),
    ...(runtime.resources === undefined ? {} : { resources: copyResources(runtime.resources) }),
    ...(runtime.imagePullPolicy === undefined ? {} : { imagePullPolicy: runtime.imagePullPolicy }),
    securityContext: toV1SecurityContext(runtime.securityContext ?? DEFAULT_SECURITY_CONTEXT),
    volumeMounts: mounts,
    // The termination message is the job's output ($JOBWIRE_OUTPUT). `File`, not
    // FallbackToLogsOnError: the tail of a failed job's log must never pass for its output.
    terminationMessagePath: TERMINATION_MESSAGE_PATH,
    terminationMessagePolicy: 'File',
  };
  const serviceAccountName = runtime.serviceAccountName;
  return {
    metadata: {
      labels: { ...input.labels },
      ...(input.annotations === undefined ? {} : { annotations: { ...input.annotations } }),
    },
    spec: {
      restartPolicy: runtime.restartPolicy ?? 'Never',
      containers: [container],
      volumes,
      ...(serviceAccountName === undefined ? {} : { serviceAccountName }),
      // A job only gets API credentials when it names the account they are for.
      automountServiceAccountToken: serviceAccountName !== undefined,
      // Service links would add every Service of the namespace to the job's env.
      enableServiceLinks: false,
      ...(runtime.nodeSelector === undefined ? {} : { nodeSelector: { ...runtime.nodeSelector } }),
      ...(runtime.tolerations === undefined ? {} : { tolerations: runtime.tolerations.map((toleration) => ({ ...toleration })) }),
      ...(runtime.priorityClassName === undefined ? {} : { priorityClassName: runtime.priorityClassName }),
      ...(runtime.imagePullSecrets === undefined || runtime.imagePullSecrets.length === 0
        ? {}
        : { imagePullSecrets: runtime.imagePullSecrets.map((name) => ({ name })) }),
    },
  };
}

/**
 * The kubelet expands `$(NAME)` in `command`, `args` and env values to the value of an earlier
 * env var, and `$$` to `$`. Left alone, a message value `$(TOKEN)` would copy a secret into a
 * variable the job prints, and `$(VAR)` in a script would splice a message value into the shell
 * line. Doubling each `$` that starts `$$` or `$(` makes the container see exactly the text
 * jobwire sent, as the process executor's child does; other `$` (`"$HOME"`) pass unchanged.
 */
export function literal(value: string): string {
  return value.replace(/\$(?=[$(])/g, () => '$$');
}

/**
 * The job's env as literal values (message data is only ever a value), then JOBWIRE_MESSAGE,
 * JOBWIRE_OUTPUT and JOBWIRE_WORKDIR for the container's paths, then secrets as references the kubelet resolves.
 * A later entry replaces an earlier one of the same name in place.
 */
function buildEnv(input: PodTemplateInput, workingDir: string): V1EnvVar[] {
  const env = new Map<string, V1EnvVar>();
  for (const [name, value] of Object.entries(input.spec.env)) env.set(name, { name, value: literal(value) });
  env.set('JOBWIRE_MESSAGE', { name: 'JOBWIRE_MESSAGE', value: MESSAGE_PATH });
  env.set('JOBWIRE_OUTPUT', { name: 'JOBWIRE_OUTPUT', value: TERMINATION_MESSAGE_PATH });
  env.set('JOBWIRE_WORKDIR', { name: 'JOBWIRE_WORKDIR', value: workingDir });
  for (const ref of input.spec.secretEnv) {
    env.set(ref.name, { name: ref.name, valueFrom: { secretKeyRef: { name: ref.secret, key: ref.key } } });
  }
  for (const override of input.envOverrides ?? []) env.set(override.name, override);
  return [...env.values()];
}

/**
 * Volumes: the message folder (read-only), each file mounted by subPath at its path under the
 * working directory, and — when the job did not pick its own working directory (which may be a
 * folder of its image, to be left alone) — a fresh writable emptyDir as the working directory,
 * like the process executor's per-run folder, so jobs can write even with a read-only root.
 */
function buildVolumes(input: PodTemplateInput, workingDir: string): { volumes: V1Volume[]; mounts: V1VolumeMount[] } {
  const volumes: V1Volume[] = [
    {
      name: VOLUME.message,
      configMap: { name: input.configMapName, items: [{ key: MESSAGE_KEY, path: MESSAGE_KEY, mode: 0o444 }] },
    },
  ];
  const mounts: V1VolumeMount[] = [{ name: VOLUME.message, mountPath: MESSAGE_DIR, readOnly: true }];
  if (input.spec.workingDir === undefined) {
    volumes.push({ name: VOLUME.workdir, emptyDir: {} });
    mounts.push({ name: VOLUME.workdir, mountPath: workingDir });
  }
  if (input.files.length > 0) {
    volumes.push({
      name: VOLUME.files,
      configMap: { name: input.configMapName, items: input.files.map((file) => ({ key: file.key, path: file.path, mode: file.mode })) },
    });
    for (const file of input.files) {
      mounts.push({ name: VOLUME.files, mountPath: joinPosix(workingDir, file.path), subPath: file.path, readOnly: true });
    }
  }
  return { volumes, mounts };
}

function joinPosix(dir: string, relative: string): string {
  return `${dir.replace(/\/+$/, '')}/${relative}`;
}

function copyResources(resources: NonNullable<RuntimeOptions['resources']>): { requests?: Record<string, string>; limits?: Record<string, string> } {
  return {
    ...(resources.requests === undefined ? {} : { requests: { ...resources.requests } }),
    ...(resources.limits === undefined ? {} : { limits: { ...resources.limits } }),
  };
}

function toV1SecurityContext(context: SecurityContext): V1SecurityContext {
  const { capabilities, seccompProfile, ...plain } = context;
  return {
    ...plain,
    ...(capabilities === undefined
      ? {}
      : {
          capabilities: {
            ...(capabilities.add === undefined ? {} : { add: [...capabilities.add] }),
            ...(capabilities.drop === undefined ? {} : { drop: [...capabilities.drop] }),
          },
        }),
    ...(seccompProfile === undefined ? {} : { seccompProfile: { ...seccompProfile } }),
  };
}
