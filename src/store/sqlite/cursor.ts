/**
 * The opaque listRuns cursor: base64url of the last returned run's seq.
 *
 * Opaque so that callers cannot depend on its content (a PostgreSQL store may encode something
 * else); strict on decode so that a mangled or hand-written cursor is the caller's error
 * (InvalidInputError → 400) rather than a silently wrong page.
 */
import { InvalidInputError } from '../../core/errors.js';

export function encodeCursor(seq: number): string {
  return Buffer.from(String(seq), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  // Round-trip check: Node's base64url decoder skips invalid characters instead of failing.
  if (!/^[1-9][0-9]{0,15}$/.test(text) || encodeCursor(Number(text)) !== cursor) {
    throw new InvalidInputError(`invalid cursor ${JSON.stringify(cursor)}: pass nextCursor from a previous page`);
  }
  const seq = Number(text);
  if (!Number.isSafeInteger(seq)) throw new InvalidInputError(`invalid cursor ${JSON.stringify(cursor)}`);
  return seq;
}
