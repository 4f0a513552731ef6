/**
 * The control protocol between jobwire and its spawner process: one JSON object per line,
 * requests on the spawner's stdin, replies on its stdout. Both sides import this file, so a
 * message shape changes in one place. Every line is validated when read: a malformed line is a
 * bug on the other side, and the reader treats it as fatal rather than guessing.
 *
 * Ids are chosen by jobwire, unique per spawner process; every reply names the request's id.
 */
import { JobwireError } from '../../core/errors.js';
import type { CapturedLog } from '../executor.js';

/**
 * Bumped when a message changes shape. A spawner outlives the jobwire that started it, so the
 * next jobwire may be a newer version: it refuses to drive a spawner that speaks another one.
 */
export const PROTOCOL_VERSION = 2;

/**
 * Where an attempt's fate is kept when no jobwire is there to hear it: the spawner writes its
 * end to `<dir>/exit.json` (exit-record.ts) while no jobwire is attached.
 */
export interface AttemptRecord {
  /** Unique per attempt (`<run id>-<attempt>`); the next jobwire asks for it by this key. */
  readonly key: string;
  /** Absolute path of the attempt's folder. */
  readonly dir: string;
}

/**
 * Start `argv` exactly as given (no shell) in its own process group. With `record`, the child
 * is an attempt: it outlives its jobwire, and its end is kept until jobwire says `forget`.
 * Without, it is a helper call (an engine CLI command) that dies with the jobwire that asked.
 */
export interface SpawnRequest {
  readonly type: 'spawn';
  readonly id: number;
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly maxLogBytes: number;
  readonly record: AttemptRecord | null;
}

/**
 * Sent by a jobwire that connected to a running spawner over its socket (the previous jobwire
 * died or left its runs running): answered `attached` with every attempt the spawner still
 * knows, or `busy` while another jobwire is still attached. The id is always 0.
 */
export interface AttachRequest {
  readonly type: 'attach';
  readonly id: number;
  readonly version: number;
}

/** The attempt's end is recorded in the store: the spawner may forget it. */
export interface ForgetRequest {
  readonly type: 'forget';
  readonly id: number;
}

/** Ask for a snapshot of the run's log so far; answered with `peeked` while the run lives. */
export interface PeekRequest {
  readonly type: 'peek';
  readonly id: number;
}

/**
 * Stop waiting for the run's pipes: report it as soon as its leader has exited. Sent after a
 * stop's SIGKILL plus a bounded drain, because a process that left the group may hold the pipes
 * open forever.
 */
export interface ReleasePipesRequest {
  readonly type: 'release-pipes';
  readonly id: number;
}

export type Request = SpawnRequest | PeekRequest | ReleasePipesRequest | AttachRequest | ForgetRequest;

export interface SpawnedReply {
  readonly type: 'spawned';
  readonly id: number;
  readonly pid: number;
  /** When the child exec'd, ms since the epoch. */
  readonly startedAt: number;
}

export interface SpawnErrorReply {
  readonly type: 'spawn-error';
  readonly id: number;
  /** The errno code (ENOENT, EAGAIN…) or Node's ERR_* code, when there is one. */
  readonly code: string | null;
  readonly message: string;
  /**
   * True when spawn() threw synchronously (invalid arguments such as a NUL byte, or an errno
   * Node does not report as an event); false for an 'error' event before 'spawn'.
   */
  readonly thrown: boolean;
}

export interface ExitedReply {
  readonly type: 'exited';
  readonly id: number;
  readonly code: number | null;
  readonly signal: string | null;
  /** An 'error' event the child emitted after it had spawned. */
  readonly error: { readonly code: string | null; readonly message: string } | null;
  readonly log: CapturedLog;
  /** When the child's end was seen (exit and pipes closed), ms since the epoch. */
  readonly endedAt: number;
}

/** One attempt a spawner supervises or has seen end, as told to a jobwire that attaches. */
export interface AttachedChild {
  readonly id: number;
  readonly key: string;
  readonly pid: number;
  readonly startedAt: number;
  /** Its end, if it ended and was not forgotten yet; null while it runs. */
  readonly end: ExitedReply | null;
}

export interface AttachedReply {
  readonly type: 'attached';
  readonly id: number;
  readonly version: number;
  /** The spawner's pid: a jobwire that finds it broken kills it, as it would a helper it started. */
  readonly pid: number;
  /** The first request id the new jobwire may use: ids of the attempts below stay taken. */
  readonly nextId: number;
  readonly children: readonly AttachedChild[];
}

/** Another jobwire is attached to this spawner; `pid` is the spawner's, for the error message. */
export interface BusyReply {
  readonly type: 'busy';
  readonly id: number;
  readonly pid: number;
}

export interface PeekedReply {
  readonly type: 'peeked';
  readonly id: number;
  readonly log: CapturedLog;
}

export type Reply = SpawnedReply | SpawnErrorReply | ExitedReply | PeekedReply | AttachedReply | BusyReply;

/**
 * Longest request line the spawner accepts. Requests carry argv and env, which the kernel
 * limits to a few MiB together; JSON escaping can grow them up to 6×.
 */
export const MAX_REQUEST_LINE = 16 * 1024 * 1024;

/** Longest reply line for logs of `maxLogBytes`: up to 6× for escaped control bytes, plus room. */
export function maxReplyLine(maxLogBytes: number): number {
  return 6 * maxLogBytes + 64 * 1024;
}

