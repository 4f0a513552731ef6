/**
 * What a message would do, without doing it: which jobs match (and why the others do not), and
 * the exact argv, env and files each matching job's run would get. Used by `POST
 * /v1/messages?dryRun=true` and `jobwire test`. Values taken from jobwire's environment
 * (`fromEnv`, usually secrets) are masked.
 */
import type { CompiledJob } from '../config/types.js';
import { errorMessage } from '../core/errors.js';
import type { Message } from '../core/message.js';
import { DEFAULT_MAX_OUTPUT_BYTES } from '../core/run.js';
import type { Matcher } from './matcher.js';
import { buildRunSpec } from './run-spec.js';

export type DryRunMatch =
  | {
      readonly job: string;
      readonly executor: string;
      readonly argv: readonly string[];
      /** A job with steps: what each runs (argv then runs the step driver with them). */
      readonly steps: readonly { readonly name: string; readonly script: string; readonly continueOnError: boolean }[] | null;
      readonly env: Readonly<Record<string, string>>;
      readonly files: readonly string[];
      readonly workingDir: string | null;
      readonly image: string | null;
      readonly timeoutMs: number | null;
    }
  | { readonly job: string; readonly executor: string; readonly error: string };

export interface DryRunResult {
  readonly messageId: string;
  readonly correlationId: string;
  readonly source: string;
  readonly topic: string;
  readonly type: string | null;
  readonly matches: readonly DryRunMatch[];
  readonly unmatched: readonly { readonly job: string; readonly reasons: readonly string[] }[];
}

export function dryRun(matcher: Matcher, message: Message, processEnv: NodeJS.ProcessEnv): DryRunResult {
  const matches: DryRunMatch[] = [];
  const unmatched: { job: string; reasons: readonly string[] }[] = [];
  for (const verdict of matcher.explain(message)) {
    if (!verdict.matched) {
      unmatched.push({ job: verdict.job.name, reasons: verdict.reasons });
      continue;
    }
    matches.push(preview(verdict.job, message, processEnv));
  }
  return {
    messageId: message.id,
    correlationId: message.correlationId,
    source: message.source,
    topic: message.topic,
    type: message.cloudEvent?.type ?? null,
    matches,
    unmatched,
  };
}

function preview(job: CompiledJob, message: Message, processEnv: NodeJS.ProcessEnv): DryRunMatch {
  const masked: NodeJS.ProcessEnv = {};
  // A step's env may read jobwire's environment too: masked the same way.
  for (const entry of [...job.env, ...(job.steps ?? []).flatMap((step) => step.env)]) {
    if (entry.value.kind === 'fromEnv' && processEnv[entry.value.name] !== undefined) {
      masked[entry.value.name] = `***(from $${entry.value.name})`;
    }
  }
  try {
    const spec = buildRunSpec(job, message, { runId: 'dry-run', attempt: 1, maxOutputBytes: DEFAULT_MAX_OUTPUT_BYTES }, masked);
    return {
      job: job.name,
      executor: job.executor,
      argv: spec.argv,
      steps: job.steps?.map(({ name, script, continueOnError }) => ({ name, script, continueOnError })) ?? null,
      env: { ...spec.env, JOBWIRE_MESSAGE: '<path of message.json in the run folder>' },
      files: spec.files.map((file) => file.path),
      workingDir: spec.workingDir ?? null,
      image: spec.image ?? null,
      timeoutMs: spec.timeoutMs ?? null,
    };
  } catch (error) {
    return { job: job.name, executor: job.executor, error: errorMessage(error) };
  }
}
