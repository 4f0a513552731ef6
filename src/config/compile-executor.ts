/**
 * One `executors:` entry → its typed ExecutorDefinition, with defaults filled in. The schema
 * has checked the keys for the entry's `type`; `${VAR}` references are substituted first, so
 * a kubeconfig path or namespace can come from jobwire's environment.
 */
import { resolve as resolvePath } from 'node:path';
import type { CompileContext } from './compile-context.js';
import { compileRuntimeOptions } from './compile-runtime.js';
import { compileImagePattern } from './image-patterns.js';
import type { ConfigPath } from './positions.js';
import type { RawContainerExecutor, RawKubernetesExecutor } from './schema-runtime.js';
import type { ContainerExecutorSettings, ExecutorDefinition, KubernetesExecutorSettings, SourcePosition } from './types.js';
import { parseDuration } from './units.js';

export const DEFAULT_CONTAINER_WORKING_DIR = '/jobwire/work';
const KUBERNETES_DEFAULTS = {
  namespace: 'default',
  qps: 20,
  burst: 40,
  imagePullGrace: '1m',
  unschedulableTimeout: '5m',
} as const;

export function compileExecutorDefinition(
  name: string,
  settings: Readonly<Record<string, unknown>>,
  path: ConfigPath,
  position: SourcePosition,
  ctx: CompileContext,
): ExecutorDefinition {
  switch (settings['type']) {
    case 'kubernetes':
      return { name, position, type: 'kubernetes', settings: kubernetesSettings(settings as RawKubernetesExecutor, path, ctx) };
    case 'container':
      return { name, position, type: 'container', settings: containerSettings(settings as RawContainerExecutor, path, ctx) };
    default:
      return { name, position, type: 'process' };
  }
}

function kubernetesSettings(raw: RawKubernetesExecutor, path: ConfigPath, ctx: CompileContext): KubernetesExecutorSettings {
  const namespace = raw.namespace ?? raw.namespaces?.[0] ?? KUBERNETES_DEFAULTS.namespace;
  const namespaces = [...new Set([namespace, ...(raw.namespaces ?? [])])];
  const imagePullGraceMs = parseDuration(raw.imagePullGrace ?? KUBERNETES_DEFAULTS.imagePullGrace);
  const unschedulableTimeoutMs = parseDuration(raw.unschedulableTimeout ?? KUBERNETES_DEFAULTS.unschedulableTimeout);
  const workingDir = raw.workingDir ?? DEFAULT_CONTAINER_WORKING_DIR;
  checkAbsolute(workingDir, [...path, 'workingDir'], ctx);
  const { namespace: _namespace, ...defaults } = compileRuntimeOptions(raw, path, ctx);
  return {
    namespace,
    namespaces,
    ...(raw.images === undefined ? {} : { images: raw.images.map(compileImagePattern) }),
    // Relative to the config file, like `files`, so a config and its kubeconfig travel together.
    ...(raw.kubeconfig === undefined ? {} : { kubeconfig: resolvePath(ctx.dir, raw.kubeconfig) }),
    ...(raw.context === undefined ? {} : { context: raw.context }),
    qps: raw.qps ?? KUBERNETES_DEFAULTS.qps,
    burst: raw.burst ?? KUBERNETES_DEFAULTS.burst,
    imagePullGraceMs,
    unschedulableTimeoutMs,
    workingDir,
    defaults,
  };
}

function containerSettings(raw: RawContainerExecutor, path: ConfigPath, ctx: CompileContext): ContainerExecutorSettings {
  const workingDir = raw.workingDir ?? DEFAULT_CONTAINER_WORKING_DIR;
  checkAbsolute(workingDir, [...path, 'workingDir'], ctx);
  const runtime = compileRuntimeOptions(raw, path, ctx);
  return {
    engine: raw.engine ?? 'auto',
    ...(raw.network === undefined ? {} : { network: raw.network }),
    ...(raw.images === undefined ? {} : { images: raw.images.map(compileImagePattern) }),
    workingDir,
    defaults: {
      ...(runtime.resources === undefined ? {} : { resources: runtime.resources }),
      ...(runtime.imagePullPolicy === undefined ? {} : { imagePullPolicy: runtime.imagePullPolicy }),
    },
  };
}

function checkAbsolute(dir: string, at: ConfigPath, ctx: CompileContext): void {
  if (!dir.startsWith('/')) ctx.report(at, `"workingDir" must be an absolute path in the container, like /jobwire/work`);
}
