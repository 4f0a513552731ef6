/**
 * The REST verbs on a resource, with the API server's answers:
 * - list: labelSelector, fieldSelector, limit/continue; a `{Kind}List` whose metadata carries the
 *   current resourceVersion, items without kind/apiVersion (as real list responses have them);
 * - watch: `watch=true|1` on a list path (or the /watch/ prefix) → watch.ts;
 * - get (404 NotFound Status), pods/log → pod-logs.ts;
 * - create (POST): defaults, validation (422 Invalid), generateName, 201 with the stored object,
 *   409 AlreadyExists; dryRun=All stores nothing;
 * - update (PUT) and patch (PATCH, by Content-Type → patch.ts): resourceVersion precondition
 *   (409 Conflict), immutable fields (422), status kept for resources whose status is a
 *   subresource, generation bumped when a Job's spec changes;
 * - delete → deletion.ts, with the API server's Warning header where it sends one.
 */
import { isDeepStrictEqual } from 'node:util';
import { prepareForCreate } from './defaults.js';
import { deleteObject, parseDeleteOptions } from './deletion.js';
import { json, type ApiRequest, type Reply } from './http.js';
import type { Kubelet } from './kubelet.js';
import { clone, isRecord, keyOf, nameSuffix, type StoredObject } from './model.js';
import { applyPatch, patchTypes } from './patch.js';
import { podLog } from './pod-logs.js';
import type { ResourceDef } from './resources.js';
import type { Route } from './router.js';
import { parseFieldSelector, parseLabelSelector } from './selectors.js';
import { alreadyExists, badRequest, conflict, invalid, methodNotAllowed, notFound, unsupportedMediaType } from './status.js';
import { AlreadyExistsInStore, type DraftObject, type ObjectStore } from './store.js';
import { validateObject, validateUpdate } from './validation.js';
import type { WatchHub } from './watch.js';

type ResourceRoute = Extract<Route, { kind: 'resource' }>;

export class ResourceApi {
  constructor(
    private readonly store: ObjectStore,
    private readonly kubelet: Kubelet,
    private readonly watches: WatchHub,
  ) {}

  handle(target: ResourceRoute, request: ApiRequest): Reply {
    const { resource, namespace, name, subresource } = target;
    const method = request.method.toUpperCase();
    if (name === undefined) {
      if (method === 'GET') return isWatch(request.query) || target.watchPrefix ? this.watch(target, request.query) : this.list(resource, namespace, request.query);
      if (method === 'POST' && namespace !== undefined) return this.create(resource, namespace, request);
      if (method === 'DELETE' && namespace !== undefined) return this.deleteCollection(resource, namespace, request);
      throw methodNotAllowed();
    }
    if (namespace === undefined) throw methodNotAllowed();
    if (subresource === 'log' && resource.plural === 'pods' && method === 'GET') return podLog(this.store, this.kubelet, namespace, name, request.query);
    if (subresource !== undefined && subresource !== 'status') throw notFound(resource, name);
    // Status writes belong to the controllers here: the status subresource is read-only.
    if (subresource === 'status' && method !== 'GET') throw methodNotAllowed();
    if (method === 'GET' && (target.watchPrefix || isWatch(request.query))) {
      return this.watch({ ...target, name: undefined }, { ...request.query, fieldSelector: joinSelectors(`metadata.name=${name}`, request.query['fieldSelector']) });
    }
    switch (method) {
      case 'GET':
        return json(200, this.get(resource, namespace, name));
      case 'PUT':
        return this.replace(resource, namespace, name, request);
      case 'PATCH':
        return this.patch(resource, namespace, name, request);
      case 'DELETE': {
        const result = deleteObject(this.store, resource, namespace, name, parseDeleteOptions(resource, name, request.body, request.query));
        return json(result.status, result.body, result.warnings.length > 0 ? { Warning: result.warnings.join(', ') } : undefined);
      }
      default:
        throw methodNotAllowed();
    }
  }

  private get(resource: ResourceDef, namespace: string, name: string): StoredObject {
    const found = this.store.get(resource.plural, namespace, name);
    if (found === undefined) throw notFound(resource, name);
    return found;
  }

