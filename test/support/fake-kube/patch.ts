/**
 * PATCH bodies, by Content-Type, as the API server applies them:
 * - application/json-patch+json: RFC 6902 operations (what @kubernetes/client-node sends by default);
 * - application/merge-patch+json: RFC 7386 (objects merge, null deletes, lists are replaced);
 * - application/strategic-merge-patch+json: merge patch, except that the lists Kubernetes marks
 *   with a merge key (ownerReferences by uid, containers/env/volumes by name, ...) merge by key.
 * Server-side apply (application/apply-patch+yaml) is not served: 415, as for any unknown type.
 */
import { clone, isRecord } from './model.js';
import { badRequest, KubeApiError, failureStatus, unsupportedMediaType } from './status.js';

export const patchTypes = ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json'] as const;

export function applyPatch(contentType: string, target: Record<string, unknown>, patch: unknown): Record<string, unknown> {
  const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  let result: unknown;
  if (type === 'application/json-patch+json') result = jsonPatch(target, patch);
  else if (type === 'application/merge-patch+json') result = mergePatch(target, patch, false);
  else if (type === 'application/strategic-merge-patch+json') result = mergePatch(target, patch, true);
  else throw unsupportedMediaType(type, patchTypes);
  if (!isRecord(result)) throw unprocessable('the patch must leave an object');
  return result;
}

function unprocessable(message: string): KubeApiError {
  return new KubeApiError(failureStatus(422, 'Invalid', message));
}

/** patchMergeKey of the list fields jobwire's objects have. */
const mergeKeys: Readonly<Record<string, string>> = {
  ownerReferences: 'uid',
  containers: 'name',
  initContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  conditions: 'type',
  ports: 'containerPort',
};

function mergePatch(target: unknown, patch: unknown, strategic: boolean, field = ''): unknown {
  if (!isRecord(patch)) {
    if (strategic && Array.isArray(patch) && Array.isArray(target) && mergeKeys[field] !== undefined) return mergeList(target, patch, mergeKeys[field]);
    return clone(patch);
  }
  const out: Record<string, unknown> = isRecord(target) ? clone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (strategic && key.startsWith('$')) continue;
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value, strategic, key);
  }
  return out;
}

function mergeList(target: unknown[], patch: unknown[], key: string): unknown[] {
  const out = clone(target);
  for (const item of patch) {
    if (!isRecord(item) || item[key] === undefined) {
      out.push(clone(item));
      continue;
    }
    const index = out.findIndex((existing) => isRecord(existing) && existing[key] === item[key]);
    if (item['$patch'] === 'delete') {
      if (index >= 0) out.splice(index, 1);
    } else if (index >= 0) {
      out[index] = mergePatch(out[index], item, true);
    } else {
      out.push(mergePatch({}, item, true));
    }
  }
  return out;
}

interface Operation {
  readonly op: string;
  readonly path: string;
  readonly from?: string;
  readonly value?: unknown;
}

function jsonPatch(target: Record<string, unknown>, patch: unknown): unknown {
  if (!Array.isArray(patch)) throw badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  let document: unknown = clone(target);
  for (const raw of patch) {
    if (!isRecord(raw) || typeof raw['op'] !== 'string' || typeof raw['path'] !== 'string') throw badRequest('invalid JSON patch operation: missing op or path');
    const operation: Operation = { op: raw['op'], path: raw['path'], from: typeof raw['from'] === 'string' ? raw['from'] : undefined, value: raw['value'] };
    document = applyOperation(document, operation, 'value' in raw);
  }
  return document;
}

function applyOperation(document: unknown, operation: Operation, hasValue: boolean): unknown {
  switch (operation.op) {
    case 'add':
      if (!hasValue) throw unprocessable(`add operation does not apply: doc is missing value`);
      return put(document, pointer(operation.path), clone(operation.value), 'add');
    case 'replace':
      if (!hasValue) throw unprocessable(`replace operation does not apply: doc is missing value`);
      read(document, pointer(operation.path), operation.op);
      return put(document, pointer(operation.path), clone(operation.value), 'replace');
    case 'remove':
      return take(document, pointer(operation.path)).document;
    case 'move': {
      const removed = take(document, pointer(requireFrom(operation)));
      return put(removed.document, pointer(operation.path), removed.value, 'add');
    }
    case 'copy':
      return put(document, pointer(operation.path), clone(read(document, pointer(requireFrom(operation)), 'copy')), 'add');
    case 'test': {
      const actual = read(document, pointer(operation.path), 'test');
      if (JSON.stringify(actual) !== JSON.stringify(operation.value)) throw unprocessable(`testing value ${operation.path} failed: test failed`);
      return document;
    }
    default:
      throw badRequest(`Unexpected kind: ${operation.op}`);
  }
}

function requireFrom(operation: Operation): string {
  if (operation.from === undefined) throw unprocessable(`${operation.op} operation does not apply: doc is missing from path`);
  return operation.from;
}

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw badRequest(`JSON pointer must start with '/': ${JSON.stringify(path)}`);
  return path.slice(1).split('/').map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function read(document: unknown, parts: readonly string[], op: string): unknown {
  let current = document;
  for (const part of parts) {
    if (Array.isArray(current) && /^\d+$/.test(part) && Number(part) < current.length) current = current[Number(part)];
    else if (isRecord(current) && part in current) current = current[part];
    else throw unprocessable(`${op} operation does not apply: doc is missing path: /${parts.join('/')}`);
  }
  return current;
}

function put(document: unknown, parts: readonly string[], value: unknown, op: 'add' | 'replace'): unknown {
  if (parts.length === 0) return value;
  const parent = read(document, parts.slice(0, -1), op);
  const last = parts[parts.length - 1] ?? '';
  if (Array.isArray(parent)) {
    const index = last === '-' ? parent.length : Number(last);
    if (!/^\d+$/.test(last) && last !== '-') throw unprocessable(`${op} operation does not apply: invalid array index ${last}`);
    if (index > parent.length) throw unprocessable(`${op} operation does not apply: index out of bounds: ${index}`);
    if (op === 'add') parent.splice(index, 0, value);
    else parent[index] = value;
  } else if (isRecord(parent)) {
    parent[last] = value;
  } else {
    throw unprocessable(`${op} operation does not apply: doc is missing path: /${parts.join('/')}`);
  }
  return document;
}

function take(document: unknown, parts: readonly string[]): { document: unknown; value: unknown } {
  const value = read(document, parts, 'remove');
  if (parts.length === 0) return { document: null, value };
  const parent = read(document, parts.slice(0, -1), 'remove');
  const last = parts[parts.length - 1] ?? '';
  if (Array.isArray(parent)) parent.splice(Number(last), 1);
  else if (isRecord(parent)) delete parent[last];
  return { document, value };
}
