/**
 * Config file → CompiledConfig, in three passes that all report positioned problems:
 * YAML syntax (stop there: the tree is not trustworthy), schema shape (every error at once),
 * then compilation and cross-checks of every part the schema found intact. Any problem ends in
 * one ConfigError listing all of them in file order.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { LineCounter, parseDocument, type YAMLError } from 'yaml';
import { errorMessage } from '../core/errors.js';
import { BUILT_IN_SOURCES, type CompileContext } from './compile-context.js';
import { checkChainCycles, compileEvents } from './compile-events.js';
import { compileJob, type JobScope } from './compile-job.js';
import { compileDispatcher, compileExecutors, compileLimits, compileSources, compileStore } from './compile-sections.js';
import { ConfigError, type ConfigProblem } from './config-error.js';
import { createExpressionCompiler } from './expressions.js';
import { ConfigLocator } from './positions.js';
import type { RawConfig } from './schema.js';
import { checkShape, type PositionedMessage } from './validate.js';
import type { CompiledConfig, CompiledJob, ExecutorDefinition } from './types.js';

/** Reads and compiles a config file. `file` is kept as given for error messages. */
export async function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Promise<CompiledConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError([{ file, line: 0, col: 0, message: `cannot read the config file: ${errorMessage(error)}` }], {
      cause: error,
    });
  }
  return compileConfig(text, file, env);
}

/**
 * Compiles config text. Reads no config file itself, but checks that the jobs' `files` exist
 * relative to `file`'s folder. Throws ConfigError with every problem found.
 */
export function compileConfig(text: string, file: string, env: NodeJS.ProcessEnv): CompiledConfig {
  const absolute = path.resolve(file);
  const dir = path.dirname(absolute);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, merge: true });
  const locator = new ConfigLocator(doc, lineCounter, text, file);
  if (doc.errors.length > 0) throw toConfigError(syntaxProblems(doc.errors, text, locator));
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw toConfigError([{ position: locator.offsetPosition(0), message: `cannot read the YAML: ${errorMessage(error)}` }]);
  }

  const shape = checkShape(value, locator);
  const problems: PositionedMessage[] = [...shape.problems];
  const ctx: CompileContext = {
    dir,
    env,
    locator,
    cel: createExpressionCompiler(),
    root: value,
    shape,
    report(at, message, offset) {
      problems.push({ position: offset === undefined ? locator.value(at) : locator.inValue(at, offset), message });
    },
    reportKey(at, message) {
      problems.push({ position: locator.key(at), message });
    },
    reportAt(position, message) {
      problems.push({ position, message });
    },
  };
  if (!isRecord(value)) throw toConfigError(problems);

  // The schema check may have failed in places; every read below is gated by `ctx.shape`.
  const raw = value as RawConfig;
  const sources = compileSources(raw, ctx);
  const executors = compileExecutors(raw, ctx);
  const scope: JobScope = {
    sourceNames: [...new Set([...BUILT_IN_SOURCES, ...keysOf(value['sources'])])],
    executorTypes: executorTypes(value['executors'], executors),
    executors,
    sources,
    jobNames: Array.isArray(value['jobs']) ? value['jobs'].flatMap((job: unknown) => (isRecord(job) && typeof job['name'] === 'string' ? [job['name']] : [])) : [],
  };
  const jobs = compileJobs(raw, scope, ctx);
  checkDuplicateNames(value['jobs'], ctx);
  checkChainCycles(jobs, ctx);
  const config: CompiledConfig = {
    file: absolute,
    dir,
    sources,
    executors,
    jobs,
    dispatcher: compileDispatcher(raw, ctx),
    limits: compileLimits(raw, ctx),
    events: compileEvents(raw, sources, jobs.map((job) => job.name), ctx),
    store: compileStore(raw, ctx),
  };
  if (problems.length > 0) throw toConfigError(problems);
  return config;
}

/** After this many lines with syntax errors the parser is usually reporting one mistake again. */
const MAX_SYNTAX_ERROR_LINES = 10;

/**
 * One error per line (the first; the rest of a broken line is mostly its echo), for at most
 * MAX_SYNTAX_ERROR_LINES lines, then a count of what was left out.
 */
function syntaxProblems(errors: readonly YAMLError[], text: string, locator: ConfigLocator): PositionedMessage[] {
  const lines = text.split('\n');
  const problems: PositionedMessage[] = [];
  const seenLines = new Set<number>();
  let omitted = 0;
  for (const error of errors) {
    const position = locator.offsetPosition(error.pos[0]);
    if (seenLines.has(position.line)) continue;
    if (seenLines.size === MAX_SYNTAX_ERROR_LINES) {
      omitted += 1;
      continue;
    }
    seenLines.add(position.line);
    // Unquoted `${VAR}` in a flow map, or `${{ a ? b : c }}`, reads as YAML syntax: say so.
    const hint = (lines[position.line - 1] ?? '').includes('${')
      ? ' (put single quotes around values that contain ${...}: unquoted, YAML reads their braces, ": " and " #")'
      : '';
    problems.push({ position, message: `${error.message}${hint}` });
  }
  if (omitted > 0) {
    const last = problems[problems.length - 1]?.position ?? locator.offsetPosition(0);
    problems.push({
      position: last,
      message: `and ${omitted} more YAML syntax error${omitted === 1 ? '' : 's'} after this, probably caused by the ones above`,
    });
  }
  return problems;
}

/** Jobs that are at least a map are compiled; their rejected fields are skipped inside. */
function compileJobs(raw: RawConfig, scope: JobScope, ctx: CompileContext): CompiledJob[] {
  if (!ctx.shape.present(['jobs'])) return [];
  return raw.jobs.flatMap((job, index) => (ctx.shape.present(['jobs', index]) ? [compileJob(job, index, scope, ctx)] : []));
}

/** Every executor name a job may use; a definition with errors still counts as declared. */
function executorTypes(
  declared: unknown,
  compiled: ReadonlyMap<string, ExecutorDefinition>,
): Map<string, string | undefined> {
  const types = new Map<string, string | undefined>(keysOf(declared).map((name) => [name, undefined]));
  for (const [name, executor] of compiled) types.set(name, executor.type);
  return types;
}

function checkDuplicateNames(jobs: unknown, ctx: CompileContext): void {
  if (!Array.isArray(jobs)) return;
  const first = new Map<string, number>();
  jobs.forEach((job: unknown, index) => {
    const name = isRecord(job) ? job['name'] : undefined;
    if (typeof name !== 'string') return;
    const earlier = first.get(name);
    if (earlier === undefined) {
      first.set(name, index);
      return;
    }
    const at = ctx.locator.value(['jobs', earlier, 'name']);
    ctx.report(['jobs', index, 'name'], `duplicate job name "${name}" (first defined at line ${at.line})`);
  });
}

function toConfigError(messages: readonly PositionedMessage[]): ConfigError {
  const problems: ConfigProblem[] = messages
    .map((m) => ({ file: m.position.file, line: m.position.line, col: m.position.col, message: m.message }))
    .sort((a, b) => a.line - b.line || a.col - b.col);
  return new ConfigError(problems);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function keysOf(value: unknown): string[] {
  return isRecord(value) ? Object.keys(value) : [];
}
