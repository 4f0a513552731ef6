/**
 * A pod's container log, bounded like a local run's (log-capture.ts): at most `maxBytes`, the
 * first half and the last half, the middle replaced by a marker. Nothing unbounded is ever
 * downloaded: the head comes from `limitBytes`, the tail from `tailLines` (also capped by
 * `limitBytes`, the number of lines adjusted until the tail fits).
 *
 * The log API does not say how long the whole log is: when the log is longer than `maxBytes`,
 * `totalBytes` and `droppedBytes` are lower bounds, and the marker says so.
 */
import type { CapturedLog } from '../executor.js';
import { completeUtf8Prefix, firstCharStart } from '../log-capture.js';

export type LogReader = (bounds: { limitBytes?: number; tailLines?: number }) => Promise<string>;

export const EMPTY_LOG: CapturedLog = { text: '', droppedBytes: 0, totalBytes: 0 };

/** Lines asked for at first per byte of tail budget: assumes lines of ~32 bytes. */
const BYTES_PER_LINE_GUESS = 32;
const MAX_TAIL_TRIES = 4;

export function truncatedMarker(droppedAtLeast: number): string {
  return `\n… [jobwire: log longer than shown; at least ${droppedAtLeast} bytes dropped here] …\n`;
}

export async function readBoundedLog(read: LogReader, maxBytes: number): Promise<CapturedLog> {
  if (maxBytes <= 0) return EMPTY_LOG;
  // One byte more than fits tells "it all fits" from "there is more".
  const first = Buffer.from(await read({ limitBytes: maxBytes + 1 }), 'utf8');
  if (first.length <= maxBytes) return { text: first.toString('utf8'), droppedBytes: 0, totalBytes: first.length };
  const headBudget = Math.floor(maxBytes / 2);
  const tailBudget = maxBytes - headBudget;
  const head = first.subarray(0, completeUtf8Prefix(first.subarray(0, headBudget)));
  const tail = await readTail(read, tailBudget);
  // What is known to exist: the first maxBytes + 1 bytes, or the tail read if that was longer.
  const knownTotal = Math.max(first.length, tail.fetched);
  const dropped = Math.max(0, knownTotal - head.length - tail.bytes.length);
  return {
    text: head.toString('utf8') + truncatedMarker(dropped) + tail.bytes.toString('utf8'),
    droppedBytes: dropped,
    totalBytes: knownTotal,
  };
}

/** The last `budget` bytes (or fewer), cut at a character start. */
async function readTail(read: LogReader, budget: number): Promise<{ bytes: Buffer; fetched: number }> {
  // limitBytes applies to the tail's start, so a tail cut by it would lose the very end: ask for
  // fewer lines until the answer is under the cap.
  const cap = budget * 4;
  let lines = Math.max(1, Math.ceil(budget / BYTES_PER_LINE_GUESS));
  let fetched = Buffer.alloc(0);
  for (let tries = 1; tries <= MAX_TAIL_TRIES; tries++) {
    fetched = Buffer.from(await read({ tailLines: lines, limitBytes: cap }), 'utf8');
    if (fetched.length < cap || lines === 1) break;
    lines = Math.max(1, Math.floor(lines / 8));
  }
  const kept = fetched.length > budget ? fetched.subarray(fetched.length - budget) : fetched;
  const start = fetched.length > budget ? firstCharStart(kept) : 0;
  return { bytes: kept.subarray(start), fetched: fetched.length };
}

/** Puts jobwire's own lines (which pod, why it failed) around a captured log. */
export function framedLog(log: CapturedLog, header: string | undefined, footer: string | undefined): CapturedLog {
  const before = header === undefined ? '' : `[jobwire] ${header}\n`;
  const after = footer === undefined ? '' : `${log.text === '' || log.text.endsWith('\n') ? '' : '\n'}[jobwire] ${footer}\n`;
  if (before === '' && after === '') return log;
  const text = before + log.text + after;
  const added = Buffer.byteLength(text) - Buffer.byteLength(log.text);
  return { text, droppedBytes: log.droppedBytes, totalBytes: log.totalBytes + added };
}
