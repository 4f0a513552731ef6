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
 */
import { isDeepStrictEqual } from 'node:util';
import { clone, keyOf, newUid, timestamp, type ObjectMeta, type StoredObject } from './model.js';

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

export class ObjectStore {
  /** Starts above zero so that "0" (any version) and real versions never look alike. */
  private revision = 100;
  private readonly objects = new Map<string, Map<string, StoredObject>>();
  private readonly byUid = new Map<string, { resource: string; key: string }>();
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
    const found = this.table(resource).get(keyOf(namespace, name));
    return found === undefined ? undefined : clone(found);
  }

  /** Sorted by namespace then name, as etcd keys are. */
  list(resource: string, namespace?: string): StoredObject[] {
    const out: StoredObject[] = [];
    for (const object of this.table(resource).values()) {
      if (namespace === undefined || object.metadata.namespace === namespace) out.push(clone(object));
    }
    return out.sort((a, b) => compareKeys(a, b));
  }

  /** Every stored object with its resource, for the garbage collector. */
  all(): { resource: string; object: StoredObject }[] {
    const out: { resource: string; object: StoredObject }[] = [];
    for (const [resource, table] of this.objects) for (const object of table.values()) out.push({ resource, object: clone(object) });
    return out;
  }

  findByUid(uid: string): { resource: string; object: StoredObject } | undefined {
    const entry = this.byUid.get(uid);
    if (entry === undefined) return undefined;
    const object = this.table(entry.resource).get(entry.key);
    return object === undefined ? undefined : { resource: entry.resource, object: clone(object) };
  }

  create(resource: string, draft: DraftObject): StoredObject {
    const table = this.table(resource);
    const key = keyOf(draft.metadata.namespace, draft.metadata.name);
    if (table.has(key)) throw new AlreadyExistsInStore(`${resource} ${key} already exists`);
    const object = clone(draft) as StoredObject;
    // The API server picks the uid before defaulting (a Job's labels carry it); keep one chosen then.
    object.metadata.uid = draft.metadata.uid ?? newUid();
    object.metadata.creationTimestamp = timestamp();
    object.metadata.resourceVersion = this.nextVersion();
    table.set(key, object);
    this.byUid.set(object.metadata.uid, { resource, key });
    this.emit({ type: 'ADDED', resource, object, resourceVersion: this.revision });
    return clone(object);
  }

  /**
   * Stores a new version of an existing object. Returns undefined when the object is gone. An
   * update that leaves a deleting object with no finalizers and no grace period left completes
   * its deletion, as the API server does.
   */
  update(resource: string, changed: StoredObject): StoredObject | undefined {
    const table = this.table(resource);
    const key = keyOf(changed.metadata.namespace, changed.metadata.name);
    const previous = table.get(key);
    if (previous === undefined || previous.metadata.uid !== changed.metadata.uid) return undefined;
    const next = clone(changed);
    next.metadata.resourceVersion = previous.metadata.resourceVersion;
    if (isDeepStrictEqual(next, previous)) return clone(previous);
    if (readyToVanish(next)) return this.remove(resource, next.metadata.namespace, next.metadata.name, next);
    next.metadata.resourceVersion = this.nextVersion();
    table.set(key, next);
    this.emit({ type: 'MODIFIED', resource, object: next, previous, resourceVersion: this.revision });
    return clone(next);
  }

  /** Removes the object at once (finalizers or not); `last` is its final state, when it changed. */
  remove(resource: string, namespace: string, name: string, last?: StoredObject): StoredObject | undefined {
    const table = this.table(resource);
    const key = keyOf(namespace, name);
    const previous = table.get(key);
    if (previous === undefined) return undefined;
    table.delete(key);
    this.byUid.delete(previous.metadata.uid);
    const object = clone(last ?? previous);
    object.metadata.resourceVersion = this.nextVersion();
    this.emit({ type: 'DELETED', resource, object, previous, resourceVersion: this.revision });
    return clone(object);
  }

  /** Changes after `resourceVersion`, or 'expired' when the history no longer reaches back that far. */
  since(resourceVersion: number): StoreEvent[] | 'expired' {
    if (resourceVersion < this.oldest) return 'expired';
    return this.history.filter((event) => event.resourceVersion > resourceVersion);
  }

  get oldestResumableVersion(): string {
    return String(this.oldest);
  }

  /** Drops the history: only the current version can be resumed from (as after etcd compaction). */
  forgetHistory(): void {
    this.history = [];
    this.oldest = this.revision;
  }

  private table(resource: string): Map<string, StoredObject> {
    let table = this.objects.get(resource);
    if (table === undefined) {
      table = new Map();
      this.objects.set(resource, table);
    }
    return table;
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

function compareKeys(a: StoredObject, b: StoredObject): number {
  const left = keyOf(a.metadata.namespace, a.metadata.name);
  const right = keyOf(b.metadata.namespace, b.metadata.name);
  return left < right ? -1 : left > right ? 1 : 0;
}
