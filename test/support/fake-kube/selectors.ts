/**
 * `labelSelector` and `fieldSelector` query parameters, parsed and matched with the API server's
 * grammar: equality (`a=b`, `a==b`, `a!=b`), existence (`a`, `!a`), sets (`a in (x,y)`,
 * `a notin (x)`) and `a>1` / `a<1` for labels; `=`, `==`, `!=` on a per-resource list of
 * supported fields. A malformed selector is a 400 BadRequest, as on a real cluster.
 */
import type { ResourceDef } from './resources.js';
import { badRequest } from './status.js';
import { isRecord, type StoredObject } from './model.js';
import { labelKeyErrors, labelValueErrors } from './validation.js';

type Operator = '=' | '!=' | 'in' | 'notin' | 'exists' | '!' | '>' | '<';

interface Requirement {
  readonly key: string;
  readonly operator: Operator;
  readonly values: readonly string[];
}

export type Selector = (object: StoredObject) => boolean;

const everything: Selector = () => true;

export function parseLabelSelector(text: string | undefined): Selector {
  if (text === undefined || text.trim() === '') return everything;
  const requirements = splitTopLevel(text).map(parseRequirement);
  return (object) => {
    const labels = object.metadata.labels ?? {};
    return requirements.every((requirement) => matches(requirement, labels));
  };
}

function parseRequirement(raw: string): Requirement {
  const text = raw.trim();
  const fail = (why: string): never => {
    throw badRequest(`unable to parse requirement: ${why}: ${JSON.stringify(text)}`);
  };
  if (text === '') fail('found \'\', expected: !, identifier, or \'end of string\'');
  let requirement: Requirement;
  const set = /^([^\s!=<>(),]+)\s+(in|notin)\s*\(([^()]*)\)$/.exec(text);
  const compare = /^([^\s!=<>(),]+)\s*(==|=|!=|>|<)\s*([^\s!=<>(),]*)$/.exec(text);
  if (set !== null) {
    const values = (set[3] ?? '').split(',').map((value) => value.trim());
    requirement = { key: set[1] ?? '', operator: set[2] === 'in' ? 'in' : 'notin', values: values.length === 1 && values[0] === '' ? [] : values };
    if (requirement.values.length === 0 && requirement.operator === 'in') fail('for \'in\', \'notin\' operators, values set can\'t be empty');
  } else if (compare !== null) {
    const operator = compare[2] === '==' ? '=' : (compare[2] as Operator);
    requirement = { key: compare[1] ?? '', operator, values: [compare[3] ?? ''] };
    if ((operator === '>' || operator === '<') && !/^-?\d+$/.test(compare[3] ?? '')) fail('for \'Gt\', \'Lt\' operators, the value must be an integer');
  } else if (/^![^\s!=<>(),]+$/.test(text)) {
    requirement = { key: text.slice(1), operator: '!', values: [] };
  } else if (/^[^\s!=<>(),]+$/.test(text)) {
    requirement = { key: text, operator: 'exists', values: [] };
  } else {
    return fail('invalid syntax');
  }
  const problems = [...labelKeyErrors(requirement.key), ...requirement.values.flatMap((value) => (requirement.operator === '>' || requirement.operator === '<' ? [] : labelValueErrors(value)))];
  if (problems.length > 0) fail(problems.join('; '));
  return requirement;
}

function matches(requirement: Requirement, labels: Readonly<Record<string, string>>): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, requirement.key);
  const value = labels[requirement.key];
  switch (requirement.operator) {
    case '=':
      return has && value === requirement.values[0];
    case '!=':
      return !has || value !== requirement.values[0];
    case 'in':
      return has && value !== undefined && requirement.values.includes(value);
    case 'notin':
      return !has || value === undefined || !requirement.values.includes(value);
    case 'exists':
      return has;
    case '!':
      return !has;
    case '>':
    case '<': {
      if (!has || value === undefined || !/^-?\d+$/.test(value)) return false;
      const left = Number(value);
      const right = Number(requirement.values[0]);
      return requirement.operator === '>' ? left > right : left < right;
    }
  }
}

/** Splits on commas outside parentheses: `a in (x,y),b` is two requirements. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of text) {
    if (char === '(') depth += 1;
    if (char === ')') depth -= 1;
    if (char === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      current += char;
    }
  }
  parts.push(current);
  return parts;
}

export function parseFieldSelector(text: string | undefined, resource: ResourceDef): Selector {
  if (text === undefined || text.trim() === '') return everything;
  const terms = text.split(',').map((term) => {
    const found = /^\s*([^=!\s]+)\s*(==|=|!=)\s*(.*?)\s*$/.exec(term);
    if (found === null) throw badRequest(`invalid field selector: ${JSON.stringify(term)}: expected key=value, key==value or key!=value`);
    const field = found[1] ?? '';
    if (!resource.fieldSelectors.includes(field)) throw badRequest(`field label not supported: ${field}`);
    return { field, negate: found[2] === '!=', value: found[3] ?? '' };
  });
  return (object) =>
    terms.every((term) => {
      const actual = fieldValue(object, term.field);
      return term.negate ? actual !== term.value : actual === term.value;
    });
}

/** The field's value as the API server's field set renders it (missing → ""). */
function fieldValue(object: StoredObject, field: string): string {
  if (field === 'status.successful') {
    const status = object['status'];
    return isRecord(status) && typeof status['succeeded'] === 'number' ? String(status['succeeded']) : '0';
  }
  if (field === 'source') {
    const source = object['source'];
    return isRecord(source) && typeof source['component'] === 'string' ? source['component'] : '';
  }
  let current: unknown = object;
  for (const part of field.split('.')) current = isRecord(current) ? current[part] : undefined;
  return typeof current === 'string' || typeof current === 'number' || typeof current === 'boolean' ? String(current) : '';
}