  private watch(target: ResourceRoute, query: Readonly<Record<string, string>>): Reply {
    const timeout = query['timeoutSeconds'] === undefined ? undefined : Number(query['timeoutSeconds']);
    return this.watches.reply({
      resource: target.resource,
      namespace: target.namespace,
      labelSelector: parseLabelSelector(query['labelSelector']),
      fieldSelector: parseFieldSelector(query['fieldSelector'], target.resource),
      resourceVersion: query['resourceVersion'],
      timeoutSeconds: timeout !== undefined && Number.isFinite(timeout) ? timeout : undefined,
      allowBookmarks: query['allowWatchBookmarks'] === 'true',
      sendInitialEvents: query['sendInitialEvents'] === 'true',
    });
  }

  private list(resource: ResourceDef, namespace: string | undefined, query: Readonly<Record<string, string>>): Reply {
    const labels = parseLabelSelector(query['labelSelector']);
    const fields = parseFieldSelector(query['fieldSelector'], resource);
    const token = query['continue'];
    let listVersion = this.store.resourceVersion;
    let after: string | undefined;
    if (token !== undefined && token !== '') {
      const position = decodeContinue(token);
      listVersion = position.resourceVersion;
      after = position.after;
    }
    let items = this.store.list(resource.plural, namespace, (object) => (after === undefined || keyOf(object.metadata.namespace, object.metadata.name) > after) && labels(object) && fields(object));
    const limit = query['limit'] === undefined ? 0 : Number(query['limit']);
    const metadata: Record<string, unknown> = { resourceVersion: listVersion };
    if (Number.isInteger(limit) && limit > 0 && items.length > limit) {
      const last = items[limit - 1];
      metadata['continue'] = encodeContinue(listVersion, last === undefined ? '' : keyOf(last.metadata.namespace, last.metadata.name));
      metadata['remainingItemCount'] = items.length - limit;
      items = items.slice(0, limit);
    }
    const stripped = items.map((object) => {
      const { apiVersion: _apiVersion, kind: _kind, ...rest } = object;
      return rest;
    });
    return json(200, { kind: resource.listKind, apiVersion: resource.apiVersion, metadata, items: stripped });
  }

  private create(resource: ResourceDef, namespace: string, request: ApiRequest): Reply {
    const body = request.body;
    if (!isRecord(body)) throw badRequest(`the body of the request was in an unknown format - accepted media types include: application/json`);
    if (typeof body['kind'] === 'string' && body['kind'] !== resource.kind) {
      throw badRequest(`${body['kind']} in version "${String(body['apiVersion'] ?? '')}" cannot be handled as a ${resource.kind}: the object provided is unrecognized`);
    }
    const metadata = isRecord(body['metadata']) ? clone(body['metadata']) : {};
    if (typeof metadata['namespace'] === 'string' && metadata['namespace'] !== '' && metadata['namespace'] !== namespace) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    const generateName = typeof metadata['generateName'] === 'string' ? metadata['generateName'] : '';
    let name = typeof metadata['name'] === 'string' ? metadata['name'] : '';
    if (name === '' && generateName !== '') name = `${generateName}${nameSuffix()}`;
    const draft = prepareForCreate(resource, { ...body, apiVersion: resource.apiVersion, kind: resource.kind, metadata: { ...metadata, name, namespace } } as DraftObject);
    const causes = validateObject(resource, draft as StoredObject);
    if (causes.length > 0) throw invalid(resource, name, causes);
    if (isDryRun(request.query)) return json(201, draft);
    try {
      return json(201, this.store.create(resource.plural, draft));
    } catch (error) {
      if (error instanceof AlreadyExistsInStore) throw alreadyExists(resource, name);
      throw error;
    }
  }

  private replace(resource: ResourceDef, namespace: string, name: string, request: ApiRequest): Reply {
    const current = this.get(resource, namespace, name);
    const body = request.body;
    if (!isRecord(body) || !isRecord(body['metadata'])) throw badRequest('the body of the request was in an unknown format - accepted media types include: application/json');
    const bodyName = body['metadata']['name'];
    if (bodyName !== name) throw badRequest(`the name of the object (${String(bodyName)}) does not match the name on the URL (${name})`);
    return this.finishUpdate(resource, current, { ...body, apiVersion: resource.apiVersion, kind: resource.kind } as StoredObject, request);
  }

