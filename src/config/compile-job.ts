/**
 * One job definition → CompiledJob: its triggers, the argv it runs (or its steps), env, files and limits.
 * Values come out best-effort even when something is wrong, because the loader throws once all
 * problems of the whole file are collected, and none of these values is used after that.
 */
import path from 'node:path';
import { errorMessage } from '../core/errors.js';
import { stepsDriverArgv } from '../executors/steps-driver.js';
import type { CompileContext } from './compile-context.js';
import { compileEnv } from './compile-env.js';
import { compileJobChain } from './compile-events.js';
import { compileRunnable } from './compile-runnable.js';
import { compileRuntimeOptions } from './compile-runtime.js';
import { checkStepsAlone, compileSteps } from './compile-steps.js';
import { compileTrigger } from './compile-trigger.js';
import { jobLabel } from './describe.js';
import { expandConfigFile } from './files.js';
import type { ConfigPath } from './positions.js';
import { parseSchedule } from './schedule.js';
import { CONTAINER_JOB_KEYS, KUBERNETES_ONLY_JOB_KEYS } from './schema-runtime.js';
import { JobSchema, type RawJob } from './schema.js';
import { didYouMean, nameList } from './suggest.js';
import type { CompiledJob, CompiledTrigger, ConfigFile, EnvEntry, ExecutorDefinition, RetryPolicy, SourceDefinition } from './types.js';
import { parseDuration } from './units.js';

export interface JobScope {
  /** `http`, `cron` and every configured source name. */
  readonly sourceNames: readonly string[];
  /** Every executor name, with its type when its definition is valid. */
  readonly executorTypes: ReadonlyMap<string, string | undefined>;
  /** The executors whose definitions compiled. */
  readonly executors: ReadonlyMap<string, ExecutorDefinition>;
  /** Configured sources (where `then: publish` may go). */
  readonly sources: ReadonlyMap<string, SourceDefinition>;
  /** Every job's name (what `then: run` may name). */
  readonly jobNames: readonly string[];
}

/** Executor types that run a container image, so a job on them must name one. */
const IMAGE_EXECUTORS = new Set(['container', 'kubernetes']);
const KNOWN_KEYS = new Set(Object.keys(JobSchema.properties));
const DEFAULT_BACKOFF = '1s';
const DEFAULT_MAX_BACKOFF = '5m';

/**
 * Compiles what is usable of a job. Fields the schema check rejected were reported already and
 * are left out here, so the rest of the job can still be checked in the same run.
 */
