/**
 * Keptn mode (`events: { keptn: true }` on a job): a run triggered by a Keptn task event
 * `sh.keptn.event.<task>.triggered` answers with `sh.keptn.event.<task>.started` when it starts
 * and `sh.keptn.event.<task>.finished` when it ends, as the Keptn job-executor-service did:
 * `triggeredid` is the trigger's id, `shkeptncontext` is carried over, `data` keeps the trigger's
 * project, stage, service and labels and adds `status` (succeeded | errored), `result`
 * (pass | fail) and a `message` holding the tail of the log — bounded, because large logs in
 * events hit brokers' payload limits; the full log stays in the API.
 */
import type { Message } from '../core/message.js';
import type { RunRecord } from '../core/run.js';
import { runEvent, type CloudEvent } from './cloudevents.js';

const TRIGGERED = /^sh\.keptn\.event\.(.+)\.triggered$/;

/** What a Keptn answer needs from its trigger; undefined when the message is not a Keptn task trigger. */
export interface KeptnTrigger {
  readonly task: string;
  readonly id: string;
  readonly shkeptncontext: string | undefined;
  readonly data: Readonly<Record<string, unknown>>;
}

export function keptnTrigger(message: Message): KeptnTrigger | undefined {
  const type = message.cloudEvent?.type;
  const task = type === undefined ? undefined : TRIGGERED.exec(type)?.[1];
  if (task === undefined || message.cloudEvent === undefined) return undefined;
  const body = isRecord(message.body) ? message.body : {};
  const context = body['shkeptncontext'];
  const data = isRecord(body['data']) ? body['data'] : {};
  return { task, id: message.cloudEvent.id, shkeptncontext: typeof context === 'string' ? context : undefined, data };
}

/** The trigger's data that every answer repeats (Keptn routes answers by them). */
function echoed(trigger: KeptnTrigger): Record<string, unknown> {
  const kept: Record<string, unknown> = {};
  for (const key of ['project', 'stage', 'service', 'labels'] as const) {
    if (trigger.data[key] !== undefined) kept[key] = trigger.data[key];
  }
  return kept;
}

function envelope(trigger: KeptnTrigger, phase: 'started' | 'finished', idKey: string, instance: string, at: number, data: Record<string, unknown>, run: RunRecord): CloudEvent {
  const extensions = { triggeredid: trigger.id, ...(trigger.shkeptncontext === undefined ? {} : { shkeptncontext: trigger.shkeptncontext }) };
  return runEvent({ run, type: `sh.keptn.event.${trigger.task}.${phase}`, idKey, instance, at, extensions }, data);
}

export function keptnStartedEvent(trigger: KeptnTrigger, run: RunRecord, instance: string, at: number): CloudEvent {
  return envelope(trigger, 'started', `${run.id}/${run.attempts}/keptn-started`, instance, at, { ...echoed(trigger), status: 'succeeded' }, run);
}

export function keptnFinishedEvent(trigger: KeptnTrigger, run: RunRecord, instance: string, at: number, logTail: string, logTruncated: boolean): CloudEvent {
  const passed = run.status === 'succeeded';
  const summary = passed ? `job ${run.job} succeeded` : `job ${run.job} ${run.status.replace('_', ' ')}${run.reason === null ? '' : `: ${run.reason}`}`;
  const more = logTruncated ? `\n(log truncated: the full log is at /v1/runs/${run.id}/logs)` : '';
  return envelope(
    trigger,
    'finished',
    `${run.id}/keptn-finished`,
    instance,
    at,
    {
      ...echoed(trigger),
      status: passed ? 'succeeded' : 'errored',
      result: passed ? 'pass' : 'fail',
      message: `${summary}\n${logTail}${more}`,
    },
    run,
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
