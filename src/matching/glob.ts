/**
 * Topic and CloudEvents-type patterns. Brokers disagree on wildcard syntax (AMQP `#`, NATS `>`,
 * ActiveMQ `>`), so one small dialect covers them all, compiled once at config load so matching
 * a message is a single RegExp test (or a string compare when there is no wildcard).
 *
 * - segments are separated by `.` or `/`
 * - `*` matches any run of characters inside one segment (never a separator)
 * - `**` matches anything, separators included
 * - a trailing `#` or `>` segment matches one or more remaining segments
 */
import type { NameMatcher } from '../config/types.js';

const SEPARATOR = '[./]';
const IN_SEGMENT = '[^./]*';

export function compileNameMatcher(pattern: string): NameMatcher {
  const tail = trailingWildcard(pattern);
  const body = tail === undefined ? pattern : pattern.slice(0, pattern.length - tail.length);
  if (tail === undefined && !body.includes('*')) {
    return { pattern, matches: (value) => value === pattern };
  }
  let source = '^' + translate(body);
  if (tail !== undefined) {
    // `a.>` needs at least one more non-empty segment; a bare `>` needs at least one character.
    source += tail.length === 1 ? '.+' : SEPARATOR + '.+';
  }
  const regex = new RegExp(source + '$', 's');
  return { pattern, matches: (value) => regex.test(value) };
}

/** The `#`/`>` tail including its separator (`.#`, `/>`), or the whole pattern when it is one. */
function trailingWildcard(pattern: string): string | undefined {
  if (pattern === '#' || pattern === '>') return pattern;
  const tail = pattern.slice(-2);
  return /^[./][#>]$/.test(tail) ? tail : undefined;
}

function translate(body: string): string {
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const char = body[i] ?? '';
    if (char !== '*') {
      out += escapeRegExp(char);
    } else if (body[i + 1] === '*') {
      out += '.*';
      while (body[i + 1] === '*') i++;
    } else {
      out += IN_SEGMENT;
    }
  }
  return out;
}

function escapeRegExp(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
}
