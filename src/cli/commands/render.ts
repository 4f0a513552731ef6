/**
 * `jobwire render`: prints the exact Kubernetes manifests the kubernetes executor would create
 * for a job and a message (ConfigMap + Job), or with `--cronjobs` the CronJob manifests of the
 * jobs with cron triggers — as multi-document YAML, for review and for `kubectl apply -f -`.
 * The same builders as the executor are used, so what is reviewed is what runs.
 */
import { Document } from 'yaml';
import { loadConfig } from '../../config/load.js';
import type { CompiledConfig, CompiledJob, KubernetesExecutorSettings } from '../../config/types.js';
import { errorMessage, InvalidInputError, PermanentError } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import { buildCronJob, cronSchedules } from '../../executors/kubernetes/cronjob.js';
import { buildRunManifests, loadRunFiles } from '../../executors/kubernetes/manifests.js';
import { Matcher } from '../../matching/matcher.js';
import { buildRunSpec } from '../../matching/run-spec.js';
import type { CliIo } from '../io.js';
import { readMessageFile } from '../message-file.js';

export interface RenderOptions {
  readonly config: string;
  readonly job?: string;
  readonly message?: string;
  readonly source?: string;
  readonly topic?: string;
  readonly runId?: string;
  readonly cronjobs?: boolean;
}

export async function renderCommand(options: RenderOptions, io: CliIo): Promise<number> {
  const config = await loadConfig(options.config, io.env);
  const documents = options.cronjobs === true ? await renderCronJobs(config, options, io) : await renderRun(config, options, io);
  const header =
    options.cronjobs === true
      ? `# CronJobs rendered by jobwire from ${config.file}.\n` +
        '# If jobwire serve also runs this config, its scheduler fires these schedules too: use one or the other.\n'
      : '';
  io.stdout(header + documents.map(toYaml).join('---\n'));
  return 0;
}

async function renderRun(config: CompiledConfig, options: RenderOptions, io: CliIo): Promise<object[]> {
  if (options.job === undefined) throw new InvalidInputError('render needs a JOB name (or --cronjobs)');
  if (options.message === undefined) throw new InvalidInputError('render needs --message FILE: the message the run is for');
  const job = findJob(config, options.job);
  const settings = kubernetesSettings(config, job);
  const message = await readMessageFile(options.message, {
    knownSources: new Set(['http', 'cron', ...config.sources.keys()]),
    ...(options.source === undefined ? {} : { source: options.source }),
    ...(options.topic === undefined ? {} : { topic: options.topic }),
  });
  const verdict = new Matcher([job]).explain(message)[0];
  if (verdict !== undefined && !verdict.matched) {
    io.stderr(`jobwire: note: this message would not trigger job ${job.name} (${verdict.reasons.join('; ')}); rendering it anyway\n`);
  }
  const runId = options.runId ?? newId();
  let spec;
  try {
    spec = buildRunSpec(job, message, { runId, attempt: 1, maxOutputBytes: config.limits.maxOutputBytes }, io.env);
  } catch (error) {
    throw new InvalidInputError(`job ${job.name}: ${errorMessage(error)}`, { cause: error });
  }
  try {
    const manifests = buildRunManifests(spec, settings, await loadRunFiles(spec));
    // The ConfigMap first: `kubectl apply` creates in order, and the pod mounts it.
    return [manifests.configMap, manifests.job];
  } catch (error) {
    throw asInvalidInput(job, error);
  }
}

async function renderCronJobs(config: CompiledConfig, options: RenderOptions, io: CliIo): Promise<object[]> {
  if (options.message !== undefined || options.runId !== undefined) {
    throw new InvalidInputError('--cronjobs renders what each schedule tick runs: --message and --run-id do not apply');
  }
  const jobs = options.job === undefined ? config.jobs : [findJob(config, options.job)];
  const documents: object[] = [];
  for (const job of jobs) {
    const schedules = cronSchedules(job);
    const definition = config.executors.get(job.executor);
    if (schedules.length === 0 || definition?.type !== 'kubernetes') {
      if (options.job !== undefined) {
        throw new InvalidInputError(
          schedules.length === 0
            ? `job ${job.name} has no cron trigger (on: [{ source: cron, schedule: ... }] or schedule:)`
            : `job ${job.name} runs on executor "${job.executor}" (${definition?.type ?? 'process'}), not a kubernetes executor`,
        );
      }
      continue;
    }
    try {
      const files = await loadRunFiles({ files: job.files.map((file) => ({ path: file.path, from: file.absolutePath })) });
      for (const schedule of schedules) {
        const built = buildCronJob(job, schedule, definition.settings, files, { schedules, processEnv: io.env });
        documents.push(built.configMap, built.cronJob);
        if (built.fixedEnv.length > 0) {
          io.stderr(
            `jobwire: note: CronJob ${built.cronJob.metadata?.name ?? job.name}: ${built.fixedEnv.join(', ')} ` +
              `${built.fixedEnv.length === 1 ? 'is' : 'are'} computed once, from the message of the tick at ${built.tick}, ` +
              'not for every tick as under jobwire\'s scheduler\n',
          );
        }
      }
    } catch (error) {
      throw asInvalidInput(job, error);
    }
  }
  if (documents.length === 0) {
    throw new InvalidInputError('no job has a cron trigger and runs on a kubernetes executor: there are no CronJobs to render');
  }
  return documents;
}

function findJob(config: CompiledConfig, name: string): CompiledJob {
  const job = config.jobs.find((candidate) => candidate.name === name);
  if (job !== undefined) return job;
  const names = config.jobs.map((candidate) => candidate.name);
  throw new InvalidInputError(`no job named "${name}" in ${config.file} (jobs: ${names.length === 0 ? 'none' : names.join(', ')})`);
}

function kubernetesSettings(config: CompiledConfig, job: CompiledJob): KubernetesExecutorSettings {
  const definition = config.executors.get(job.executor);
  if (definition?.type === 'kubernetes') return definition.settings;
  const kubernetes = [...config.executors.values()].filter((candidate) => candidate.type === 'kubernetes').map((candidate) => candidate.name);
  throw new InvalidInputError(
    `job ${job.name} runs on executor "${job.executor}" (${definition?.type ?? 'process'}), not a kubernetes executor: there is no Job to render` +
      (kubernetes.length === 0 ? '' : ` (kubernetes executors: ${kubernetes.join(', ')})`),
  );
}

/** What the job definition got wrong (PermanentError) becomes a CLI error naming the job. */
function asInvalidInput(job: CompiledJob, error: unknown): unknown {
  return error instanceof PermanentError ? new InvalidInputError(`job ${job.name}: ${error.message}`, { cause: error }) : error;
}

function toYaml(document: object): string {
  // No anchors/aliases: kubectl and reviewers read plain, repeated values more easily.
  return new Document(document, { aliasDuplicateObjects: false }).toString({ lineWidth: 0 });
}
