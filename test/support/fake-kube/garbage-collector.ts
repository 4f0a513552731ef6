/**
 * The garbage collector, as kube-controller-manager runs it, reduced to what a Job's dependents
 * need. A short moment (gcDelayMs) after any change it sweeps:
 * - owners being deleted with the `orphan` finalizer: drop their ownerReferences from dependents,
 *   then the finalizer (the owner then goes);
 * - owners with `foregroundDeletion`: delete the dependents, and drop the finalizer once none is left;
 * - dependents all of whose owners are absent (no object with that uid and name), e.g. after a
 *   Background delete: delete them (Pods gracefully, through the kubelet).
 * An ownerReference to an owner that never existed counts as absent, as on a real cluster.
 */
import { deleteObject } from './deletion.js';
import { isDeleting, type OwnerReference, type StoredObject } from './model.js';
import { resourceByPlural } from './resources.js';
import type { ObjectStore } from './store.js';
import type { Timers } from './timers.js';

export class GarbageCollector {
  private scheduled = false;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly store: ObjectStore,
    private readonly timers: Timers,
    private readonly delayMs: number,
  ) {}

  start(): void {
    this.unsubscribe = this.store.subscribe(() => this.schedule());
  }

  stop(): void {
    this.unsubscribe?.();
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
    const everything = this.store.all();
    const dependentsOf = (owner: StoredObject): { resource: string; object: StoredObject }[] =>
      everything.filter((entry) => (entry.object.metadata.ownerReferences ?? []).some((ref) => ref.uid === owner.metadata.uid));

    for (const { resource, object } of everything) {
      const finalizers = object.metadata.finalizers ?? [];
      if (!isDeleting(object)) continue;
      if (finalizers.includes('orphan')) {
        for (const dependent of dependentsOf(object)) {
          const next = this.store.get(dependent.resource, dependent.object.metadata.namespace, dependent.object.metadata.name);
          if (next === undefined) continue;
          const refs = (next.metadata.ownerReferences ?? []).filter((ref) => ref.uid !== object.metadata.uid);
          if (refs.length > 0) next.metadata.ownerReferences = refs;
          else delete next.metadata.ownerReferences;
          this.store.update(dependent.resource, next);
        }
        this.dropFinalizer(resource, object, 'orphan');
      } else if (finalizers.includes('foregroundDeletion')) {
        const dependents = dependentsOf(object);
        for (const dependent of dependents) this.deleteDependent(dependent.resource, dependent.object);
        if (dependents.length === 0) this.dropFinalizer(resource, object, 'foregroundDeletion');
      }
    }

    for (const { resource, object } of this.store.all()) {
      const refs = object.metadata.ownerReferences ?? [];
      if (refs.length === 0 || isDeleting(object)) continue;
      if (refs.every((ref) => !this.ownerPresent(ref))) this.deleteDependent(resource, object);
    }
  }

  private ownerPresent(ref: OwnerReference): boolean {
    const found = this.store.findByUid(ref.uid);
    return found !== undefined && found.object.metadata.name === ref.name;
  }

  private deleteDependent(resource: string, object: StoredObject): void {
    if (isDeleting(object)) return;
    try {
      deleteObject(this.store, resourceByPlural(resource), object.metadata.namespace, object.metadata.name, { propagationPolicy: 'Background' });
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
