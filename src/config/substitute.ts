/**
 * `${VAR}` and `${VAR:-default}` substitution from jobwire's environment, so credentials stay
 * out of the reviewed config file. Applied only to source and executor settings: in jobs a `$`
 * belongs to the job's own shell, and message data must never be spliced into anything.
 * `$${` writes a literal `${`.
 */
import type { ConfigPath } from './positions.js';

export interface SubstitutionProblem {
  /** Where in the string the bad reference starts. */
  readonly offset: number;
  readonly message: string;
}

const REFERENCE = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s;

export function substituteVariables(
  text: string,
  env: NodeJS.ProcessEnv,
): { readonly value: string; readonly problems: readonly SubstitutionProblem[] } {
  const problems: SubstitutionProblem[] = [];
  let value = '';
  let i = 0;
  while (i < text.length) {
    if (text.startsWith('$${', i)) {
      value += '${';
      i += 3;
      continue;
    }
    if (!text.startsWith('${', i)) {
      value += text[i];
      i += 1;
      continue;
    }
    const close = text.indexOf('}', i + 2);
    if (close < 0) {
      problems.push({ offset: i, message: 'unclosed "${" (write $${ for a literal ${)' });
      break;
    }
    const inner = text.slice(i + 2, close);
    const parts = REFERENCE.exec(inner);
    const name = parts?.[1];
    if (name === undefined) {
      problems.push({
        offset: i,
        message: `"\${${inner}}" is not a variable reference like \${NAME} or \${NAME:-default} (write $\${ for a literal \${)`,
      });
    } else {
      const set = env[name];
      const fallback = parts?.[2];
      // Like the shell's `:-`, the default also replaces a variable that is set but empty.
      if (set !== undefined && (set !== '' || fallback === undefined)) value += set;
      else if (fallback !== undefined) value += fallback;
      else problems.push({ offset: i, message: `environment variable ${name} is not set (write \${${name}:-default} to give a default)` });
    }
    i = close + 1;
  }
  return { value, problems };
}

export type SubstitutionReporter = (path: ConfigPath, offset: number, message: string) => void;

/** Substitutes every string inside `value` (maps and lists included), reporting by path. */
export function substituteTree(
  value: unknown,
  path: ConfigPath,
  env: NodeJS.ProcessEnv,
  report: SubstitutionReporter,
): unknown {
  if (typeof value === 'string') {
    const result = substituteVariables(value, env);
    for (const problem of result.problems) report(path, problem.offset, problem.message);
    return result.value;
  }
  if (Array.isArray(value)) return value.map((item, index) => substituteTree(item, [...path, index], env, report));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, substituteTree(item, [...path, key], env, report)]),
    );
  }
  return value;
}
