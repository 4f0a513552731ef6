/**
 * The compiled, typed form of a config file. YAML is parsed and validated once by
 * `loadConfig`; everything downstream (matcher, dispatcher, executors, API) reads only these
 * types, so hot paths never re-parse or re-validate.
 */
import type { MessageView } from '../core/message.js';

/** Where a config node was written, for `FILE:LINE:COL` messages. */
export interface SourcePosition {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

/** A compiled CEL expression. Throws ExpressionError when evaluation fails for a message. */
export interface CompiledExpression {
  readonly source: string;
  readonly position: SourcePosition;
  evaluate(message: MessageView): unknown;
}

/** Matches a topic or CloudEvents type: exact, or a glob (`*` one segment, `**`/`#`/`>` the rest). */
export interface NameMatcher {
  readonly pattern: string;
  matches(value: string): boolean;
}

export interface CompiledJsonPathMatch {
  /** JSONPath rooted at the message body, e.g. `$.data.test.teststrategy`. */
  readonly property: string;
  /** The value (as text) at least one match must equal. */
  readonly match: string;
}

export interface CompiledTrigger {
  /** `http`, `cron`, or a configured source's name. */
  readonly source: string;
  readonly topic?: NameMatcher;
  readonly type?: NameMatcher;
  readonly filter?: CompiledExpression;
  readonly jsonpath?: CompiledJsonPathMatch;
  /** Cron expression; set exactly when `source` is `cron`. */
  readonly schedule?: string;
  readonly position: SourcePosition;
}

export type EnvValue =
  | { readonly kind: 'literal'; readonly value: string }
  | { readonly kind: 'expression'; readonly expression: CompiledExpression }
  | { readonly kind: 'jsonpath'; readonly path: string; readonly position: SourcePosition }
  | { readonly kind: 'fromEnv'; readonly name: string }
  /** A Kubernetes secret reference; only executors that know secrets can resolve it. */
  | { readonly kind: 'secret'; readonly name: string; readonly key: string };

export interface EnvEntry {
  readonly name: string;
  readonly value: EnvValue;
}

export interface ConfigFile {
  /** Path relative to the config folder, kept in the run's working directory. */
  readonly path: string;
  /** Absolute path on disk. */
  readonly absolutePath: string;
}

export interface RetryPolicy {
  /** Retries after the first attempt (0 = run once). */
  readonly limit: number;
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
}

export interface CompiledJob {
  readonly name: string;
  readonly triggers: readonly CompiledTrigger[];
  readonly executor: string;
  /** argv of the attempt: `command` + `args`, or `["bash", "-c", script]`. */
  readonly argv: readonly string[];
  readonly image?: string;
  readonly env: readonly EnvEntry[];
  readonly files: readonly ConfigFile[];
  /** Absolute; undefined means a fresh folder per run. */
  readonly workingDir?: string;
  readonly timeoutMs?: number;
  readonly retries: RetryPolicy;
  /** Maximum simultaneous runs of this job; undefined = only the global limit. */
  readonly concurrency?: number;
  /** Higher runs first. */
  readonly priority: number;
  readonly description?: string;
  readonly position: SourcePosition;
}

export interface SourceDefinition {
  readonly name: string;
  readonly type: string;
  /** Type-specific settings with `${VAR}` already substituted. */
  readonly settings: Readonly<Record<string, unknown>>;
  readonly position: SourcePosition;
}

export interface ExecutorDefinition {
  readonly name: string;
  readonly type: string;
  readonly settings: Readonly<Record<string, unknown>>;
  readonly position: SourcePosition;
}

export interface CompiledConfig {
  /** Absolute path of the config file and its folder (relative paths resolve against it). */
  readonly file: string;
  readonly dir: string;
  readonly sources: ReadonlyMap<string, SourceDefinition>;
  readonly executors: ReadonlyMap<string, ExecutorDefinition>;
  readonly jobs: readonly CompiledJob[];
  readonly dispatcher: {
    /** Global limit on simultaneous runs. */
    readonly concurrency: number;
    /** How long SIGTERM waits for running attempts before stopping them. */
    readonly shutdownGraceMs: number;
    /** Broker sources stop taking messages while this many runs wait: the broker keeps the rest. */
    readonly maxQueuedRuns: number;
  };
  readonly limits: {
    /** Largest accepted message body. */
    readonly maxMessageBytes: number;
    /** Captured output kept per attempt (head + tail). */
    readonly maxLogBytes: number;
  };
  readonly store: {
    /** `normal` survives a jobwire crash; `full` also survives power loss (slower). */
    readonly synchronous: 'normal' | 'full';
  };
}
