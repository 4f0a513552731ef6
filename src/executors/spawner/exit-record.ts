/**
 * An attempt's end, kept on disk while no jobwire is attached to the spawner: `exit.json` in the
 * attempt's folder, holding what an `exited` reply would have said (exit code or signal, end
 * time, the bounded log) plus the pid and start time. The spawner writes it (write to a
 * temporary name, then rename, so a reader never sees half a file); the next jobwire reads it
 * during recovery and records the attempt's true end.
 *
 * While a jobwire is attached nothing is written: the end travels as an `exited` reply and the
 * spawner keeps it in memory until jobwire says `forget` (it is in the store by then), so the
 * hot path costs no file write per run. When the channel breaks, every end not forgotten yet is
 * written at once, then each later one as it happens.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ProtocolError, exitedOf, isCount, isRecord, parseObject, type ExitedReply } from './protocol.js';

export const EXIT_RECORD_FILE = 'exit.json';

export interface ExitRecord {
  readonly key: string;
  readonly pid: number;
  readonly startedAt: number;
  readonly end: ExitedReply;
}

/** Writes the record into its attempt's folder (re-created if jobwire removed it already). */
export function writeExitRecord(dir: string, record: ExitRecord): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, EXIT_RECORD_FILE);
  const temporary = `${file}.${process.pid}.tmp`;
  const { end } = record;
  const content = {
    key: record.key,
    pid: record.pid,
    startedAt: record.startedAt,
    code: end.code,
    signal: end.signal,
    error: end.error,
    log: end.log,
    endedAt: end.endedAt,
  };
  writeFileSync(temporary, JSON.stringify(content), { mode: 0o600 });
  renameSync(temporary, file);
}

/** The record in `dir`, or undefined when there is none; throws ProtocolError for a corrupt one. */
export async function readExitRecord(dir: string): Promise<ExitRecord | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(dir, EXIT_RECORD_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const value = parseObject(text);
  const { key, pid, startedAt } = value;
  if (typeof key !== 'string' || !isCount(pid) || !isCount(startedAt) || !isRecord(value)) {
    throw new ProtocolError(`${path.join(dir, EXIT_RECORD_FILE)} is not an exit record`);
  }
  return { key, pid, startedAt, end: exitedOf(value, 0, text) };
}
