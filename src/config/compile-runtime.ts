/**
 * Raw pod/Job fields (on a job, or as an executor's defaults) → RuntimeOptions. The schema has
 * checked their shapes; what is left is turning YAML scalars into the strings Kubernetes wants
 * and the checks a schema cannot say (envFrom names exactly one of secret or configMap).
 */
import type { CompileContext } from './compile-context.js';
import type { ConfigPath } from './positions.js';
import type { RawRuntimeFields } from './schema-runtime.js';
import type { EnvFromSource, ResourceRequirements, RuntimeOptions } from './types.js';

export function compileRuntimeOptions(raw: RawRuntimeFields, at: ConfigPath, ctx: CompileContext): RuntimeOptions {
  const usable = <K extends keyof RawRuntimeFields>(key: K): RawRuntimeFields[K] | undefined =>
    raw[key] !== undefined && ctx.shape.intact([...at, key]) ? raw[key] : undefined;
  const resources = usable('resources');
  const nodeSelector = usable('nodeSelector');
  const envFrom = usable('envFrom');
  const options: RuntimeOptions = {
    ...defined('namespace', usable('namespace')),
    ...defined('resources', resources === undefined ? undefined : compileResources(resources)),
    ...defined('ttlSecondsAfterFinished', usable('ttlSecondsAfterFinished')),
    ...defined('restartPolicy', usable('restartPolicy')),
    ...defined('serviceAccountName', usable('serviceAccountName')),
    ...defined('securityContext', usable('securityContext')),
    ...defined('nodeSelector', nodeSelector === undefined ? undefined : mapValues(nodeSelector, String)),
    ...defined('tolerations', usable('tolerations')),
    ...defined('priorityClassName', usable('priorityClassName')),
    ...defined('imagePullPolicy', usable('imagePullPolicy')),
    ...defined('imagePullSecrets', usable('imagePullSecrets')),
    ...defined('envFrom', envFrom === undefined ? undefined : compileEnvFrom(envFrom, [...at, 'envFrom'], ctx)),
  };
  return options;
}

function compileResources(raw: NonNullable<RawRuntimeFields['resources']>): ResourceRequirements {
  return {
    ...defined('requests', raw.requests === undefined ? undefined : mapValues(raw.requests, String)),
    ...defined('limits', raw.limits === undefined ? undefined : mapValues(raw.limits, String)),
  };
}

function compileEnvFrom(raw: NonNullable<RawRuntimeFields['envFrom']>, at: ConfigPath, ctx: CompileContext): EnvFromSource[] {
  return raw.flatMap((entry, index): EnvFromSource[] => {
    const { secret, configMap } = entry;
    if ((secret === undefined) === (configMap === undefined)) {
      ctx.report([...at, index], 'an envFrom entry names exactly one of "secret" or "configMap"');
      return [];
    }
    return [
      {
        kind: secret !== undefined ? 'secret' : 'configMap',
        name: secret ?? configMap ?? '',
        ...defined('prefix', entry.prefix),
        ...defined('optional', entry.optional),
      },
    ];
  });
}

function mapValues<T>(record: Readonly<Record<string, T>>, convert: (value: T) => string): Record<string, string> {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, convert(value)]));
}

/** `{ key: value }` when value is set, `{}` otherwise: keeps absent fields absent. */
function defined<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return value === undefined ? {} : ({ [key]: value } as { [P in K]?: V });
}
