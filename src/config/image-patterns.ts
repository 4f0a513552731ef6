/**
 * Image allow-list patterns of container and kubernetes executors. Image references contain
 * dots and colons (`quay.io/org/app:1.2`), so topic globs do not fit: here `*` matches any run
 * of characters except `/` (one path segment, tag included) and `**` matches anything.
 */
import type { NameMatcher } from './types.js';

export function compileImagePattern(pattern: string): NameMatcher {
  let source = '^';
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i] ?? '';
    if (char === '*' && pattern[i + 1] === '*') {
      source += '.*';
      i++;
    } else if (char === '*') {
      source += '[^/]*';
    } else {
      source += char.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
    }
  }
  const regex = new RegExp(source + '$', 's');
  return { pattern, matches: (image) => regex.test(image) };
}
