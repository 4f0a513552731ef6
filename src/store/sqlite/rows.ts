/**
 * Row shapes as SQLite returns them, and their conversion to the domain types.
 *
 * Columns are snake_case and JSON columns are text; this file is the only place that knows it.
 * Values read back were written by this store, but a file can be edited by hand or by a newer
 * version, so conversions check what they rely on and fail loudly instead of passing on junk.
 */
import type { CloudEventAttributes, Message } from '../../core/message.js';
import { isRunStatus, type RunLog, type RunRecord, type StepResult } from '../../core/run.js';
import type { OutboxRecord, StoredMessage } from '../store.js';

export interface RunRow {
  readonly seq: number;
  readonly id: string;
  readonly job: string;
  readonly message_source: string;
  readonly message_id: string;
  readonly correlation_id: string;
  readonly status: string;
  readonly priority: number;
  readonly attempts: number;
  readonly max_attempts: number;
  readonly exit_code: number | null;
  readonly reason: string | null;
  readonly executor: string;
  readonly handle: string | null;
  readonly created_at: number;
  readonly available_at: number;
  readonly started_at: number | null;
  readonly finished_at: number | null;
  readonly output: string | null;
  readonly output_error: string | null;
  readonly steps: string | null;
}

export interface OutboxRow {
  readonly seq: number;
  readonly target: string;
  readonly id: string;
  readonly payload: string;
  readonly attempts: number;
  readonly last_error: string | null;
  readonly created_at: number;
}

export interface MessageRow {
  readonly source: string;
  readonly id: string;
  readonly topic: string;
  readonly headers: string;
  readonly body: string;
  readonly cloud_event: string | null;
  readonly correlation_id: string;
  readonly received_at: number;
  readonly matched_jobs: string;
}

export interface LogRow {
  readonly run_id: string;
  readonly attempt: number;
  readonly text: string;
  readonly dropped_bytes: number;
  readonly total_bytes: number;
}

export function toRunRecord(row: RunRow): RunRecord {
  if (!isRunStatus(row.status)) throw new Error(`run ${row.id} has unknown status ${JSON.stringify(row.status)}`);
  return {
    id: row.id,
    job: row.job,
    messageId: row.message_id,
    source: row.message_source,
    correlationId: row.correlation_id,
    status: row.status,
    priority: row.priority,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    exitCode: row.exit_code,
    reason: row.reason,
    executor: row.executor,
    handle: row.handle,
    seq: row.seq,
    createdAt: row.created_at,
    availableAt: row.available_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    output: row.output === null ? null : toOutputObject(parseJson(row.output, 'output', 'runs'), row.id),
    outputError: row.output_error,
    steps: row.steps === null ? null : toSteps(parseJson(row.steps, 'steps', 'runs'), row.id),
  };
}

function toOutputObject(value: unknown, runId: string): Readonly<Record<string, unknown>> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`run ${runId} has an output that is not a JSON object`);
  return value as Record<string, unknown>;
}

const STEP_STATUSES: ReadonlySet<unknown> = new Set(['succeeded', 'failed', 'skipped']);

function toSteps(value: unknown, runId: string): StepResult[] {
  if (!Array.isArray(value)) throw new Error(`run ${runId} has steps that are not a JSON array`);
  return value.map((item: unknown): StepResult => {
    const step = typeof item === 'object' && item !== null ? (item as Record<string, unknown>) : {};
    const { name, status, exitCode, durationMs, continueOnError } = step;
    if (typeof name !== 'string' || !STEP_STATUSES.has(status)) throw new Error(`run ${runId} has a malformed step result`);
    return {
      name,
      status: status as StepResult['status'],
      exitCode: typeof exitCode === 'number' ? exitCode : null,
      durationMs: typeof durationMs === 'number' ? durationMs : null,
      continueOnError: continueOnError === true,
    };
  });
}

