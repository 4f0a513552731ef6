/**
 * The fake's etcd: every object of every resource, one global resourceVersion counter that moves
 * on every change, and the recent change history watches resume from.
 *
 * Listeners are called synchronously, in resourceVersion order. The watch streams write to their
 * sockets right there; the controllers (job controller, kubelet, garbage collector) only queue
 * work, so no change is ever emitted from inside another change's emission.
 *
 * Objects handed out are copies; stored objects are replaced on change, never edited in place, so
 * history entries can share them.
 *
 * Indexes keep every read proportional to its answer, never to the store's size (the fake must stay
 * cheap per Job however many objects it holds): objects by resource → namespace → name, by uid,
 * and by the owner uids their ownerReferences name (owner-index.ts).
 */
import { clone, keyOf, newUid, sameJson, timestamp, type ObjectMeta, type StoredObject } from './model.js';
import { OwnerIndex } from './owner-index.js';

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  readonly type: ChangeType;
  /** The resource's plural, e.g. `pods`. */
  readonly resource: string;
  readonly object: StoredObject;
  /** The object before a MODIFIED or DELETED change. */
  readonly previous?: StoredObject;
  readonly resourceVersion: number;
}

export type StoreListener = (event: StoreEvent) => void;

/** An object as a client or controller hands it in: name and namespace known, the rest server-set. */
export interface DraftObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta & { name: string; namespace: string };
  [field: string]: unknown;
}

export class AlreadyExistsInStore extends Error {
  override readonly name: string = 'AlreadyExistsInStore';
}

interface Location {
  readonly resource: string;
  readonly namespace: string;
  readonly name: string;
}

/** One resource's objects: namespace → name → object. */
type Table = Map<string, Map<string, StoredObject>>;

export class ObjectStore {
  /** Starts above zero so that "0" (any version) and real versions never look alike. */
  private revision = 100;
  private readonly objects = new Map<string, Table>();
  private readonly byUid = new Map<string, Location>();
  private readonly owners = new OwnerIndex();
  private history: StoreEvent[] = [];
  /** Watches may resume from this version or later; older ones get 410 Expired. */
  private oldest = this.revision;
  private readonly listeners = new Set<StoreListener>();

  constructor(private readonly historyLimit: number) {}

  get resourceVersion(): string {
    return String(this.revision);
  }

