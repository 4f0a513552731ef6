/**
 * Schema validation of the parsed config with ajv (all errors), turned into messages a person
 * can act on, each at the YAML position of the offending key or value. Raw ajv wording never
 * reaches the user: messages come from the schema's `expect` annotations and the error kind.
 */
import { Ajv, type ErrorObject } from 'ajv';
import { describePath, valueLabel } from './describe.js';
import { pointerToPath, valueAt, type ConfigLocator, type ConfigPath } from './positions.js';
import { ConfigSchema, type RawConfig } from './schema.js';
import { didYouMean, nameList } from './suggest.js';
import type { SourcePosition } from './types.js';

export interface PositionedMessage {
  readonly position: SourcePosition;
  readonly message: string;
}

export interface ShapeCheck {
  readonly problems: readonly PositionedMessage[];
  /**
   * True when the value at `path` exists and conforms to its schema, so it can be compiled.
   * Unknown keys do not count against it: they are reported but do not make the known keys wrong.
   */
  intact(path: ConfigPath): boolean;
  /**
   * True when the value at `path` exists and has the right JSON type, though things inside it
   * may be wrong: a list or map whose good entries can still be compiled one by one.
   */
  present(path: ConfigPath): boolean;
}

type AjvError = ErrorObject<string, Record<string, unknown>, unknown>;

/** Keys people put on a job that belong somewhere else, with where they go. */
const MISPLACED_JOB_KEYS: Readonly<Record<string, string>> = {
  source: '; the source belongs in a trigger: on: [{ source: ... }]',
  topic: '; the topic belongs in a trigger: on: [{ source: ..., topic: ... }]',
  if: '; a filter belongs in a trigger: on: [{ source: ..., if: ... }]',
};

/** Validates `value` against the config schema. A fresh ajv per call keeps no shared state. */
export function checkShape(value: unknown, locator: ConfigLocator): ShapeCheck {
  const ajv = new Ajv({ allErrors: true, verbose: true, strict: true });
  ajv.addKeyword({ keyword: 'expect', schemaType: 'string' });
  const validate = ajv.compile<RawConfig>(ConfigSchema);
  const exists = (path: ConfigPath): boolean => valueAt(value, path) !== undefined;
  if (validate(value)) return { problems: [], intact: exists, present: exists };

  // An `if`/`then` error only says "the branch for this type failed": the branch's own errors say why.
  const errors = pickUnionBranches((validate.errors ?? []).filter((error) => error.keyword !== 'if'));
  const problems = dedupe(errors.map((error) => toMessage(error, value, locator)));
  const structural = errors.filter((error) => error.keyword !== 'additionalProperties');
  // A wrong type at or above a path means the path is not what the schema says it is.
  const wrongType = (pointer: string): boolean =>
    structural.some((error) => {
      const at = error.instancePath;
      const aboutType = error.keyword === 'type' || error.keyword === 'anyOf';
      return aboutType && (at === pointer || pointer.startsWith(at + '/'));
    });
  return {
    problems,
    intact(path) {
      const pointer = toPointer(path);
      const below = structural.some((e) => e.instancePath === pointer || e.instancePath.startsWith(pointer + '/'));
      return exists(path) && !below && !wrongType(pointer);
    },
    present: (path) => exists(path) && !wrongType(toPointer(path)),
  };
}

/**
 * ajv reports every failing branch of an `anyOf`. When exactly one branch accepts the value's
 * JSON type, that is the branch the user meant: keep only its errors. Otherwise keep the single
 * `anyOf` error, whose `expect` lists the accepted forms. Outer unions are resolved first, so
 * errors of discarded branches (nested unions included) disappear with them.
 */
function pickUnionBranches(input: readonly AjvError[]): AjvError[] {
  let errors = [...input];
  const unions = input
    .filter((error) => error.keyword === 'anyOf')
    .sort((a, b) => a.schemaPath.length - b.schemaPath.length);
  for (const union of unions) {
    if (!errors.includes(union)) continue;
    const prefix = union.schemaPath + '/';
    const inside = (error: AjvError): boolean =>
      error.schemaPath.startsWith(prefix) &&
      (error.instancePath === union.instancePath || error.instancePath.startsWith(union.instancePath + '/'));
    const branches = arrayField(union.parentSchema, 'anyOf');
    const fitting = branches.flatMap((branch, index) => (acceptsJsonType(branch, union.data) ? [index] : []));
    if (fitting.length === 1) {
      const kept = `${prefix}${fitting[0]}/`;
      errors = errors.filter((error) => error !== union && (!inside(error) || error.schemaPath.startsWith(kept)));
    } else {
      errors = errors.filter((error) => !inside(error));
    }
  }
  return errors;
}

