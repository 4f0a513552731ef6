/**
 * The few facts the executor reads from Jobs and Pods, read defensively from either shape they
 * arrive in: typed model objects from list calls or plain JSON from watch streams (the field
 * names are the same; timestamps are Dates in one and strings in the other). Everything else
 * works on these small views, never on raw objects.
 *
 * Pure functions: what a Job's conditions mean, what keeps a pod from ever starting.
 */
import { ANNOTATION, LABEL } from './labels.js';

export type JobOutcome =
  | { readonly kind: 'active' }
  | { readonly kind: 'complete' }
  | { readonly kind: 'failed'; readonly reason: string; readonly message: string };

export interface JobView {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly runId: string | undefined;
  /** The run attempt it was made for (`jobwire.dev/attempt`). */
  readonly attempt: string | undefined;
  readonly outcome: JobOutcome;
  /** Pods that ended, as the Job controller counted them. */
  readonly endedPods: number;
  /** The main container's name, from the pod template. */
  readonly containerName: string | undefined;
}

/** Why a pod cannot start, as the kubelet or scheduler put it. */
export type PodBlocker =
  | { readonly kind: 'imagePull'; readonly reason: string; readonly message: string; readonly immediate: boolean }
  | { readonly kind: 'config'; readonly reason: string; readonly message: string }
  | { readonly kind: 'unschedulable'; readonly message: string };

export interface ContainerEnd {
  readonly exitCode: number;
  readonly reason: string | undefined;
  /** What the kubelet read from the container's terminationMessagePath (the job's output). */
  readonly message: string | undefined;
}

export interface PodView {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly runId: string | undefined;
  readonly attempt: string | undefined;
  /** The owning Job's name (`batch.kubernetes.io/job-name`, `job-name`, or its ownerReference). */
  readonly jobName: string | undefined;
  /** ms since epoch; 0 when unknown. */
  readonly createdAt: number;
  readonly phase: string;
  /** How each container ended, by name; only containers that did. */
  readonly ended: ReadonlyMap<string, ContainerEnd>;
  readonly blocker: PodBlocker | undefined;
}

/** Waiting reasons of an image that cannot be pulled now; the kubelet keeps retrying them. */
const IMAGE_PULL_RETRYING = new Set(['ErrImagePull', 'ImagePullBackOff']);
/** Waiting reasons of an image that will never be pulled, whatever the wait. */
const IMAGE_PULL_NEVER = new Set(['InvalidImageName', 'ErrImageNeverPull']);
/** The container cannot be created from its spec (a missing Secret, ConfigMap or key). */
const CONFIG_ERRORS = new Set(['CreateContainerConfigError']);

type Json = Record<string, unknown>;

function obj(value: unknown): Json {
  return typeof value === 'object' && value !== null ? (value as Json) : {};
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function list(value: unknown): Json[] {
  return Array.isArray(value) ? value.map(obj) : [];
}

function labels(metadata: Json): Json {
  return obj(metadata['labels']);
}

function timestamp(value: unknown): number {
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'string') {
    const parsed = Date.parse(value);
    return Number.isNaN(parsed) ? 0 : parsed;
  }
  return 0;
}

export function readJob(value: unknown): JobView {
  const job = obj(value);
  const metadata = obj(job['metadata']);
  const containers = list(obj(obj(obj(obj(job['spec'])['template'])['spec']))['containers']);
  const status = obj(job['status']);
  const count = (value: unknown): number => (typeof value === 'number' ? value : 0);
  return {
    namespace: str(metadata['namespace']) ?? '',
    name: str(metadata['name']) ?? '',
    uid: str(metadata['uid']) ?? '',
    runId: str(labels(metadata)[LABEL.runId]),
    attempt: str(obj(metadata['annotations'])[ANNOTATION.attempt]),
    outcome: jobOutcome(status),
    endedPods: count(status['succeeded']) + count(status['failed']),
    containerName: str(containers[0]?.['name']),
  };
}

function jobOutcome(status: Json): JobOutcome {
  for (const condition of list(status['conditions'])) {
    if (condition['status'] !== 'True') continue;
    // FailureTarget / SuccessCriteriaMet come first while pods still terminate: wait for the final one.
    if (condition['type'] === 'Complete') return { kind: 'complete' };
    if (condition['type'] === 'Failed') {
      return { kind: 'failed', reason: str(condition['reason']) ?? 'Failed', message: str(condition['message']) ?? '' };
    }
  }
  return { kind: 'active' };
}

export function readPod(value: unknown): PodView {
  const pod = obj(value);
  const metadata = obj(pod['metadata']);
  const status = obj(pod['status']);
  const podLabels = labels(metadata);
  const owner = list(metadata['ownerReferences']).find((reference) => reference['kind'] === 'Job');
  const statuses = [...list(status['initContainerStatuses']), ...list(status['containerStatuses'])];
  const ended = new Map<string, ContainerEnd>();
  for (const container of statuses) {
    const terminated = obj(obj(container['state'])['terminated']);
    const exitCode = terminated['exitCode'];
    if (typeof exitCode === 'number') {
      ended.set(str(container['name']) ?? '', { exitCode, reason: str(terminated['reason']), message: str(terminated['message']) });
    }
  }
  const phase = str(status['phase']) ?? 'Pending';
  return {
    namespace: str(metadata['namespace']) ?? '',
    name: str(metadata['name']) ?? '',
    uid: str(metadata['uid']) ?? '',
    runId: str(podLabels[LABEL.runId]),
    attempt: str(obj(metadata['annotations'])[ANNOTATION.attempt]),
    jobName: str(podLabels['batch.kubernetes.io/job-name']) ?? str(podLabels['job-name']) ?? str(owner?.['name']),
    createdAt: timestamp(metadata['creationTimestamp']),
    phase,
    ended,
    blocker: phase === 'Pending' ? podBlocker(statuses, list(status['conditions'])) : undefined,
  };
}

function podBlocker(statuses: readonly Json[], conditions: readonly Json[]): PodBlocker | undefined {
  for (const container of statuses) {
    const waiting = obj(obj(container['state'])['waiting']);
    const reason = str(waiting['reason']);
    if (reason === undefined) continue;
    const message = str(waiting['message']) ?? '';
    if (IMAGE_PULL_RETRYING.has(reason) || IMAGE_PULL_NEVER.has(reason)) {
      return { kind: 'imagePull', reason, message, immediate: IMAGE_PULL_NEVER.has(reason) };
    }
    if (CONFIG_ERRORS.has(reason)) return { kind: 'config', reason, message };
  }
  const scheduled = conditions.find((condition) => condition['type'] === 'PodScheduled');
  if (scheduled !== undefined && scheduled['status'] === 'False' && scheduled['reason'] === 'Unschedulable') {
    return { kind: 'unschedulable', message: str(scheduled['message']) ?? '' };
  }
  return undefined;
}

/** The resourceVersion of any object, plain or typed. */
export function resourceVersionOf(value: unknown): string | undefined {
  return str(obj(obj(value)['metadata'])['resourceVersion']);
}

/** A watch ERROR event's Status code (410 Gone means: list again). */
export function statusCodeOf(value: unknown): number | undefined {
  const code = obj(value)['code'];
  return typeof code === 'number' ? code : undefined;
}