/** A line the other side should never have sent: a bug, so the channel is torn down. */
export class ProtocolError extends JobwireError {
  override readonly name: string = 'ProtocolError';
}

export function encode(message: Request | Reply): string {
  return `${JSON.stringify(message)}\n`;
}

export function parseRequest(line: string): Request {
  const value = parseObject(line);
  const id = idOf(value);
  switch (value['type']) {
    case 'spawn': {
      const { argv, cwd, env, maxLogBytes } = value;
      if (!isStringArray(argv) || argv.length === 0) throw invalid('spawn.argv', line);
      if (typeof cwd !== 'string' || !cwd.startsWith('/')) throw invalid('spawn.cwd', line);
      if (!isStringRecord(env)) throw invalid('spawn.env', line);
      if (!isCount(maxLogBytes)) throw invalid('spawn.maxLogBytes', line);
      const record = value['record'] === null || value['record'] === undefined ? null : recordOf(value['record'], line);
      return { type: 'spawn', id, argv, cwd, env, maxLogBytes, record };
    }
    case 'attach': {
      const { version } = value;
      if (!isCount(version)) throw invalid('attach.version', line);
      return { type: 'attach', id, version };
    }
    case 'peek':
    case 'release-pipes':
    case 'forget':
      return { type: value['type'], id };
    default:
      throw invalid('type', line);
  }
}

export function parseReply(line: string): Reply {
  const value = parseObject(line);
  const id = idOf(value);
  switch (value['type']) {
    case 'spawned': {
      const { pid, startedAt } = value;
      if (!isCount(pid) || pid < 2) throw invalid('spawned.pid', line);
      if (!isCount(startedAt)) throw invalid('spawned.startedAt', line);
      return { type: 'spawned', id, pid, startedAt };
    }
    case 'spawn-error': {
      const { code, message, thrown } = value;
      if (!isStringOrNull(code) || typeof message !== 'string' || typeof thrown !== 'boolean') {
        throw invalid('spawn-error', line);
      }
      return { type: 'spawn-error', id, code, message, thrown };
    }
    case 'exited':
      return exitedOf(value, id, line);
    case 'peeked':
      return { type: 'peeked', id, log: logOf(value['log'], line) };
    case 'attached': {
      const { version, pid, nextId, children } = value;
      if (!isCount(version) || !isCount(pid) || !isCount(nextId) || !Array.isArray(children)) throw invalid('attached', line);
      return { type: 'attached', id, version, pid, nextId, children: children.map((child) => attachedChildOf(child, line)) };
    }
    case 'busy': {
      const { pid } = value;
      if (!isCount(pid)) throw invalid('busy.pid', line);
      return { type: 'busy', id, pid };
    }
    default:
      throw invalid('type', line);
  }
}

/** An `exited` message's fields, from a reply line or an exit record file (exit-record.ts). */
export function exitedOf(value: Record<string, unknown>, id: number, line: string): ExitedReply {
  const { code, signal, error, log, endedAt } = value;
  if (!(code === null || Number.isSafeInteger(code)) || !isStringOrNull(signal) || !isCount(endedAt)) throw invalid('exited', line);
  return {
    type: 'exited',
    id,
    code: code as number | null,
    signal,
    error: error === null || error === undefined ? null : errorOf(error, line),
    log: logOf(log, line),
    endedAt,
  };
}

function attachedChildOf(value: unknown, line: string): AttachedChild {
  if (!isRecord(value)) throw invalid('attached.children', line);
  const { id, key, pid, startedAt, end } = value;
  if (!isCount(id) || typeof key !== 'string' || !isCount(pid) || !isCount(startedAt)) throw invalid('attached.children', line);
  return { id, key, pid, startedAt, end: end === null ? null : exitedOf(isRecord(end) ? end : {}, id, line) };
}

function recordOf(value: unknown, line: string): AttemptRecord {
  if (!isRecord(value)) throw invalid('spawn.record', line);
  const { key, dir } = value;
  if (typeof key !== 'string' || key === '' || typeof dir !== 'string' || !dir.startsWith('/')) throw invalid('spawn.record', line);
  return { key, dir };
}

export function parseObject(line: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    throw new ProtocolError(`not JSON: ${excerpt(line)}`, { cause: error });
  }
  if (!isRecord(value)) throw invalid('message', line);
  return value;
}

function idOf(value: Record<string, unknown>): number {
  const { id } = value;
  if (!isCount(id)) throw new ProtocolError(`invalid id in ${excerpt(JSON.stringify(value))}`);
  return id;
}

function logOf(value: unknown, line: string): CapturedLog {
  if (!isRecord(value)) throw invalid('log', line);
  const { text, droppedBytes, totalBytes } = value;
  if (typeof text !== 'string' || !isCount(droppedBytes) || !isCount(totalBytes)) throw invalid('log', line);
  return { text, droppedBytes, totalBytes };
}

function errorOf(value: unknown, line: string): { code: string | null; message: string } {
  if (!isRecord(value)) throw invalid('error', line);
  const { code, message } = value;
  if (!isStringOrNull(code) || typeof message !== 'string') throw invalid('error', line);
  return { code, message };
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function isStringOrNull(value: unknown): value is string | null {
  return value === null || typeof value === 'string';
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return isRecord(value) && Object.values(value).every((item) => typeof item === 'string');
}

function invalid(what: string, line: string): ProtocolError {
  return new ProtocolError(`invalid ${what} in ${excerpt(line)}`);
}

function excerpt(line: string): string {
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}