export function compileJob(raw: RawJob, index: number, scope: JobScope, ctx: CompileContext): CompiledJob {
  const at: ConfigPath = ['jobs', index];
  const job = usableFields(raw, at, ctx);
  const label = jobLabel(raw.name, index);
  const triggers = [
    ...usableItems(raw.on, [...at, 'on'], ctx)
      .map(([trigger, k]) => compileTrigger(trigger, [...at, 'on', k], scope.sourceNames, ctx))
      .filter((trigger): trigger is CompiledTrigger => trigger !== undefined),
    ...compileScheduleShorthand(job, at, ctx),
  ];
  if (raw.on === undefined && raw.schedule === undefined) {
    ctx.report(at, `${label} needs "on" (a list of triggers) or "schedule" (a cron expression)`);
  }
  const executor = job.executor ?? 'process';
  if (raw.executor === undefined || job.executor !== undefined) checkExecutor(job, executor, at, label, scope, ctx);
  const timeoutMs = job.timeout === undefined ? undefined : parseDuration(job.timeout);
  if (timeoutMs === 0) ctx.report([...at, 'timeout'], '"timeout" must be longer than 0 (leave it out for no timeout)');
  const env = ctx.shape.present([...at, 'env']) ? compileEnv(raw.env ?? {}, [...at, 'env'], ctx) : [];
  const executorType = scope.executorTypes.get(executor);
  const checkEnv = (entries: readonly EnvEntry[], envAt: ConfigPath): void => checkSecretEnv(entries, envAt, executor, executorType, ctx);
  checkEnv(env, [...at, 'env']);
  const steps = raw.steps === undefined ? undefined : compileSteps(usableItems(raw.steps, [...at, 'steps'], ctx), at, label, ctx, checkEnv);
  if (steps !== undefined) checkStepsAlone(raw, at, label, ctx);

  const runtime = compileRuntimeOptions(job, at, ctx);
  checkRuntimeFields(job, executor, at, scope, ctx);

  return {
    name: job.name ?? '',
    triggers,
    executor,
    argv: steps === undefined ? compileArgv(raw, job, at, label, ctx) : stepsDriverArgv(steps),
    ...(steps === undefined ? {} : { steps }),
    ...(job.image !== undefined ? { image: job.image } : {}),
    env,
    files: compileFiles(usableItems(raw.files, [...at, 'files'], ctx), at, ctx),
    ...(job.workingDir !== undefined ? { workingDir: compileWorkingDir(job.workingDir, executorType, at, ctx) } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    retries: compileRetries(job, at, ctx),
    ...(job.concurrency !== undefined ? { concurrency: job.concurrency } : {}),
    priority: job.priority ?? 0,
    ...(job.description !== undefined ? { description: job.description } : {}),
    runtime,
    ...compileJobChain(raw, index, scope.sources, scope.jobNames, ctx),
    position: ctx.locator.value(at),
  };
}

/** The job's fields that passed the schema check. */
function usableFields(raw: RawJob, at: ConfigPath, ctx: CompileContext): Partial<RawJob> {
  return Object.fromEntries(Object.entries(raw).filter(([key]) => ctx.shape.intact([...at, key])));
}

/** The entries of a list field that passed the schema check, with their indexes. */
function usableItems<T>(list: readonly T[] | undefined, at: ConfigPath, ctx: CompileContext): Array<[T, number]> {
  if (list === undefined || !ctx.shape.present(at)) return [];
  return list.flatMap((item, k): Array<[T, number]> => (ctx.shape.intact([...at, k]) ? [[item, k]] : []));
}

function checkExecutor(
  job: Partial<RawJob>,
  executor: string,
  at: ConfigPath,
  label: string,
  scope: JobScope,
  ctx: CompileContext,
): void {
  if (!scope.executorTypes.has(executor)) {
    const known = [...scope.executorTypes.keys()];
    ctx.report(
      [...at, 'executor'],
      `unknown executor "${executor}"${didYouMean(executor, known)} (known: ${nameList(known)})`,
    );
    return;
  }
  const type = scope.executorTypes.get(executor);
  if (type !== undefined && IMAGE_EXECUTORS.has(type) && job.image === undefined) {
    ctx.report(at, `${label} needs "image": executor "${executor}" is of type ${type}`);
  }
  const definition = scope.executors.get(executor);
  const allowed = definition !== undefined && definition.type !== 'process' ? definition.settings.images : undefined;
  if (allowed !== undefined && job.image !== undefined && !allowed.some((pattern) => pattern.matches(job.image ?? ''))) {
    ctx.report(
      [...at, 'image'],
      `image "${job.image}" is not allowed by executor "${executor}" (allowed: ${allowed.map((p) => p.pattern).join(', ')})`,
    );
  }
}

/**
 * A local run's folder resolves against the config's folder; a container's is a path inside
 * the image, which jobwire cannot resolve, so it must be absolute.
 */
function compileWorkingDir(dir: string, executorType: string | undefined, at: ConfigPath, ctx: CompileContext): string {
  if (executorType === undefined || !IMAGE_EXECUTORS.has(executorType)) return path.resolve(ctx.dir, dir);
  if (!dir.startsWith('/')) ctx.report([...at, 'workingDir'], `"workingDir" is a folder inside the container and must be absolute, like /jobwire/work`);
  return dir;
}

/** `schedule: "0 9 * * 1"` (or a list) on a job is short for cron triggers. */
function compileScheduleShorthand(job: Partial<RawJob>, at: ConfigPath, ctx: CompileContext): CompiledTrigger[] {
  if (job.schedule === undefined) return [];
  const schedules = typeof job.schedule === 'string' ? [[job.schedule, [...at, 'schedule']] as const] : job.schedule.map((s, k) => [s, [...at, 'schedule', k]] as const);
  return schedules.flatMap(([schedule, path]): CompiledTrigger[] => {
    try {
      parseSchedule(schedule);
    } catch (error) {
      ctx.report(path, errorMessage(error));
      return [];
    }
    return [{ source: 'cron', schedule, position: ctx.locator.value(path) }];
  });
}

/**
 * Pod and Job fields only mean something to the runtimes that honour them; on any other
 * executor they would be silently ignored, so they are errors. A namespace must be allowed.
 */
function checkRuntimeFields(job: Partial<RawJob>, executor: string, at: ConfigPath, scope: JobScope, ctx: CompileContext): void {
  const definition = scope.executors.get(executor);
  if (definition === undefined) return;
  const honoured: readonly string[] =
    definition.type === 'kubernetes' ? [...KUBERNETES_ONLY_JOB_KEYS, ...CONTAINER_JOB_KEYS] : definition.type === 'container' ? CONTAINER_JOB_KEYS : [];
  for (const key of [...KUBERNETES_ONLY_JOB_KEYS, ...CONTAINER_JOB_KEYS]) {
    if (job[key] === undefined || honoured.includes(key)) continue;
    const runtimes = (CONTAINER_JOB_KEYS as readonly string[]).includes(key) ? 'container and kubernetes executors' : 'kubernetes executors';
    ctx.reportKey([...at, key], `"${key}" only applies to ${runtimes}; executor "${executor}" is of type ${definition.type}`);
  }
  if (definition.type === 'container') {
    // docker/podman can only limit cpu and memory; other resources would be silently dropped.
    for (const section of ['requests', 'limits'] as const) {
      for (const name of Object.keys(job.resources?.[section] ?? {})) {
        if (name === 'cpu' || name === 'memory') continue;
        ctx.reportKey([...at, 'resources', section, name], `the container executor can only limit cpu and memory, not "${name}"`);
      }
    }
  }
  if (definition.type === 'kubernetes' && job.namespace !== undefined && !definition.settings.namespaces.includes(job.namespace)) {
    ctx.report(
      [...at, 'namespace'],
      `namespace "${job.namespace}" is not allowed by executor "${executor}" (allowed: ${nameList(definition.settings.namespaces)}; add it to the executor's "namespaces")`,
    );
  }
}

/** `command` + `args` as given (no shell), or a script run by `bash -c`. */
function compileArgv(raw: RawJob, job: Partial<RawJob>, at: ConfigPath, label: string, ctx: CompileContext): string[] {
  const runnable = compileRunnable(raw, job, at, label, KNOWN_KEYS, ctx, 'command, script or steps');
  if (runnable === undefined) return [];
  return runnable.kind === 'script' ? ['bash', '-c', runnable.script] : runnable.argv;
}

/** `{ secret }` values are read by the cluster; no other runtime can resolve them. */
function checkSecretEnv(env: readonly EnvEntry[], at: ConfigPath, executor: string, executorType: string | undefined, ctx: CompileContext): void {
  if (executorType === undefined || executorType === 'kubernetes') return;
  for (const entry of env) {
    if (entry.value.kind !== 'secret') continue;
    ctx.report(
      [...at, entry.name],
      `env "${entry.name}": { secret } needs a kubernetes executor; executor "${executor}" is of type ${executorType} (use { fromEnv: NAME } for a local secret)`,
    );
  }
}

function compileFiles(entries: ReadonlyArray<[string, number]>, at: ConfigPath, ctx: CompileContext): ConfigFile[] {
  const byPath = new Map<string, ConfigFile>();
  for (const [entry, k] of entries) {
    const expansion = expandConfigFile(ctx.dir, entry);
    if ('problem' in expansion) ctx.report([...at, 'files', k], expansion.problem);
    else for (const file of expansion.files) if (!byPath.has(file.path)) byPath.set(file.path, file);
  }
  return [...byPath.values()];
}

function compileRetries(job: Partial<RawJob>, at: ConfigPath, ctx: CompileContext): RetryPolicy {
  const retries = job.retries ?? 0;
  if (typeof retries === 'number') {
    return {
      limit: retries,
      backoffMs: parseDuration(DEFAULT_BACKOFF),
      maxBackoffMs: parseDuration(DEFAULT_MAX_BACKOFF),
    };
  }
  const policy = {
    limit: retries.limit,
    backoffMs: parseDuration(retries.backoff ?? DEFAULT_BACKOFF),
    maxBackoffMs: parseDuration(retries.maxBackoff ?? DEFAULT_MAX_BACKOFF),
  };
  if (policy.maxBackoffMs < policy.backoffMs) {
    const where = retries.maxBackoff !== undefined ? 'maxBackoff' : 'backoff';
    ctx.report([...at, 'retries', where], '"maxBackoff" must not be shorter than "backoff"');
  }
  return policy;
}