  subscribe(listener: StoreListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get(resource: string, namespace: string, name: string): StoredObject | undefined {
    const found = this.stored(resource, namespace, name);
    return found === undefined ? undefined : clone(found);
  }

  /**
   * Sorted by namespace then name, as etcd keys are. `filter` (e.g. a selector) sees the stored
   * objects themselves, so only matches get copied; it must not modify them.
   */
  list(resource: string, namespace?: string, filter?: (object: StoredObject) => boolean): StoredObject[] {
    const table = this.objects.get(resource);
    if (table === undefined) return [];
    const spaces = namespace === undefined ? [...table.values()] : [table.get(namespace) ?? new Map<string, StoredObject>()];
    const keyed: { key: string; object: StoredObject }[] = [];
    for (const space of spaces) {
      for (const object of space.values()) if (filter === undefined || filter(object)) keyed.push({ key: keyOf(object.metadata.namespace, object.metadata.name), object });
    }
    keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return keyed.map((entry) => clone(entry.object));
  }

  /** Every namespace some object lives in. */
  namespaces(): string[] {
    const names = new Set<string>();
    for (const table of this.objects.values()) for (const namespace of table.keys()) names.add(namespace);
    return [...names];
  }

  findByUid(uid: string): { resource: string; object: StoredObject } | undefined {
    const at = this.byUid.get(uid);
    const object = at === undefined ? undefined : this.stored(at.resource, at.namespace, at.name);
    return at === undefined || object === undefined ? undefined : { resource: at.resource, object: clone(object) };
  }

  /**
   * Applies `read` to the stored object with this uid, without copying it (for cheap checks on hot
   * paths); undefined when there is none. `read` must not modify the object or keep it.
   */
  inspect<T>(uid: string, read: (object: StoredObject, resource: string) => T): T | undefined {
    const at = this.byUid.get(uid);
    const object = at === undefined ? undefined : this.stored(at.resource, at.namespace, at.name);
    return at === undefined || object === undefined ? undefined : read(object, at.resource);
  }

  /** Whether an object with this uid (and, when given, this name) exists; copies nothing. */
  exists(uid: string, name?: string): boolean {
    const at = this.byUid.get(uid);
    return at !== undefined && (name === undefined || at.name === name);
  }

  /** The uids of the objects whose ownerReferences name `ownerUid`; copies nothing. */
  dependentUids(ownerUid: string): string[] {
    return this.owners.dependentsOf(ownerUid);
  }

  /**
   * The objects whose ownerReferences name `ownerUid` (the owner may be gone or never have
   * existed); with `filter` (which sees stored objects and must not modify them), only those it keeps.
   */
  dependents(ownerUid: string, filter?: (object: StoredObject, resource: string) => boolean): { resource: string; object: StoredObject }[] {
    const out: { resource: string; object: StoredObject }[] = [];
    for (const uid of this.owners.dependentsOf(ownerUid)) {
      const kept = this.inspect(uid, (object, resource) => (filter === undefined || filter(object, resource) ? { resource, object: clone(object) } : undefined));
      if (kept !== undefined) out.push(kept);
    }
    return out;
  }

  create(resource: string, draft: DraftObject): StoredObject {
    const { namespace, name } = draft.metadata;
    if (this.stored(resource, namespace, name) !== undefined) throw new AlreadyExistsInStore(`${resource} ${keyOf(namespace, name)} already exists`);
    const object = clone(draft) as StoredObject;
    // The API server picks the uid before defaulting (a Job's labels carry it); keep one chosen then.
    object.metadata.uid = draft.metadata.uid ?? newUid();
    object.metadata.creationTimestamp = timestamp();
    object.metadata.resourceVersion = this.nextVersion();
    this.space(resource, namespace).set(name, object);
    this.byUid.set(object.metadata.uid, { resource, namespace, name });
    this.owners.change(object.metadata.uid, undefined, object);
    this.emit({ type: 'ADDED', resource, object, resourceVersion: this.revision });
    return clone(object);
  }

  /**
   * Stores a new version of an existing object. Returns undefined when the object is gone. An
   * update that leaves a deleting object with no finalizers and no grace period left completes
   * its deletion, as the API server does.
   */
  update(resource: string, changed: StoredObject): StoredObject | undefined {
    const { namespace, name } = changed.metadata;
    const previous = this.stored(resource, namespace, name);
    if (previous === undefined || previous.metadata.uid !== changed.metadata.uid) return undefined;
    const next = clone(changed);
    next.metadata.resourceVersion = previous.metadata.resourceVersion;
    if (sameJson(next, previous)) return clone(previous);
    if (readyToVanish(next)) return this.remove(resource, namespace, name, next);
    next.metadata.resourceVersion = this.nextVersion();
    this.space(resource, namespace).set(name, next);
    this.owners.change(next.metadata.uid, previous, next);
    this.emit({ type: 'MODIFIED', resource, object: next, previous, resourceVersion: this.revision });
    return clone(next);
  }

  /** Removes the object at once (finalizers or not); `last` is its final state, when it changed. */
  remove(resource: string, namespace: string, name: string, last?: StoredObject): StoredObject | undefined {
    const space = this.objects.get(resource)?.get(namespace);
    const previous = space?.get(name);
    if (space === undefined || previous === undefined) return undefined;
    space.delete(name);
    if (space.size === 0) this.objects.get(resource)?.delete(namespace);
    this.byUid.delete(previous.metadata.uid);
    this.owners.change(previous.metadata.uid, previous, undefined);
    const object = clone(last ?? previous);
    object.metadata.resourceVersion = this.nextVersion();
    this.emit({ type: 'DELETED', resource, object, previous, resourceVersion: this.revision });
    return clone(object);
  }

  /** Changes after `resourceVersion`, or 'expired' when the history no longer reaches back that far. */
  since(resourceVersion: number): StoreEvent[] | 'expired' {
    if (resourceVersion < this.oldest) return 'expired';
    // The history is in resourceVersion order: find the first later change by bisection.
    let low = 0;
    let high = this.history.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.history[middle]?.resourceVersion ?? Infinity) > resourceVersion) high = middle;
      else low = middle + 1;
    }
    return this.history.slice(low);
  }

  get oldestResumableVersion(): string {
    return String(this.oldest);
  }

  /** Drops the history: only the current version can be resumed from (as after etcd compaction). */
  forgetHistory(): void {
    this.history = [];
    this.oldest = this.revision;
  }

  private stored(resource: string, namespace: string, name: string): StoredObject | undefined {
    return this.objects.get(resource)?.get(namespace)?.get(name);
  }

  private space(resource: string, namespace: string): Map<string, StoredObject> {
    let table = this.objects.get(resource);
    if (table === undefined) {
      table = new Map();
      this.objects.set(resource, table);
    }
    let space = table.get(namespace);
    if (space === undefined) {
      space = new Map();
      table.set(namespace, space);
    }
    return space;
  }

  private nextVersion(): string {
    this.revision += 1;
    return String(this.revision);
  }

  private emit(event: StoreEvent): void {
    this.history.push(event);
    while (this.history.length > this.historyLimit) {
      const dropped = this.history.shift();
      if (dropped !== undefined) this.oldest = dropped.resourceVersion;
    }
    for (const listener of [...this.listeners]) listener(event);
  }
}

function readyToVanish(object: StoredObject): boolean {
  const meta = object.metadata;
  return meta.deletionTimestamp !== undefined && (meta.finalizers ?? []).length === 0 && (meta.deletionGracePeriodSeconds ?? 0) === 0;
}