  private patch(resource: ResourceDef, namespace: string, name: string, request: ApiRequest): Reply {
    const current = this.get(resource, namespace, name);
    if (!patchTypes.some((type) => request.contentType.startsWith(type))) throw unsupportedMediaType(request.contentType, patchTypes);
    if (request.body === undefined) throw badRequest(`error decoding patch: ${request.text === '' ? 'empty body' : 'invalid JSON'}`);
    const patched = applyPatch(request.contentType, current, request.body);
    if (!isRecord(patched['metadata'])) throw badRequest('metadata must be an object');
    return this.finishUpdate(resource, current, { ...patched, apiVersion: resource.apiVersion, kind: resource.kind } as StoredObject, request);
  }

  private finishUpdate(resource: ResourceDef, current: StoredObject, next: StoredObject, request: ApiRequest): Reply {
    const name = current.metadata.name;
    const wanted = next.metadata.resourceVersion;
    if (wanted !== undefined && wanted !== '' && wanted !== current.metadata.resourceVersion) {
      throw conflict(resource, name, 'the object has been modified; please apply your changes to the latest version and try again');
    }
    if (next.metadata.name !== name) throw invalid(resource, name, [{ reason: 'FieldValueInvalid', field: 'metadata.name', message: `Invalid value: ${JSON.stringify(next.metadata.name)}: field is immutable` }]);
    const meta = next.metadata;
    const kept = current.metadata;
    meta.namespace = kept.namespace;
    meta.uid = kept.uid;
    meta.creationTimestamp = kept.creationTimestamp;
    meta.resourceVersion = kept.resourceVersion;
    for (const field of ['deletionTimestamp', 'deletionGracePeriodSeconds', 'generation'] as const) {
      if (kept[field] === undefined) delete meta[field];
      else Object.assign(meta, { [field]: kept[field] });
    }
    if (resource.hasStatus) next['status'] = current['status'];
    if (resource.hasGeneration && !isDeepStrictEqual(next['spec'], current['spec'])) meta.generation = (kept.generation ?? 1) + 1;
    const causes = validateUpdate(resource, current, next);
    if (causes.length > 0) throw invalid(resource, name, causes);
    if (isDryRun(request.query)) return json(200, next);
    const updated = this.store.update(resource.plural, next);
    if (updated === undefined) throw notFound(resource, name);
    return json(200, updated);
  }

  /** DELETE on a collection: every matching object, as separate deletes; answers the deleted list. */
  private deleteCollection(resource: ResourceDef, namespace: string, request: ApiRequest): Reply {
    const labels = parseLabelSelector(request.query['labelSelector']);
    const fields = parseFieldSelector(request.query['fieldSelector'], resource);
    const items: unknown[] = [];
    for (const object of this.store.list(resource.plural, namespace)) {
      if (!labels(object) || !fields(object)) continue;
      const options = parseDeleteOptions(resource, object.metadata.name, request.body, request.query);
      items.push(deleteObject(this.store, resource, namespace, object.metadata.name, options).body);
    }
    return json(200, { kind: resource.listKind, apiVersion: resource.apiVersion, metadata: { resourceVersion: this.store.resourceVersion }, items });
  }
}

function isWatch(query: Readonly<Record<string, string>>): boolean {
  return query['watch'] === 'true' || query['watch'] === '1';
}

function isDryRun(query: Readonly<Record<string, string>>): boolean {
  return query['dryRun'] === 'All';
}

function joinSelectors(first: string, second: string | undefined): string {
  return second === undefined || second === '' ? first : `${first},${second}`;
}

function encodeContinue(resourceVersion: string, after: string): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: Number(resourceVersion), start: after })).toString('base64url');
}

function decodeContinue(token: string): { resourceVersion: string; after: string } {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (isRecord(parsed) && typeof parsed['rv'] === 'number' && typeof parsed['start'] === 'string') return { resourceVersion: String(parsed['rv']), after: parsed['start'] };
  } catch {
    // falls through to the error below
  }
  throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
}
