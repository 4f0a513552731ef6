/**
 * The store's index of ownerReferences: for each owner uid, the uids of the objects that name it
 * in their ownerReferences (whether or not that owner exists, as the garbage collector needs).
 * Kept up to date on every change, so "the pods of this Job" or "what depends on this object"
 * costs the size of the answer, not a scan of the whole store.
 */
import type { StoredObject } from './model.js';

export class OwnerIndex {
  private readonly byOwner = new Map<string, Set<string>>();

  /** Records a change of `uid` from `before` to `after` (either undefined on create / remove). */
  change(uid: string, before: StoredObject | undefined, after: StoredObject | undefined): void {
    const old = ownerUids(before);
    const now = ownerUids(after);
    for (const owner of old) {
      if (now.includes(owner)) continue;
      const dependents = this.byOwner.get(owner);
      dependents?.delete(uid);
      if (dependents?.size === 0) this.byOwner.delete(owner);
    }
    for (const owner of now) {
      if (old.includes(owner)) continue;
      let dependents = this.byOwner.get(owner);
      if (dependents === undefined) {
        dependents = new Set();
        this.byOwner.set(owner, dependents);
      }
      dependents.add(uid);
    }
  }

  /** Uids of the objects with an ownerReference to `owner`, in the order they started naming it. */
  dependentsOf(owner: string): string[] {
    const dependents = this.byOwner.get(owner);
    return dependents === undefined ? [] : [...dependents];
  }
}

/** The owner uids an object's ownerReferences name (none for an absent object). */
export function ownerUids(object: StoredObject | undefined): string[] {
  const refs = object?.metadata.ownerReferences;
  if (refs === undefined || refs.length === 0) return [];
  return refs.map((ref) => ref.uid);
}
