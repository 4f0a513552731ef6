/**
 * Everything wrong with a config file, reported at once. The message is ready to print (one
 * `FILE:LINE:COL: message` per line, the format editors and CI annotate); `problems` keeps the
 * same facts structured for the API and tests.
 */
import { JobwireError } from '../core/errors.js';

export interface ConfigProblem {
  /** The config path as the caller gave it (usually as the user typed it). */
  readonly file: string;
  /** 1-based; 0 when the problem is about the whole file (e.g. it cannot be read). */
  readonly line: number;
  readonly col: number;
  readonly message: string;
}

export class ConfigError extends JobwireError {
  override readonly name: string = 'ConfigError';
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[], options?: { cause?: unknown }) {
    super(problems.map(formatProblem).join('\n'), options);
    this.problems = problems;
  }
}

export function formatProblem(problem: ConfigProblem): string {
  if (problem.line <= 0) return `${problem.file}: ${problem.message}`;
  return `${problem.file}:${problem.line}:${problem.col}: ${problem.message}`;
}
