/**
 * Reads what an attempt wrote to `$JOBWIRE_OUTPUT` into an AttemptOutput. Every executor uses
 * the same rules, so a job's output means the same wherever it ran: nothing (no file, or an
 * empty one) → `none`; a JSON object within `limits.maxOutputSize` → `json`; anything else →
 * `invalid` with a reason the user can act on. The job's mistakes never throw: an output is
 * recorded on the run, it never fails it.
 *
 * The file belongs to the job, so it is read defensively: at most maxBytes + 1 bytes are read
 * whatever its size, a symlink is not followed (a container could point it at a host file only
 * jobwire may read), and anything but a regular file (a FIFO would block the read) is refused.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { AttemptOutput } from '../core/run.js';
import { errorMessage } from '../core/errors.js';

/** The file name in an attempt's folder (process and container executors). */
export const OUTPUT_FILE = 'output.json';

const NONE: AttemptOutput = { kind: 'none' };

/** Reads and judges the output file at `file`; never throws. */
export async function readOutputFile(file: string, maxBytes: number): Promise<AttemptOutput> {
  let handle: FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return NONE;
    if (code === 'ELOOP') return invalid('output is a symbolic link; write the JSON to the file itself');
    return invalid(`output cannot be read: ${errorMessage(error)}`);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) return invalid('output is not a regular file');
    if (info.size > maxBytes) return tooLarge(info.size, maxBytes);
    // The size may grow between stat and read (something still writes): read one byte more to see it.
    const buffer = Buffer.alloc(Math.min(info.size, maxBytes) + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > maxBytes) return tooLarge(length, maxBytes, 'at least ');
    return parseOutput(buffer.subarray(0, length).toString('utf8'));
  } catch (error) {
    return invalid(`output cannot be read: ${errorMessage(error)}`);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/**
 * Judges output text already read and within its size limit: empty (or only whitespace) →
 * none, a JSON object → json, else invalid.
 */
export function parseOutput(text: string): AttemptOutput {
  if (text.trim() === '') return NONE;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return invalid(`output is not JSON: ${errorMessage(error)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return invalid(`output must be a JSON object, got ${jsonKind(value)}`);
  }
  return { kind: 'json', value: value as Record<string, unknown> };
}

/** The `invalid` output for `bytes` over `maxBytes`; `atLeast` when the true size is unknown. */
export function tooLarge(bytes: number, maxBytes: number, atLeast = ''): AttemptOutput {
  return invalid(`output is ${atLeast}${bytes} bytes, over limits.maxOutputSize ${maxBytes}`);
}

export function invalid(error: string): AttemptOutput {
  return { kind: 'invalid', error };
}

function jsonKind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}
