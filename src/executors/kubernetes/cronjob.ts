/**
 * batch/v1 CronJobs for jobs with cron triggers, for users who prefer the cluster to schedule
 * (`jobwire render --cronjobs`). The pod template is the one a run's Job gets; env is evaluated
 * against the message jobwire's own cron source would deliver for a tick. What differs per tick
 * and has no jobwire run behind it — JOBWIRE_RUN_ID, JOBWIRE_MESSAGE_ID, JOBWIRE_CORRELATION_ID —
 * comes from the downward API: the name of the Job the CronJob controller created for the tick
 * (one Job per tick, the same across its pod retries, as a jobwire run id is).
 *
 * Differences from jobwire's scheduler, all documented in docs/kubernetes.md: `concurrency: 1`
 * becomes `concurrencyPolicy: Forbid` (larger limits cannot be expressed: Allow); a tick later
 * than `startingDeadlineSeconds` is skipped, as jobwire does not catch up missed ticks either;
 * the message file holds the first tick after rendering.
 */
import { createHash } from 'node:crypto';
import type { V1ConfigMap, V1CronJob, V1EnvVar } from '@kubernetes/client-node';
import { Cron } from 'croner';
import { parseSchedule } from '../../config/schedule.js';
import type { CompiledJob, KubernetesExecutorSettings } from '../../config/types.js';
import { errorMessage, PermanentError } from '../../core/errors.js';
import type { Message } from '../../core/message.js';
import { buildRunSpec } from '../../matching/run-spec.js';
import { DEFAULT_MAX_OUTPUT_BYTES } from '../../core/run.js';
import { LABEL, MANAGED_BY } from './labels.js';
import { buildPodTemplate, mergeRuntime, runNamespace } from './pod-template.js';
import { runFilesData, type LoadedRunFile } from './run-files.js';

/** The CronJob controller appends 11 characters to a CronJob's name for each Job. */
export const MAX_CRONJOB_NAME_LENGTH = 52;
/** A tick the controller could not start within this many seconds is skipped, not caught up. */
export const STARTING_DEADLINE_SECONDS = 300;
export const SCHEDULE_ANNOTATION = 'jobwire.dev/schedule';
/** Label the Job controller puts on a Job's pods (Kubernetes ≥ 1.27, like CronJob `timeZone`). */
export const JOB_NAME_POD_LABEL = 'batch.kubernetes.io/job-name';

export interface CronJobManifests {
  readonly cronJob: V1CronJob;
  /** Holds the files and the tick message; apply it with the CronJob. */
  readonly configMap: V1ConfigMap;
  readonly namespace: string;
  /** The tick whose message the env was evaluated against (ISO time). */
  readonly tick: string;
  /** Env vars computed from that message (expressions, JSONPath): fixed in the CronJob. */
  readonly fixedEnv: readonly string[];
}

export interface CronJobOptions {
  /** Every cron schedule of the job, to name each CronJob uniquely when there are several. */
  readonly schedules: readonly string[];
  /** jobwire's environment, for `fromEnv` values. */
  readonly processEnv: NodeJS.ProcessEnv;
  /** "Now" for the tick message (the first tick after it); defaults to the clock. */
  readonly now?: number;
}

/** The cron schedules of a job's triggers, in order, without repeats. */
export function cronSchedules(job: CompiledJob): string[] {
  return [...new Set(job.triggers.flatMap((trigger) => (trigger.source === 'cron' && trigger.schedule !== undefined ? [trigger.schedule] : [])))];
}

/**
 * `<job>` for a job's only schedule; with several, `<job (cut)>-<6 hex of the schedule>` so each
 * CronJob has its own stable name.
 */
export function cronJobName(job: string, schedule: string, schedules: readonly string[]): string {
  if (schedules.length <= 1) return job;
  const suffix = createHash('sha256').update(schedule).digest('hex').slice(0, 6);
  const base = job.slice(0, MAX_CRONJOB_NAME_LENGTH - suffix.length - 1).replace(/-+$/, '');
  return `${base}-${suffix}`;
}

