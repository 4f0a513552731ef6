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

/** Start `argv` exactly as given (no shell) in its own process group. */
export interface SpawnRequest {
  readonly type: 'spawn';
  readonly id: number;
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly maxLogBytes: number;
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

export type Request = SpawnRequest | PeekRequest | ReleasePipesRequest;

export interface SpawnedReply {
  readonly type: 'spawned';
  readonly id: number;
  readonly pid: number;
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
}

export interface PeekedReply {
  readonly type: 'peeked';
  readonly id: number;
  readonly log: CapturedLog;
}

export type Reply = SpawnedReply | SpawnErrorReply | ExitedReply | PeekedReply;

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
      return { type: 'spawn', id, argv, cwd, env, maxLogBytes };
    }
    case 'peek':
    case 'release-pipes':
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
      const { pid } = value;
      if (!isCount(pid) || pid < 2) throw invalid('spawned.pid', line);
      return { type: 'spawned', id, pid };
    }
    case 'spawn-error': {
      const { code, message, thrown } = value;
      if (!isStringOrNull(code) || typeof message !== 'string' || typeof thrown !== 'boolean') {
        throw invalid('spawn-error', line);
      }
      return { type: 'spawn-error', id, code, message, thrown };
    }
    case 'exited': {
      const { code, signal, error, log } = value;
      if (!(code === null || Number.isSafeInteger(code)) || !isStringOrNull(signal)) throw invalid('exited', line);
      return {
        type: 'exited',
        id,
        code: code as number | null,
        signal,
        error: error === null ? null : errorOf(error, line),
        log: logOf(log, line),
      };
    }
    case 'peeked':
      return { type: 'peeked', id, log: logOf(value['log'], line) };
    default:
      throw invalid('type', line);
  }
}

function parseObject(line: string): Record<string, unknown> {
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

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
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
