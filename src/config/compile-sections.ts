/**
 * The config's top-level sections other than jobs: sources, executors and the global knobs
 * (dispatcher, limits, store), with their defaults. Each function only reads parts the schema
 * check found intact and reports anything else it finds wrong through the context.
 */
import { compileExecutorDefinition } from './compile-executor.js';
import { BUILT_IN_EXECUTOR, BUILT_IN_SOURCES, CHAIN_SOURCE, type CompileContext } from './compile-context.js';
import type { ConfigPath } from './positions.js';
import type { RawConfig } from './schema.js';
import { substituteTree } from './substitute.js';
import type { CompiledConfig, ExecutorDefinition, SourceDefinition, SourcePosition } from './types.js';
import { parseDuration, parseSize } from './units.js';

const NAME_PATTERN = /^[A-Za-z0-9][-A-Za-z0-9_]*$/;
const BUILT_IN_POSITION: SourcePosition = { file: '(built-in)', line: 0, col: 0 };

export function compileSources(raw: RawConfig, ctx: CompileContext): Map<string, SourceDefinition> {
  const sources = new Map<string, SourceDefinition>();
  if (!ctx.shape.present(['sources'])) return sources;
  for (const [name, source] of Object.entries(raw.sources ?? {})) {
    const path = ['sources', name];
    if ((BUILT_IN_SOURCES as readonly string[]).includes(name) || name === CHAIN_SOURCE) {
      ctx.reportKey(path, `source name "${name}" is reserved for the built-in ${name} source; choose another name`);
      continue;
    }
    if (!checkName(ctx, path, 'source', name) || !ctx.shape.intact(path)) continue;
    if (source.url === undefined && source.urls === undefined) {
      ctx.reportKey(path, `source "${name}" needs "url" or "urls"`);
    } else if (source.url !== undefined && source.urls !== undefined) {
      ctx.report([...path, 'urls'], `source "${name}" has both "url" and "urls"; keep one`);
    }
    const { type, ...rest } = source;
    sources.set(name, {
      name,
      type,
      settings: substitutedSettings(rest, path, ctx),
      position: ctx.locator.key(path),
    });
  }
  return sources;
}

/** Configured executors plus the built-in `process` executor, which always exists. */
export function compileExecutors(raw: RawConfig, ctx: CompileContext): Map<string, ExecutorDefinition> {
  const executors = new Map<string, ExecutorDefinition>();
  if (ctx.shape.present(['executors'])) {
    for (const [name, executor] of Object.entries(raw.executors ?? {})) {
      const path = ['executors', name];
      if (!checkName(ctx, path, 'executor', name) || !ctx.shape.intact(path)) continue;
      if (name === BUILT_IN_EXECUTOR && executor.type !== BUILT_IN_EXECUTOR) {
        ctx.report([...path, 'type'], `executor "${name}" is built in and must have type ${BUILT_IN_EXECUTOR}`);
        continue;
      }
      const settings = substitutedSettings(executor, path, ctx);
      executors.set(name, compileExecutorDefinition(name, settings, path, ctx.locator.key(path), ctx));
    }
  }
  if (!executors.has(BUILT_IN_EXECUTOR)) {
    executors.set(BUILT_IN_EXECUTOR, { name: BUILT_IN_EXECUTOR, type: BUILT_IN_EXECUTOR, position: BUILT_IN_POSITION });
  }
  return executors;
}

export function compileDispatcher(raw: RawConfig, ctx: CompileContext): CompiledConfig['dispatcher'] {
  const dispatcher = ctx.shape.intact(['dispatcher']) ? raw.dispatcher : undefined;
  return {
    concurrency: dispatcher?.concurrency ?? 16,
    shutdownGraceMs: parseDuration(dispatcher?.shutdownGrace ?? '30s'),
    onShutdown: dispatcher?.onShutdown ?? 'wait',
    maxQueuedRuns: dispatcher?.maxQueuedRuns ?? 10_000,
  };
}

export function compileLimits(raw: RawConfig, ctx: CompileContext): CompiledConfig['limits'] {
  const limits = ctx.shape.intact(['limits']) ? raw.limits : undefined;
  const size = (key: 'maxMessageSize' | 'maxLogSize' | 'maxOutputSize', fallback = '1MiB'): number => {
    const bytes = parseSize(limits?.[key] ?? fallback);
    if (bytes < 1) ctx.report(['limits', key], `"${key}" must be at least 1 byte`);
    return bytes;
  };
  return {
    maxMessageBytes: size('maxMessageSize'),
    maxLogBytes: size('maxLogSize'),
    maxOutputBytes: size('maxOutputSize', '64KiB'),
    maxChainDepth: limits?.maxChainDepth ?? 16,
  };
}

export function compileStore(raw: RawConfig, ctx: CompileContext): CompiledConfig['store'] {
  const store = ctx.shape.intact(['store']) ? raw.store : undefined;
  return { synchronous: store?.synchronous ?? 'normal' };
}

function checkName(ctx: CompileContext, path: ConfigPath, kind: string, name: string): boolean {
  if (NAME_PATTERN.test(name)) return true;
  ctx.reportKey(path, `${kind} name "${name}" may only contain letters, digits, "-" and "_", starting with a letter or digit`);
  return false;
}

function substitutedSettings(
  settings: Readonly<Record<string, unknown>>,
  path: ConfigPath,
  ctx: CompileContext,
): Record<string, unknown> {
  const report = (at: ConfigPath, offset: number, message: string): void => ctx.report(at, message, offset);
  const result = substituteTree(settings, path, ctx.env, report);
  return typeof result === 'object' && result !== null ? (result as Record<string, unknown>) : {};
}
