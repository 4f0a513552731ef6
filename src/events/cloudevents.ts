/**
 * The lifecycle events jobwire emits, as CloudEvents 1.0 in structured mode
 * (`application/cloudevents+json`): `io.jobwire.run.started` for every attempt that starts and
 * `io.jobwire.run.finished` when a run reaches its final state.
 *
 * Ids are derived from what the event is about (run, attempt, transition), not random: an event
 * written to the outbox again after a crash, or delivered twice by a sink, has the same id, so a
 * consumer dedupes by `id` as the CloudEvents spec intends. They are shaped as UUIDs because
 * some consumers (Keptn) expect one.
 */
import { createHash } from 'node:crypto';
import type { RunRecord, StepResult } from '../core/run.js';

export const CLOUDEVENTS_CONTENT_TYPE = 'application/cloudevents+json';
export const RUN_STARTED = 'io.jobwire.run.started';
export const RUN_FINISHED = 'io.jobwire.run.finished';

/** A CloudEvent in its structured JSON form; `data` is JSON. Extension attributes are lowercase. */
export interface CloudEvent {
  readonly specversion: '1.0';
  readonly id: string;
  readonly source: string;
  readonly type: string;
  readonly subject?: string;
  readonly time: string;
  readonly datacontenttype: 'application/json';
  readonly data: Readonly<Record<string, unknown>>;
  readonly [extension: string]: unknown;
}

/** A stable UUID-shaped id for `key` (SHA-256, version and variant bits set like a v5 UUID). */
export function stableEventId(key: string): string {
  const hex = createHash('sha256').update(key).digest('hex');
  const variant = ((Number.parseInt(hex.slice(16, 17), 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** What an event about a run says, beside its data: the envelope is the same for every kind. */
export interface RunEventHead {
  readonly run: RunRecord;
  readonly type: string;
  /** What the stable id is derived from (stableEventId). */
  readonly idKey: string;
  readonly instance: string;
  readonly at: number;
  /** Extension attributes (lowercase names) beside `correlationid`. */
  readonly extensions?: Readonly<Record<string, string>>;
}

/** The CloudEvent about `run`: subject is its job, `correlationid` its correlation id. */
export function runEvent({ run, type, idKey, instance, at, extensions }: RunEventHead, data: Readonly<Record<string, unknown>>): CloudEvent {
  return {
    specversion: '1.0',
    id: stableEventId(idKey),
    source: instance,
    type,
    subject: run.job,
    time: new Date(at).toISOString(),
    datacontenttype: 'application/json',
    ...extensions,
    correlationid: run.correlationId,
    data,
  };
}

export interface RunStartedInput {
  readonly run: RunRecord;
  /** The CloudEvents `source` of this jobwire (events.source). */
  readonly instance: string;
  readonly at: number;
}

export function runStartedEvent({ run, instance, at }: RunStartedInput): CloudEvent {
  return runEvent(
    { run, type: RUN_STARTED, idKey: `${run.id}/${run.attempts}/started`, instance, at },
    {
      job: run.job,
      runId: run.id,
      attempt: run.attempts,
      status: 'running',
      correlationId: run.correlationId,
      messageId: run.messageId,
      source: run.source,
      handle: run.handle,
    },
  );
}

/** The end of a run, as the finished event reports it. */
export interface RunFinishedInput {
  /** The run in its final state. */
  readonly run: RunRecord;
  readonly instance: string;
  readonly at: number;
  /** The last bytes of the attempt's log (events.logTail); the whole log is at `logUrl`. */
  readonly logTail: string;
  readonly logTruncated: boolean;
}

export function runFinishedEvent({ run, instance, at, logTail, logTruncated }: RunFinishedInput): CloudEvent {
  return runEvent(
    { run, type: RUN_FINISHED, idKey: `${run.id}/finished`, instance, at },
    {
      job: run.job,
      runId: run.id,
      attempt: run.attempts,
      status: run.status,
      exitCode: run.exitCode,
      reason: run.reason,
      durationMs: durationMs(run, at),
      correlationId: run.correlationId,
      messageId: run.messageId,
      source: run.source,
      output: run.output,
      outputError: run.outputError,
      steps: run.steps satisfies readonly StepResult[] | null,
      logTail,
      logTruncated,
      logUrl: `/v1/runs/${run.id}/logs`,
    },
  );
}

/** From the start of the last attempt (or the run's creation, if it never started) to its end. */
export function durationMs(run: RunRecord, at: number): number {
  return Math.max(0, Math.round((run.finishedAt ?? at) - (run.startedAt ?? run.createdAt)));
}

/**
 * The last `maxBytes` of a log, cut at a character boundary (and after a newline when one is
 * near), so a large log never pushes an event over a broker's payload limit.
 */
export function logTailOf(text: string, maxBytes: number): { readonly tail: string; readonly truncated: boolean } {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return { tail: text, truncated: false };
  let start = bytes.length - maxBytes;
  // Skip UTF-8 continuation bytes so the tail starts on a character.
  while (start < bytes.length && ((bytes[start] ?? 0) & 0xc0) === 0x80) start++;
  let tail = bytes.subarray(start).toString('utf8');
  const newline = tail.indexOf('\n');
  if (newline !== -1 && newline < 200) tail = tail.slice(newline + 1);
  return { tail, truncated: true };
}
