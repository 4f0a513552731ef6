/**
 * What the compile steps share while turning one validated config into its compiled form:
 * where things were written, the CEL environment of this load, and where to report problems.
 * Created per `compileConfig` call, so nothing is shared between loads.
 */
import type { ExpressionCompiler } from './expressions.js';
import type { ConfigLocator, ConfigPath } from './positions.js';
import type { SourcePosition } from './types.js';
import type { ShapeCheck } from './validate.js';

export interface CompileContext {
  /** Absolute folder of the config; relative paths in it resolve here. */
  readonly dir: string;
  /** jobwire's own environment, for `${VAR}` and `fromEnv` checks. */
  readonly env: NodeJS.ProcessEnv;
  readonly locator: ConfigLocator;
  readonly cel: ExpressionCompiler;
  /** The parsed config value, for naming places in messages (`job "build"`). */
  readonly root: unknown;
  /** Which parts passed the schema check; only those are read as their schema types. */
  readonly shape: Pick<ShapeCheck, 'intact' | 'present'>;
  /** Reports a problem at the value at `path` (or at character `offset` of that string). */
  report(path: ConfigPath, message: string, offset?: number): void;
  /** Reports a problem at the key naming the entry at `path` (names, unknown keys). */
  reportKey(path: ConfigPath, message: string): void;
  /** Reports a problem at a position found earlier (a compiled node's). */
  reportAt(position: SourcePosition, message: string): void;
}

/** Built-in names: the HTTP API and the scheduler are always there and cannot be configured. */
export const BUILT_IN_SOURCES = ['http', 'cron'] as const;
/** The source name of messages jobwire makes itself for `then: run` (reserved, never a trigger). */
export const CHAIN_SOURCE = 'chain';
export const BUILT_IN_EXECUTOR = 'process';
