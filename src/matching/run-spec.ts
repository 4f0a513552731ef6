/**
 * Renders a job definition and a message into the RunSpec an executor receives: argv, the
 * resolved environment, files. This is the only place message data flows into a run, and it
 * flows only into environment values and the message file — argv comes from the config alone.
 */
import { celValueToEnvString } from '../config/expressions.js';
import type { CompiledJob, EnvEntry, EnvValue } from '../config/types.js';
import { errorMessage, PermanentError } from '../core/errors.js';
import { messageView, type Message, type MessageView } from '../core/message.js';
import type { RunSpec, SecretEnvRef } from '../executors/executor.js';
import { STEP_ENV_PREFIX } from '../executors/steps-driver.js';
import { jsonPathText, jsonPathValues } from './matcher.js';

export interface RunIdentity {
  readonly runId: string;
  readonly attempt: number;
  /** `limits.maxOutputSize`, passed on to the executor. */
  readonly maxOutputBytes: number;
}

/** Throws PermanentError when an env value cannot be resolved for this message. */
export function buildRunSpec(job: CompiledJob, message: Message, run: RunIdentity, processEnv: NodeJS.ProcessEnv): RunSpec {
  const view = messageView(message);
  const env: Record<string, string> = {};
  const secretEnv: SecretEnvRef[] = [];
  const resolve = (entries: readonly EnvEntry[], prefix: string, what: string): void => {
    for (const entry of entries) {
      const name = prefix + entry.name;
      if (entry.value.kind === 'secret') {
        // Read by the cluster from the Secret when the pod starts; jobwire never sees the value.
        secretEnv.push({ name, secret: entry.value.name, key: entry.value.key });
        continue;
      }
      try {
        env[name] = resolveEnvValue(entry.value, view, message, processEnv);
      } catch (error) {
        throw new PermanentError(`${what}env ${entry.name}: ${errorMessage(error).split('\n')[0]}`, { cause: error });
      }
    }
  };
  resolve(job.env, '', '');
  // A step's env goes under JOBWIRE_STEP_<n>_; the step driver hands it to step n alone.
  job.steps?.forEach((step, k) => resolve(step.env, `${STEP_ENV_PREFIX}${k + 1}_`, `step ${step.name}: `));
  Object.assign(env, {
    JOBWIRE_RUN_ID: run.runId,
    JOBWIRE_JOB: job.name,
    JOBWIRE_ATTEMPT: String(run.attempt),
    JOBWIRE_MESSAGE_ID: message.id,
    JOBWIRE_SOURCE: message.source,
    JOBWIRE_TOPIC: message.topic,
    JOBWIRE_CORRELATION_ID: message.correlationId,
    ...(message.cloudEvent === undefined ? {} : { JOBWIRE_EVENT_TYPE: message.cloudEvent.type }),
  });
  return {
    runId: run.runId,
    job: job.name,
    attempt: run.attempt,
    messageId: message.id,
    source: message.source,
    correlationId: message.correlationId,
    argv: job.argv,
    ...(job.steps === undefined ? {} : { steps: job.steps.map((step) => ({ name: step.name, continueOnError: step.continueOnError })) }),
    env,
    files: job.files.map((file) => ({ path: file.path, from: file.absolutePath })),
    messageJson: JSON.stringify(view),
    ...(job.workingDir === undefined ? {} : { workingDir: job.workingDir }),
    ...(job.image === undefined ? {} : { image: job.image }),
    ...(job.timeoutMs === undefined ? {} : { timeoutMs: job.timeoutMs }),
    secretEnv,
    runtime: job.runtime,
    retryLimit: job.retries.limit,
    maxOutputBytes: run.maxOutputBytes,
  };
}

function resolveEnvValue(value: EnvValue, view: MessageView, message: Message, processEnv: NodeJS.ProcessEnv): string {
  switch (value.kind) {
    case 'literal':
      return value.value;
    case 'expression':
      return celValueToEnvString(value.expression.evaluate(view));
    case 'jsonpath': {
      const values = jsonPathValues(value.path, message.body);
      if (values.length === 0) throw new Error(`${value.path} matched nothing in the message`);
      return jsonPathText(values[0]);
    }
    case 'fromEnv': {
      const found = processEnv[value.name];
      if (found === undefined) throw new Error(`fromEnv: ${value.name} is not set in jobwire's environment`);
      return found;
    }
    case 'secret':
      throw new Error(`secret ${value.name}/${value.key} can only be resolved by the kubernetes executor`);
  }
}
