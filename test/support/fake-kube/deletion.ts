/**
 * The DELETE verb as the generic registry implements it:
 * - options from the query string and/or a DeleteOptions body (propagationPolicy,
 *   gracePeriodSeconds, preconditions, the deprecated orphanDependents, dryRun);
 * - Orphan and Foreground add the `orphan` / `foregroundDeletion` finalizer and set
 *   deletionTimestamp; the garbage collector finishes the job (garbage-collector.ts);
 * - Pods bound to a node are deleted gracefully: deletionTimestamp = now + grace period, and the
 *   kubelet removes them once their containers are stopped (kubelet.ts);
 * - an object with no finalizers and no grace period goes at once.
 * The reply is what the real server sends: the object while its deletion is pending; once it is
 * gone, the deleted object for Pods and a Success Status (details.kind = plural) for the rest.
 */
import { clone, isRecord, timestamp, type StoredObject } from './model.js';
import type { PropagationPolicy, ResourceDef } from './resources.js';
import { conflict, invalid, notFound } from './status.js';
import type { ObjectStore } from './store.js';

export interface DeleteOptions {
  readonly propagationPolicy?: PropagationPolicy;
  readonly gracePeriodSeconds?: number;
  readonly preconditions?: { readonly uid?: string; readonly resourceVersion?: string };
  readonly orphanDependents?: boolean;
  readonly dryRun?: boolean;
}

export interface DeleteResult {
  readonly status: number;
  readonly body: unknown;
  readonly warnings: readonly string[];
}

const policies: readonly PropagationPolicy[] = ['Foreground', 'Background', 'Orphan'];

export function parseDeleteOptions(resource: ResourceDef, name: string, body: unknown, query: Readonly<Record<string, string>>): DeleteOptions {
  const source: Record<string, unknown> = { ...(isRecord(body) ? body : {}) };
  if (query['propagationPolicy'] !== undefined) source['propagationPolicy'] = query['propagationPolicy'];
  if (query['gracePeriodSeconds'] !== undefined) source['gracePeriodSeconds'] = Number(query['gracePeriodSeconds']);
  if (query['orphanDependents'] !== undefined) source['orphanDependents'] = query['orphanDependents'] === 'true';
  if (query['dryRun'] !== undefined) source['dryRun'] = [query['dryRun']];
  const policy = source['propagationPolicy'];
  if (policy !== undefined && policy !== null && !policies.includes(policy as PropagationPolicy)) {
    throw invalid(resource, name, [
      { reason: 'FieldValueNotSupported', field: 'propagationPolicy', message: `Unsupported value: ${JSON.stringify(policy)}: supported values: "Foreground", "Background", "Orphan"` },
    ]);
  }
  const orphan = source['orphanDependents'];
  if (typeof orphan === 'boolean' && typeof policy === 'string') {
    throw invalid(resource, name, [{ reason: 'FieldValueInvalid', field: 'propagationPolicy', message: `Invalid value: "${policy}": orphanDependents and deletionPropagation cannot be both set` }]);
  }
  const grace = source['gracePeriodSeconds'];
  const preconditions = source['preconditions'];
  const dryRun = source['dryRun'];
  return {
    propagationPolicy: typeof policy === 'string' ? (policy as PropagationPolicy) : undefined,
    gracePeriodSeconds: typeof grace === 'number' && Number.isFinite(grace) ? grace : undefined,
    preconditions: isRecord(preconditions)
      ? {
          uid: typeof preconditions['uid'] === 'string' ? preconditions['uid'] : undefined,
          resourceVersion: typeof preconditions['resourceVersion'] === 'string' ? preconditions['resourceVersion'] : undefined,
        }
      : undefined,
    orphanDependents: typeof orphan === 'boolean' ? orphan : undefined,
    dryRun: Array.isArray(dryRun) && dryRun.includes('All'),
  };
}

export function deleteObject(store: ObjectStore, resource: ResourceDef, namespace: string, name: string, options: DeleteOptions): DeleteResult {
  const current = store.get(resource.plural, namespace, name);
  if (current === undefined) throw notFound(resource, name);
  checkPreconditions(resource, current, options);
  const warnings: string[] = [];
  let policy = options.propagationPolicy;
  if (policy === undefined && options.orphanDependents !== undefined) policy = options.orphanDependents ? 'Orphan' : 'Background';
  if (policy === undefined) {
    policy = resource.defaultPropagation;
    if (resource.defaultPropagationWarning !== undefined) warnings.push(resource.defaultPropagationWarning);
  }

  const next = clone(current);
  const meta = next.metadata;
  const finalizers = new Set(meta.finalizers ?? []);
  if (policy === 'Orphan') finalizers.add('orphan');
  if (policy === 'Foreground') finalizers.add('foregroundDeletion');
  const grace = gracePeriod(resource, current, options);

  if (meta.deletionTimestamp !== undefined) {
    // Already being deleted: a shorter grace period or another policy's finalizer may still apply.
    if (grace < (meta.deletionGracePeriodSeconds ?? 0)) meta.deletionGracePeriodSeconds = grace;
    meta.finalizers = [...finalizers];
    const updated = options.dryRun ? next : store.update(resource.plural, next);
    return { status: 200, body: updated ?? next, warnings };
  }
  if (grace === 0 && finalizers.size === 0) {
    const removed = options.dryRun ? current : store.remove(resource.plural, namespace, name);
    if (removed === undefined) throw notFound(resource, name);
    return { status: 200, body: resource.returnsDeletedObject ? removed : successStatus(resource, removed), warnings };
  }
  meta.deletionTimestamp = timestamp(Date.now() + grace * 1000);
  meta.deletionGracePeriodSeconds = grace;
  if (finalizers.size > 0) meta.finalizers = [...finalizers];
  const updated = options.dryRun ? next : store.update(resource.plural, next);
  return { status: 200, body: updated ?? next, warnings };
}

function gracePeriod(resource: ResourceDef, object: StoredObject, options: DeleteOptions): number {
  if (resource.plural !== 'pods') return 0;
  const spec = isRecord(object['spec']) ? object['spec'] : {};
  const status = isRecord(object['status']) ? object['status'] : {};
  // Pods never bound to a node, or already finished, have nothing to stop: they go at once.
  if (typeof spec['nodeName'] !== 'string' || status['phase'] === 'Succeeded' || status['phase'] === 'Failed') return 0;
  if (options.gracePeriodSeconds !== undefined) return Math.max(0, options.gracePeriodSeconds);
  const fromSpec = spec['terminationGracePeriodSeconds'];
  return typeof fromSpec === 'number' ? fromSpec : 30;
}

function checkPreconditions(resource: ResourceDef, object: StoredObject, options: DeleteOptions): void {
  const wanted = options.preconditions;
  if (wanted === undefined) return;
  if (wanted.uid !== undefined && wanted.uid !== object.metadata.uid) {
    throw conflict(resource, object.metadata.name, `Precondition failed: UID in precondition: ${wanted.uid}, UID in object meta: ${object.metadata.uid}`);
  }
  if (wanted.resourceVersion !== undefined && wanted.resourceVersion !== object.metadata.resourceVersion) {
    throw conflict(
      resource,
      object.metadata.name,
      `Precondition failed: ResourceVersion in precondition: ${wanted.resourceVersion}, ResourceVersion in object meta: ${object.metadata.resourceVersion}`,
    );
  }
}

function successStatus(resource: ResourceDef, removed: StoredObject): unknown {
  const details: Record<string, string> = { name: removed.metadata.name, kind: resource.plural, uid: removed.metadata.uid };
  if (resource.group !== '') details['group'] = resource.group;
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details };
}

