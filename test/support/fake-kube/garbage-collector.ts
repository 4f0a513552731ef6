/**
 * The garbage collector, as kube-controller-manager runs it, reduced to what a Job's dependents
 * need. A short moment (gcDelayMs) after a change that may concern it, it sweeps:
 * - owners being deleted with the `orphan` finalizer: drop their ownerReferences from dependents,
 *   then the finalizer (the owner then goes);
 * - owners with `foregroundDeletion`: delete the dependents, and drop the finalizer once none is left;
 * - dependents all of whose owners are absent (no object with that uid and name), e.g. after a
 *   Background delete: delete them (Pods gracefully, through the kubelet).
 * An ownerReference to an owner that never existed counts as absent, as on a real cluster.
 *
 * Like the real one it works from the change stream, not by rescanning the store: each change
 * marks the few objects it may concern (the object itself, the owners it names or stops naming,
 * the dependents of an object that went), and a sweep looks at those alone, through the store's
 * owner index.
 */
import { deleteObject } from './deletion.js';
import { isDeleting, type StoredObject } from './model.js';
import { ownerUids } from './owner-index.js';
import { resourceByPlural } from './resources.js';
import type { ObjectStore, StoreEvent } from './store.js';
import type { Timers } from './timers.js';

export class GarbageCollector {
  private scheduled = false;
  private unsubscribe: (() => void) | undefined;
  /** Uids of possible owners to look at: deleting with a GC finalizer, or whose dependents changed. */
  private owners = new Set<string>();
  /** Uids of possible dependents whose owners may all be absent. */
  private orphans = new Set<string>();

  constructor(
    private readonly store: ObjectStore,
    private readonly timers: Timers,
    private readonly delayMs: number,
  ) {}

  start(): void {
    this.unsubscribe = this.store.subscribe((event) => this.observe(event));
  }

  stop(): void {
    this.unsubscribe?.();
  }

  private observe(event: StoreEvent): void {
    const { object, previous } = event;
    const uid = object.metadata.uid;
    const gone = event.type === 'DELETED';
    const before = ownerUids(previous);
    const after = gone ? [] : ownerUids(object);
    // An owner set for orphaning or foreground deletion.
    if (!gone && isDeleting(object) && hasGcFinalizer(object)) this.owners.add(uid);
    // An owner gained or lost a dependent: a foreground owner may be done waiting.
    for (const owner of before) if (!after.includes(owner)) this.owners.add(owner);
    for (const owner of after) if (!before.includes(owner)) this.owners.add(owner);
    // A new dependent, or one whose ownerReferences changed, may have no owner present.
    if (!gone && after.length > 0 && !isDeleting(object) && (previous === undefined || refKeys(previous) !== refKeys(object))) this.orphans.add(uid);
    // An owner went: its dependents may be garbage now.
    if (gone) for (const dependent of this.store.dependentUids(uid)) this.orphans.add(dependent);
    if (this.owners.size > 0 || this.orphans.size > 0) this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.timers.after(this.delayMs, () => {
      this.scheduled = false;
      this.sweep();
    });
  }

  private sweep(): void {
    const owners = this.owners;
    this.owners = new Set();
    for (const uid of owners) this.handleOwner(uid);
    // After the owners, as the changes they made (orphaned dependents) count.
    const orphans = this.orphans;
    this.orphans = new Set();
    for (const uid of orphans) this.handleDependent(uid);
  }

  private handleOwner(uid: string): void {
    if (this.store.inspect(uid, (object) => isDeleting(object) && hasGcFinalizer(object)) !== true) return;
    const found = this.store.findByUid(uid);
    if (found === undefined) return;
    const { resource, object } = found;
    const finalizers = object.metadata.finalizers ?? [];
    if (finalizers.includes('orphan')) {
      for (const dependent of this.store.dependents(uid)) {
        const next = dependent.object;
        const refs = (next.metadata.ownerReferences ?? []).filter((ref) => ref.uid !== uid);
        if (refs.length > 0) next.metadata.ownerReferences = refs;
        else delete next.metadata.ownerReferences;
        this.store.update(dependent.resource, next);
      }
      this.dropFinalizer(resource, object, 'orphan');
    } else if (finalizers.includes('foregroundDeletion')) {
      const dependents = this.store.dependents(uid);
      for (const dependent of dependents) {
        const meta = dependent.object.metadata;
        if (!isDeleting(dependent.object)) this.deleteDependent(dependent.resource, meta.namespace, meta.name);
      }
      if (dependents.length === 0) this.dropFinalizer(resource, object, 'foregroundDeletion');
    }
  }

  private handleDependent(uid: string): void {
    const garbage = this.store.inspect(uid, (object, resource) => {
      const refs = object.metadata.ownerReferences ?? [];
      const absent = refs.length > 0 && !isDeleting(object) && refs.every((ref) => !this.store.exists(ref.uid, ref.name));
      return absent ? { resource, namespace: object.metadata.namespace, name: object.metadata.name } : undefined;
    });
    if (garbage !== undefined) this.deleteDependent(garbage.resource, garbage.namespace, garbage.name);
  }

  private deleteDependent(resource: string, namespace: string, name: string): void {
    try {
      deleteObject(this.store, resourceByPlural(resource), namespace, name, { propagationPolicy: 'Background' });
    } catch {
      // Gone in the meantime: nothing left to collect.
    }
  }

  private dropFinalizer(resource: string, object: StoredObject, finalizer: string): void {
    const current = this.store.get(resource, object.metadata.namespace, object.metadata.name);
    if (current === undefined) return;
    const rest = (current.metadata.finalizers ?? []).filter((entry) => entry !== finalizer);
    if (rest.length > 0) current.metadata.finalizers = rest;
    else delete current.metadata.finalizers;
    this.store.update(resource, current);
  }
}

function hasGcFinalizer(object: StoredObject): boolean {
  const finalizers = object.metadata.finalizers ?? [];
  return finalizers.includes('orphan') || finalizers.includes('foregroundDeletion');
}

/** An object's ownerReferences as the collector compares them (the owner's uid and name). */
function refKeys(object: StoredObject): string {
  return (object.metadata.ownerReferences ?? []).map((ref) => `${ref.uid}/${ref.name}`).join(',');
}