function toMessage(error: AjvError, root: unknown, locator: ConfigLocator): PositionedMessage {
  const path = pointerToPath(error.instancePath);
  const schema = error.parentSchema;
  const expect = stringField(schema, 'expect');
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String(error.params['additionalProperty']);
      const allowed = keysOf(recordField(schema, 'properties'));
      const where = path.length === 0 ? 'unknown top-level key' : 'unknown key';
      const within = path.length === 0 ? '' : ` in ${describePath(path, root)}`;
      const hint = path[0] === 'jobs' && path.length === 2 ? MISPLACED_JOB_KEYS[key] : undefined;
      return {
        position: locator.key([...path, key]),
        message: `${where} "${key}"${within}${hint ?? didYouMean(key, allowed)} (allowed: ${nameList(allowed)})`,
      };
    }
    case 'required': {
      const key = String(error.params['missingProperty']);
      const hint = stringField(recordField(recordField(schema, 'properties'), key), 'expect');
      return {
        position: locator.value(path),
        message: `${describePath(path, root)} needs "${key}"${hint ? ` (${hint})` : ''}`,
      };
    }
    case 'enum': {
      const allowed = arrayField(error.params, 'allowedValues').map(String);
      const suggestion = typeof error.data === 'string' ? didYouMean(error.data, allowed) : '';
      return {
        position: locator.value(path),
        message: `${valueLabel(path, root)} must be one of ${nameList(allowed)}${suggestion}`,
      };
    }
    default:
      return {
        position: locator.value(path),
        message: `${valueLabel(path, root)} must be ${expect ?? genericExpectation(error)}`,
      };
  }
}

function genericExpectation(error: AjvError): string {
  const limit = error.params['limit'];
  switch (error.keyword) {
    case 'type':
      return typeWords(String(error.params['type']));
    case 'minimum':
      return `at least ${String(limit)}`;
    case 'maximum':
      return `at most ${String(limit)}`;
    case 'minItems':
      return `a list of at least ${String(limit)}`;
    case 'minLength':
      return limit === 1 ? 'a non-empty string' : `at least ${String(limit)} characters long`;
    case 'maxLength':
      return `at most ${String(limit)} characters long`;
    case 'pattern':
      return `text matching ${String(error.params['pattern'])}`;
    default:
      return 'one of the accepted forms';
  }
}

function typeWords(type: string): string {
  const words: Record<string, string> = {
    string: 'a string',
    integer: 'a whole number',
    number: 'a number',
    boolean: 'true or false',
    array: 'a list',
    object: 'a map',
    null: 'empty',
  };
  return words[type] ?? `of type ${type}`;
}

/** Whether a union branch could hold a value of this JSON type (ignoring its other rules). */
function acceptsJsonType(branch: unknown, data: unknown): boolean {
  const declared = recordField(branch, 'type');
  const types = typeof declared === 'string' ? [declared] : Array.isArray(declared) ? declared.map(String) : [];
  if (types.length === 0) return true;
  const actual = jsonType(data);
  const numeric = (type: string): boolean => type === 'integer' || type === 'number';
  return types.some((type) => type === actual || (numeric(type) && numeric(actual)));
}

function jsonType(data: unknown): string {
  if (data === null) return 'null';
  if (Array.isArray(data)) return 'array';
  if (typeof data === 'number') return Number.isInteger(data) ? 'integer' : 'number';
  return typeof data;
}

function dedupe(messages: readonly PositionedMessage[]): PositionedMessage[] {
  const seen = new Set<string>();
  return messages.filter((m) => {
    const key = `${m.position.line}:${m.position.col}:${m.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function toPointer(path: ConfigPath): string {
  return path.map((segment) => '/' + String(segment).replace(/~/g, '~0').replace(/\//g, '~1')).join('');
}

// ajv hands schemas and params over as loosely typed objects; these read one field safely.
function recordField(value: unknown, key: string): unknown {
  if (typeof value !== 'object' || value === null) return {};
  return (value as Record<string, unknown>)[key] ?? {};
}

function keysOf(value: unknown): string[] {
  return typeof value === 'object' && value !== null ? Object.keys(value) : [];
}

function stringField(value: unknown, key: string): string | undefined {
  const field = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
  return typeof field === 'string' ? field : undefined;
}

function arrayField(value: unknown, key: string): unknown[] {
  const field = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
  return Array.isArray(field) ? field : [];
}