/** Builds the CronJob (and ConfigMap) for one schedule of a job on a kubernetes executor. */
export function buildCronJob(
  job: CompiledJob,
  schedule: string,
  settings: KubernetesExecutorSettings,
  files: readonly LoadedRunFile[],
  options: CronJobOptions,
): CronJobManifests {
  const { pattern, timezone } = parseSchedule(schedule);
  checkKubernetesSchedule(pattern, schedule);
  const name = cronJobName(job.name, schedule, options.schedules);
  const message = tickMessage(schedule, pattern, timezone, options.now ?? Date.now());
  let spec;
  try {
    spec = buildRunSpec(job, message, { runId: name, attempt: 1, maxOutputBytes: DEFAULT_MAX_OUTPUT_BYTES }, options.processEnv);
  } catch (error) {
    throw new PermanentError(`CronJob for schedule "${schedule}": ${errorMessage(error)}`, { cause: error });
  }
  const runtime = mergeRuntime(settings.defaults, spec.runtime);
  const namespace = runNamespace(runtime, settings);
  const labels = { [LABEL.managedBy]: MANAGED_BY, [LABEL.job]: job.name };
  const annotations = { [SCHEDULE_ANNOTATION]: schedule };
  const filesData = runFilesData(files, spec.messageJson, `the CronJob of job ${job.name}`);
  const envOverrides: V1EnvVar[] = ['JOBWIRE_RUN_ID', 'JOBWIRE_MESSAGE_ID', 'JOBWIRE_CORRELATION_ID'].map((envName) => ({
    name: envName,
    valueFrom: { fieldRef: { fieldPath: `metadata.labels['${JOB_NAME_POD_LABEL}']` } },
  }));
  const template = buildPodTemplate(
    { spec, settings, configMapName: name, files: filesData.entries, labels, annotations, envOverrides },
    runtime,
  );
  const configMap: V1ConfigMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    // Not immutable: re-applying after a file changed must work.
    metadata: { name, namespace, labels: { ...labels }, annotations: { ...annotations } },
    data: filesData.data,
    ...(Object.keys(filesData.binaryData).length === 0 ? {} : { binaryData: filesData.binaryData }),
  };
  const cronJob: V1CronJob = {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name, namespace, labels: { ...labels }, annotations: { ...annotations } },
    spec: {
      schedule: pattern,
      ...(timezone === undefined ? {} : { timeZone: timezone }),
      concurrencyPolicy: job.concurrency === 1 ? 'Forbid' : 'Allow',
      startingDeadlineSeconds: STARTING_DEADLINE_SECONDS,
      jobTemplate: {
        metadata: { labels: { ...labels }, annotations: { ...annotations } },
        spec: {
          backoffLimit: spec.retryLimit,
          ...(spec.timeoutMs === undefined ? {} : { activeDeadlineSeconds: Math.max(1, Math.ceil(spec.timeoutMs / 1000)) }),
          ...(runtime.ttlSecondsAfterFinished === undefined ? {} : { ttlSecondsAfterFinished: runtime.ttlSecondsAfterFinished }),
          template,
        },
      },
    },
  };
  const fixedEnv = job.env.filter((entry) => entry.value.kind === 'expression' || entry.value.kind === 'jsonpath').map((entry) => entry.name);
  return { cronJob, configMap, namespace, tick: String((message.body as { scheduledAt: string }).scheduledAt), fixedEnv };
}

/** The message jobwire's cron source (src/sources/cron.ts) delivers for the first tick after `now`. */
function tickMessage(schedule: string, pattern: string, timezone: string | undefined, now: number): Message {
  const cron = new Cron(pattern, { paused: true, ...(timezone === undefined ? {} : { timezone }) });
  const next = cron.nextRun(new Date(now)) ?? new Date(now);
  cron.stop();
  const scheduledAt = new Date(Math.floor(next.getTime() / 1000) * 1000).toISOString();
  const id = `${schedule}@${scheduledAt}`;
  return { id, source: 'cron', topic: schedule, headers: {}, body: { schedule, scheduledAt }, correlationId: id, receivedAt: now };
}

const MONTHS = new Set(['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC']);
const DAYS = new Set(['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT']);
const DESCRIPTORS = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']);

/**
 * croner accepts more than Kubernetes (seconds, `L`, `#`, `W`); a CronJob the API server would
 * reject, or read differently, is refused here with the reason.
 */
export function checkKubernetesSchedule(pattern: string, schedule: string): void {
  if (pattern.startsWith('@')) {
    if (DESCRIPTORS.has(pattern.toLowerCase())) return;
    throw new PermanentError(`schedule "${schedule}": Kubernetes CronJobs accept only ${[...DESCRIPTORS].join(', ')} as @-descriptors`);
  }
  const fields = pattern.split(/\s+/);
  if (fields.length !== 5) {
    throw new PermanentError(
      `schedule "${schedule}" has ${fields.length} fields: Kubernetes CronJobs take 5 (minute hour day-of-month month day-of-week), no seconds`,
    );
  }
  fields.forEach((field, index) => {
    for (const token of field.split(/[,\-/]/)) {
      const upper = token.toUpperCase();
      const ok =
        token === '*' ||
        (token === '?' && (index === 2 || index === 4)) ||
        /^\d+$/.test(token) ||
        (index === 3 && MONTHS.has(upper)) ||
        (index === 4 && DAYS.has(upper));
      if (!ok) throw new PermanentError(`schedule "${schedule}": "${token}" is not something Kubernetes CronJobs understand (no L, W or # fields)`);
    }
  });
}
