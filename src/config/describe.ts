/**
 * Names places in a config the way a user thinks of them ("trigger 2 of job "build"", not
 * `/jobs/0/on/1`), for error messages. Jobs are named by their `name` when it is a string.
 */
import { valueAt, type ConfigPath } from './positions.js';

export function jobLabel(name: unknown, index: number): string {
  return typeof name === 'string' && name !== '' ? `job "${name}"` : `job ${index + 1}`;
}

export function stepLabel(name: unknown, index: number): string {
  return typeof name === 'string' && name !== '' ? `step "${name}"` : `step ${index + 1}`;
}

/** The entity at `path` with the keys below it, e.g. `"tls" of source "umb"`, `the config`. */
export function describePath(path: ConfigPath, root: unknown): string {
  const { entity, rest } = entityOf(path, root);
  if (rest.length === 0) return entity;
  return `${quotedKey(rest)} of ${entity}`;
}

/** Short name for a value in "... must be ..." messages: `"timeout"`, `"args[1]"`, `env "A"`. */
export function valueLabel(path: ConfigPath, root: unknown): string {
  const { entity, rest } = entityOf(path, root);
  return rest.length === 0 ? entity : quotedKey(rest);
}

interface Split {
  readonly entity: string;
  readonly rest: ConfigPath;
}

function entityOf(path: ConfigPath, root: unknown): Split {
  const [section, name, ...rest] = path;
  if (section === undefined) return { entity: 'the config', rest: [] };
  if (name === undefined) return { entity: `"${String(section)}"`, rest: [] };
  if (section === 'sources') return { entity: `source "${String(name)}"`, rest };
  if (section === 'executors') return { entity: `executor "${String(name)}"`, rest };
  if (section === 'jobs') {
    const index = Number(name);
    const job = jobLabel(valueAt(root, ['jobs', index, 'name']), index);
    const [field, item, ...below] = rest;
    if (field === 'on' && item !== undefined) return { entity: `trigger ${Number(item) + 1} of ${job}`, rest: below };
    if (field === 'env' && item !== undefined) return { entity: `env "${String(item)}" of ${job}`, rest: below };
    if (field === 'steps' && item !== undefined) return { entity: `${stepLabel(valueAt(root, ['jobs', index, 'steps', item, 'name']), Number(item))} of ${job}`, rest: below };
    return { entity: job, rest };
  }
  return { entity: `"${String(section)}"`, rest: [name, ...rest] };
}

/** `timeout`, `args[1]`, `tls.ca` — the path below an entity as the user would write it. */
function quotedKey(rest: ConfigPath): string {
  let text = '';
  for (const segment of rest) {
    if (typeof segment === 'number' || /^[0-9]+$/.test(segment)) text += `[${segment}]`;
    else text += text === '' ? segment : `.${segment}`;
  }
  return `"${text}"`;
}