export function toOutboxRecord(row: OutboxRow): OutboxRecord {
  return { seq: row.seq, target: row.target, id: row.id, payload: row.payload, attempts: row.attempts, lastError: row.last_error, createdAt: row.created_at };
}

export function toStoredMessage(row: MessageRow): StoredMessage {
  const cloudEvent = row.cloud_event === null ? undefined : toCloudEvent(parseJson(row.cloud_event, 'cloud_event'));
  return {
    id: row.id,
    source: row.source,
    topic: row.topic,
    headers: toStringRecord(parseJson(row.headers, 'headers')),
    body: parseJson(row.body, 'body'),
    // Absent rather than `undefined` when the message was not a CloudEvent: what went in comes out.
    ...(cloudEvent === undefined ? {} : { cloudEvent }),
    correlationId: row.correlation_id,
    receivedAt: row.received_at,
    matchedJobs: toStringArray(parseJson(row.matched_jobs, 'matched_jobs')),
  };
}

/**
 * The StoredMessage a read of the row just written for `message` returns, built without reading
 * it: same keys, the body as stored (`undefined` becomes `null`; bodies are JSON values or text
 * by the Message contract), CloudEvent attributes reduced to the ones the row keeps. Headers and
 * job names are shared with the (readonly) inputs rather than copied: this runs per message.
 */
export function acceptedMessage(message: Message, matchedJobs: readonly string[]): StoredMessage {
  const cloudEvent = message.cloudEvent === undefined ? undefined : toCloudEvent(message.cloudEvent);
  return {
    id: message.id,
    source: message.source,
    topic: message.topic,
    headers: message.headers,
    body: message.body ?? null,
    ...(cloudEvent === undefined ? {} : { cloudEvent }),
    correlationId: message.correlationId,
    receivedAt: message.receivedAt,
    matchedJobs,
  };
}

export function toRunLog(row: LogRow): RunLog {
  return {
    runId: row.run_id,
    attempt: row.attempt,
    text: row.text,
    droppedBytes: row.dropped_bytes,
    totalBytes: row.total_bytes,
  };
}

/** JSON text for a message body: `undefined` (no payload) is stored as `null`. */
export function bodyToJson(body: unknown): string {
  return JSON.stringify(body ?? null);
}

function parseJson(text: string, column: string, table = 'messages'): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error: unknown) {
    throw new Error(`${table}.${column} is not valid JSON`, { cause: error });
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function toStringRecord(value: unknown): Record<string, string> {
  if (!isObject(value)) throw new Error('messages.headers is not a JSON object');
  const out: Record<string, string> = {};
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== 'string') throw new Error(`messages.headers.${key} is not a string`);
    out[key] = item;
  }
  return out;
}

function toStringArray(value: unknown): string[] {
  if (!Array.isArray(value) || !value.every((item): item is string => typeof item === 'string')) {
    throw new Error('messages.matched_jobs is not a JSON array of strings');
  }
  return value;
}

const REQUIRED_CE = ['id', 'source', 'type', 'specversion'] as const;
const OPTIONAL_CE = ['subject', 'time', 'datacontenttype', 'dataschema'] as const;

function toCloudEvent(value: unknown): CloudEventAttributes {
  if (!isObject(value)) throw new Error('messages.cloud_event is not a JSON object');
  const text = (key: string): string | undefined => {
    const item = value[key];
    if (item === undefined) return undefined;
    if (typeof item !== 'string') throw new Error(`messages.cloud_event.${key} is not a string`);
    return item;
  };
  const [id, source, type, specversion] = REQUIRED_CE.map((key) => {
    const item = text(key);
    if (item === undefined) throw new Error(`messages.cloud_event.${key} is missing`);
    return item;
  });
  const optional: Partial<Record<(typeof OPTIONAL_CE)[number], string>> = {};
  for (const key of OPTIONAL_CE) {
    const item = text(key);
    if (item !== undefined) optional[key] = item;
  }
  return { id: id ?? '', source: source ?? '', type: type ?? '', specversion: specversion ?? '', ...optional };
}
