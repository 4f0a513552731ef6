/**
 * CEL filters (`if`) and env expressions (`${{ ... }}`), parsed and type-checked once at config
 * load; evaluating one for a message is a single call of the parsed function. CEL cannot run
 * arbitrary code, which is why message data may flow into it.
 */
import { Environment, Optional } from '@marcbachmann/cel-js';
import { JobwireError } from '../core/errors.js';
import type { MessageView } from '../core/message.js';
import type { ChainBindings, CompiledExpression, SourcePosition } from './types.js';

/** Evaluating an expression failed for one message (missing key, bad operand types, ...). */
export class ExpressionError extends JobwireError {
  override readonly name: string = 'ExpressionError';
  constructor(
    readonly expression: string,
    readonly position: SourcePosition,
    cause: unknown,
  ) {
    super(
      `expression "${expression}" (${position.file}:${position.line}:${position.col}) failed: ${firstLine(cause)}`,
      { cause },
    );
  }
}

/** What the expression is used for: a filter must give a boolean, a value may give anything. */
export type ExpressionUse = 'filter' | 'value';

export type ExpressionResult =
  | { readonly ok: true; readonly expression: CompiledExpression }
  /** `offset` is where in the expression text the problem is, when the library says. */
  | { readonly ok: false; readonly message: string; readonly offset: number };

/**
 * Which variables an expression sees: `message` (triggers, env), or — in a job's `then:` — also
 * `run` (the finished run: status, exitCode, output, …) and `item` (the element of `forEach`).
 */
export type ExpressionScope = 'message' | 'chain';

export interface ExpressionCompiler {
  compile(source: string, position: SourcePosition, use: ExpressionUse, scope?: ExpressionScope): ExpressionResult;
}

/** CEL environments per config load: `message` (a MessageView map), plus `run` and `item` in `then:`. */
export function createExpressionCompiler(): ExpressionCompiler {
  const environments: Record<ExpressionScope, Environment> = {
    message: new Environment({ enableOptionalTypes: true }).registerVariable('message', 'map'),
    chain: new Environment({ enableOptionalTypes: true }).registerVariable('message', 'map').registerVariable('run', 'map').registerVariable('item', 'dyn'),
  };
  return {
    compile(source, position, use, scope = 'message') {
      const env = environments[scope];
      let evaluateParsed: ReturnType<Environment['parse']>;
      try {
        evaluateParsed = env.parse(source);
      } catch (error) {
        return { ok: false, message: `CEL syntax error: ${firstLine(error)}`, offset: errorOffset(error) };
      }
      const checked = env.check(source);
      if (!checked.valid) {
        return { ok: false, message: `CEL type error: ${firstLine(checked.error)}`, offset: errorOffset(checked.error) };
      }
      if (use === 'filter' && checked.type !== 'bool' && checked.type !== 'dyn') {
        return {
          ok: false,
          message: `expected a true/false (bool) expression, but this one gives ${checked.type ?? 'an unknown type'}`,
          offset: 0,
        };
      }
      return {
        ok: true,
        expression: {
          source,
          position,
          evaluate(message: MessageView, bindings?: ChainBindings): unknown {
            try {
              return evaluateParsed(bindings === undefined ? { message } : { message, run: bindings.run, item: bindings.item ?? null });
            } catch (error) {
              throw new ExpressionError(source, position, error);
            }
          },
        },
      };
    },
  };
}

/**
 * The text an env var gets from an expression's result: strings as-is, numbers in decimal,
 * `null` as empty, timestamps in ISO 8601, bytes as UTF-8, lists and maps as JSON.
 */
export function celValueToEnvString(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'bigint' || typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return new TextDecoder().decode(value);
  if (value instanceof Optional) return value.hasValue() ? celValueToEnvString(value.value()) : '';
  if (Array.isArray(value) || value instanceof Map || isPlainObject(value)) return toJson(value);
  // uint, duration and type values print themselves (`5`, `5400s`, `Type<int>`).
  return String(value);
}

/** JSON where CEL's bigint integers are written as plain numbers, at full precision. */
function toJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'null';
  if (typeof value === 'string' || typeof value === 'boolean') return JSON.stringify(value);
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (value instanceof Uint8Array) return JSON.stringify(new TextDecoder().decode(value));
  if (value instanceof Optional) return value.hasValue() ? toJson(value.value()) : 'null';
  if (Array.isArray(value)) return `[${value.map(toJson).join(',')}]`;
  const entries = value instanceof Map ? [...value.entries()] : isPlainObject(value) ? Object.entries(value) : undefined;
  if (entries === undefined) return JSON.stringify(String(value));
  return `{${entries.map(([key, item]) => `${JSON.stringify(String(key))}:${toJson(item)}`).join(',')}}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n', 1)[0] ?? text;
}

function errorOffset(error: unknown): number {
  if (typeof error !== 'object' || error === null || !('range' in error)) return 0;
  const range: unknown = error.range;
  if (typeof range !== 'object' || range === null || !('start' in range)) return 0;
  return typeof range.start === 'number' ? range.start : 0;
}
