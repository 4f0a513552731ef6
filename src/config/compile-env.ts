/**
 * A job's `env` map. Message data reaches a job through these values (and files) only, so each
 * form is explicit: a literal, a whole-value `${{ CEL }}` expression, a JSONPath into the body,
 * jobwire's own environment, or a secret reference. Nothing here is ever spliced into a command.
 */
import type { CompileContext } from './compile-context.js';
import { jsonPathProblem } from './jsonpath.js';
import type { ConfigPath } from './positions.js';
import type { RawEnvReference, RawEnvValue } from './schema.js';
import { closestName } from './suggest.js';
import type { EnvEntry, EnvValue } from './types.js';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const RESERVED_PREFIX = 'JOBWIRE_';
const REFERENCE_FORMS = ['jsonpath', 'fromEnv', 'secret'];
/** The whole value is one `${{ ... }}`; surrounding whitespace (from YAML blocks) is allowed. */
const WHOLE_EXPRESSION = /^\s*\$\{\{([\s\S]*)\}\}\s*$/;

/** Compiles the entries that passed the schema check; problems are reported, not returned. */
export function compileEnv(env: Readonly<Record<string, RawEnvValue>>, path: ConfigPath, ctx: CompileContext): EnvEntry[] {
  const entries: EnvEntry[] = [];
  for (const [name, raw] of Object.entries(env)) {
    const at = [...path, name];
    let value: EnvValue | undefined;
    if (!ctx.shape.intact(at)) {
      continue;
    } else if (!ENV_NAME.test(name)) {
      ctx.reportKey(at, `env name "${name}" may only contain letters, digits and "_", and must not start with a digit`);
    } else if (name.startsWith(RESERVED_PREFIX)) {
      ctx.reportKey(at, `env name "${name}" is reserved: jobwire sets the ${RESERVED_PREFIX}* variables itself`);
    } else if (typeof raw === 'string') {
      value = compileText(name, raw, at, ctx);
    } else if (typeof raw === 'number' || typeof raw === 'boolean') {
      value = { kind: 'literal', value: String(raw) };
    } else {
      value = compileReference(name, raw, at, ctx);
    }
    if (value !== undefined) entries.push({ name, value });
  }
  return entries;
}

function compileText(name: string, text: string, at: ConfigPath, ctx: CompileContext): EnvValue | undefined {
  if (!text.includes('${{')) return { kind: 'literal', value: text };
  const whole = WHOLE_EXPRESSION.exec(text);
  const inner = whole?.[1];
  if (inner === undefined || inner.includes('${{')) {
    ctx.report(
      at,
      `env "${name}": \${{ ... }} must be the whole value; build the text inside one expression instead, ` +
        'like ${{ "v" + string(message.body.version) }}',
      text.indexOf('${{'),
    );
    return undefined;
  }
  const source = inner.trim();
  const offset = text.indexOf('${{') + 3 + (inner.length - inner.trimStart().length);
  const result = ctx.cel.compile(source, ctx.locator.inValue(at, offset), 'value');
  if (result.ok) return { kind: 'expression', expression: result.expression };
  ctx.report(at, `env "${name}": ${result.message}`, offset + result.offset);
  return undefined;
}

function compileReference(name: string, raw: RawEnvReference, at: ConfigPath, ctx: CompileContext): EnvValue | undefined {
  const forms = (['jsonpath', 'fromEnv', 'secret'] as const).filter((form) => raw[form] !== undefined);
  // A misspelled form (`jsonPath`) was reported as an unknown key already; don't pile on.
  if (forms.length === 0 && Object.keys(raw).some((key) => closestName(key, REFERENCE_FORMS) !== undefined)) {
    return undefined;
  }
  if (forms.length !== 1) {
    const found = forms.length === 0 ? 'none' : forms.join(' and ');
    ctx.report(at, `env "${name}" needs exactly one of jsonpath, fromEnv or secret (found ${found})`);
    return undefined;
  }
  if (raw.secret !== undefined) {
    if (raw.key !== undefined) return { kind: 'secret', name: raw.secret, key: raw.key };
    ctx.report(at, `env "${name}": a secret reference needs "key" (the entry in secret "${raw.secret}")`);
    return undefined;
  }
  if (raw.key !== undefined) {
    ctx.report([...at, 'key'], `env "${name}": "key" only goes with "secret"`);
    return undefined;
  }
  if (raw.fromEnv !== undefined) return { kind: 'fromEnv', name: raw.fromEnv };
  const property = raw.jsonpath ?? '';
  const problem = jsonPathProblem(property);
  if (problem === undefined) return { kind: 'jsonpath', path: property, position: ctx.locator.value([...at, 'jsonpath']) };
  ctx.report([...at, 'jsonpath'], `env "${name}": ${problem}`);
  return undefined;
}
