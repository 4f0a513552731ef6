/**
 * The shapes the fake API server keeps, and the small helpers every part of it shares.
 *
 * Objects are stored as plain JSON (what goes over the wire). The job controller and kubelet
 * read them through the kubernetes-models interfaces (type-only imports: nothing loads at run
 * time), so their code is checked against the real field names without any `any`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { IJob } from 'kubernetes-models/batch/v1/Job';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IPod } from 'kubernetes-models/v1/Pod';
import type { KubeObject } from './types.js';

export type ObjectMeta = NonNullable<IJob['metadata']>;
export type OwnerReference = NonNullable<ObjectMeta['ownerReferences']>[number];

/** Metadata once the server has stored an object: these fields are always set. */
export interface StoredMeta extends ObjectMeta {
  name: string;
  namespace: string;
  uid: string;
  resourceVersion: string;
  creationTimestamp: string;
}

export interface StoredObject {
  apiVersion: string;
  kind: string;
  metadata: StoredMeta;
  [field: string]: unknown;
}

type Stored<T> = Omit<T, 'metadata'> & { metadata: StoredMeta };
export type JobObject = Stored<IJob>;
export type PodObject = Stored<IPod>;
export type ConfigMapObject = Stored<IConfigMap>;
export type PodStatus = NonNullable<IPod['status']>;
export type PodSpec = NonNullable<IPod['spec']>;
export type Container = PodSpec['containers'][number];
export type ContainerStatus = NonNullable<PodStatus['containerStatuses']>[number];
export type PodCondition = NonNullable<PodStatus['conditions']>[number];
export type JobStatus = NonNullable<IJob['status']>;
export type JobCondition = NonNullable<JobStatus['conditions']>[number];

// The stored JSON is exactly what these interfaces describe; the casts only change the view.
export const asJob = (object: StoredObject): JobObject => object as unknown as JobObject;
export const asPod = (object: StoredObject): PodObject => object as unknown as PodObject;
export const asConfigMap = (object: StoredObject): ConfigMapObject => object as unknown as ConfigMapObject;
export const fromTyped = (object: JobObject | PodObject | ConfigMapObject): StoredObject => object as unknown as StoredObject;

export function toKubeObject(object: StoredObject): KubeObject {
  return object;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A deep copy of JSON-shaped data (plain objects, arrays, primitives), many times faster than
 * structuredClone, which the store's copy-on-read makes hot. Anything else falls back to it.
 */
export function clone<T>(value: T): T {
  return copy(value) as T;
}

function copy(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map(copy);
  if (!isPlain(value)) return structuredClone(value);
  const source = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(source)) {
    // An own "__proto__" (JSON.parse makes one) stays a plain property.
    if (key === '__proto__') Object.defineProperty(out, key, { value: copy(source[key]), enumerable: true, writable: true, configurable: true });
    else out[key] = copy(source[key]);
  }
  return out;
}

/**
 * Deep equality of JSON-shaped data with isDeepStrictEqual's answers for it (Object.is on
 * primitives; a key holding undefined differs from a missing key), without its generic cost.
 * Anything that is not a plain object or array is compared by isDeepStrictEqual.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let index = 0; index < a.length; index += 1) {
      if (!(index in a) || !(index in b)) return isDeepStrictEqual(a, b);
      if (!sameJson(a[index], b[index])) return false;
    }
    return true;
  }
  if (!isPlain(a) || !isPlain(b)) return isDeepStrictEqual(a, b);
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  const keys = Object.keys(left);
  if (keys.length !== Object.keys(right).length) return false;
  for (const key of keys) {
    if (!Object.prototype.hasOwnProperty.call(right, key) || !sameJson(left[key], right[key])) return false;
  }
  return true;
}

function isPlain(value: object): boolean {
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** RFC 3339 with second precision, as the API server writes metav1.Time. */
export function timestamp(ms: number = Date.now()): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

export function newUid(): string {
  return randomUUID();
}

/** The alphabet the API server uses for generateName suffixes (no vowels, no look-alikes). */
const suffixAlphabet = 'bcdfghjklmnpqrstvwxz2456789';

export function nameSuffix(length = 5): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const byte of bytes) out += suffixAlphabet[byte % suffixAlphabet.length];
  return out;
}

export function randomHex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

export function controllerRef(meta: ObjectMeta): OwnerReference | undefined {
  return meta.ownerReferences?.find((ref) => ref.controller === true);
}

export function isDeleting(object: StoredObject): boolean {
  return object.metadata.deletionTimestamp !== undefined;
}

export function keyOf(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}
