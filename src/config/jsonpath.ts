/**
 * Load-time check of JSONPath expressions (`$.data.test.teststrategy`). jsonpath-plus parses
 * leniently and silently ignores much malformed input, so structure is checked here first and
 * filter expressions are compiled by jsonpath-plus's safe evaluator.
 */
import { JSONPath } from 'jsonpath-plus';

/** Returns what is wrong with `path`, or undefined when it is usable. */
export function jsonPathProblem(path: string): string | undefined {
  if (!path.startsWith('$')) return `JSONPath "${path}" must start with "$" (the message body), like $.data.x`;
  const unbalanced = bracketProblem(path);
  if (unbalanced !== undefined) return `JSONPath "${path}" is malformed: ${unbalanced}`;
  let segments: string[];
  try {
    segments = JSONPath.toPathArray(path);
  } catch (error) {
    return `JSONPath "${path}" is malformed: ${error instanceof Error ? error.message : String(error)}`;
  }
  for (const segment of segments) {
    if (!/^\?\(.*\)$/s.test(segment) && !/^\(.*\)$/s.test(segment)) continue;
    const problem = filterProblem(segment);
    if (problem !== undefined) return `JSONPath "${path}" has a bad filter ${segment}: ${problem}`;
  }
  return undefined;
}

/** Brackets, parentheses and quotes must pair up; jsonpath-plus would drop the rest silently. */
function bracketProblem(path: string): string | undefined {
  const closing: Record<string, string> = { '[': ']', '(': ')' };
  const stack: string[] = [];
  let quote: string | undefined;
  for (const char of path) {
    if (quote !== undefined) {
      if (char === quote) quote = undefined;
    } else if (char === "'" || char === '"') {
      quote = char;
    } else if (char === '[' || char === '(') {
      stack.push(closing[char] ?? '');
    } else if (char === ']' || char === ')') {
      if (stack.pop() !== char) return `unexpected "${char}"`;
    }
  }
  if (quote !== undefined) return `unclosed ${quote}`;
  const missing = stack.pop();
  return missing === undefined ? undefined : `missing "${missing}"`;
}

/**
 * Runs the filter once over a one-element probe document. Syntax errors surface as plain
 * errors; failures while evaluating against the empty probe ("jsonPath: Cannot read ...") are
 * expected for paths into real data and are not problems.
 */
function filterProblem(segment: string): string | undefined {
  try {
    JSONPath({ path: `$[${segment}]`, json: [{}], eval: 'safe', wrap: true });
    return undefined;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return message.startsWith('jsonPath:') ? undefined : message;
  }
}
