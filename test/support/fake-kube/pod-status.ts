/**
 * Pod status shapes as a 1.31 kubelet and scheduler write them: the five pod conditions with
 * their reasons, containerStatuses in waiting / running / terminated state (containerID, image
 * normalized to docker.io/library/...:latest, imageID, restartCount, ready, started), phase,
 * hostIP/podIP and startTime. Pure functions: the kubelet decides when, these decide what.
 */
import { createHash } from 'node:crypto';
import { timestamp, type Container, type ContainerStatus, type PodCondition, type PodObject, type PodStatus } from './model.js';

export const nodeName = 'fake-node-1';
const hostIP = '172.18.0.2';

type TerminatedState = NonNullable<NonNullable<ContainerStatus['state']>['terminated']>;
type ConditionType = 'PodReadyToStartContainers' | 'Initialized' | 'Ready' | 'ContainersReady' | 'PodScheduled';

/** Sets a condition, keeping lastTransitionTime when its status did not change. */
export function withCondition(status: PodStatus, type: ConditionType, value: 'True' | 'False', reason?: string, message?: string): PodStatus {
  const conditions = [...(status.conditions ?? [])];
  const index = conditions.findIndex((condition) => condition.type === type);
  const old = index >= 0 ? conditions[index] : undefined;
  // The real JSON carries `"lastProbeTime": null`; the typed model only knows strings.
  const next: PodCondition = { type, status: value, lastProbeTime: null as unknown as string, lastTransitionTime: old?.status === value ? old.lastTransitionTime : timestamp() };
  if (reason !== undefined) next.reason = reason;
  if (message !== undefined) next.message = message;
  if (index >= 0) conditions[index] = next;
  else conditions.push(next);
  return { ...status, conditions };
}

export function unschedulable(status: PodStatus, message: string): PodStatus {
  return withCondition({ ...status, phase: 'Pending' }, 'PodScheduled', 'False', 'Unschedulable', message);
}

export function scheduled(status: PodStatus): PodStatus {
  return withCondition({ ...status, phase: 'Pending' }, 'PodScheduled', 'True');
}

/** Pending on the node: sandbox not ready yet, every container waiting with `reason`. */
export function creating(pod: PodObject, reason = 'ContainerCreating', message?: string): PodStatus {
  const containers = pod.spec?.containers ?? [];
  let status: PodStatus = {
    ...(pod.status ?? {}),
    phase: 'Pending',
    hostIP,
    hostIPs: [{ ip: hostIP }],
    startTime: pod.status?.startTime ?? timestamp(),
  };
  const unready = `containers with unready status: [${containers.map((container) => container.name).join(' ')}]`;
  status = withCondition(status, 'PodReadyToStartContainers', reason === 'ContainerCreating' ? 'False' : 'True');
  status = withCondition(status, 'Initialized', 'True');
  status = withCondition(status, 'Ready', 'False', 'ContainersNotReady', unready);
  status = withCondition(status, 'ContainersReady', 'False', 'ContainersNotReady', unready);
  status = withCondition(status, 'PodScheduled', 'True');
  status.containerStatuses = containers.map((container) => {
    const waiting: { reason: string; message?: string } = { reason };
    if (message !== undefined) waiting.message = message;
    return base(container, { waiting }, false);
  });
  return orderConditions(status);
}

export function running(pod: PodObject, startedAt: string): PodStatus {
  let status: PodStatus = { ...creating(pod), phase: 'Running', podIP: podIP(pod), podIPs: [{ ip: podIP(pod) }] };
  status = withCondition(status, 'PodReadyToStartContainers', 'True');
  status = withCondition(status, 'Ready', 'True');
  status = withCondition(status, 'ContainersReady', 'True');
  status.containerStatuses = (pod.spec?.containers ?? []).map((container) => ({ ...base(container, { running: { startedAt } }, true), containerID: containerID(pod, container) }));
  return orderConditions(status);
}

export interface Termination {
  readonly exitCode: number;
  readonly reason: string;
  readonly message?: string;
  readonly startedAt?: string;
}

/** Every container terminated; the first one's outcome is `first`, the others exited 0. */
export function terminated(pod: PodObject, first: Termination): PodStatus {
  const finishedAt = timestamp();
  const containers = pod.spec?.containers ?? [];
  const outcomes = containers.map((_, index) => (index === 0 ? first : { exitCode: 0, reason: 'Completed', startedAt: first.startedAt }));
  const failed = outcomes.some((outcome) => outcome.exitCode !== 0);
  let status: PodStatus = { ...(pod.status ?? {}), phase: failed ? 'Failed' : 'Succeeded' };
  status = withCondition(status, 'PodReadyToStartContainers', 'False');
  status = withCondition(status, 'Ready', 'False', 'PodCompleted');
  status = withCondition(status, 'ContainersReady', 'False', 'PodCompleted');
  status.containerStatuses = containers.map((container, index) => {
    const outcome = outcomes[index] ?? first;
    const state: TerminatedState = {
      containerID: containerID(pod, container),
      exitCode: outcome.exitCode,
      reason: outcome.reason,
      startedAt: outcome.startedAt ?? finishedAt,
      finishedAt,
    };
    if (outcome.message !== undefined) state.message = outcome.message;
    return { ...base(container, { terminated: state }, false), containerID: containerID(pod, container) };
  });
  return orderConditions(status);
}

export function isTerminal(pod: PodObject): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
}

export function isReady(pod: PodObject): boolean {
  return (pod.status?.conditions ?? []).some((condition) => condition.type === 'Ready' && condition.status === 'True');
}

/** `busybox` → `docker.io/library/busybox:latest`, as the runtime reports the image. */
export function normalizeImage(image: string): string {
  const [path, tag] = splitTag(image);
  const parts = path.split('/');
  const hasRegistry = parts.length > 1 && /[.:]|^localhost$/.test(parts[0] ?? '');
  const withRegistry = hasRegistry ? path : parts.length === 1 ? `docker.io/library/${path}` : `docker.io/${path}`;
  return image.includes('@') ? `${withRegistry}${tag}` : `${withRegistry}:${tag || 'latest'}`;
}

function splitTag(image: string): [string, string] {
  const at = image.indexOf('@');
  if (at >= 0) return [image.slice(0, at), image.slice(at)];
  const colon = image.lastIndexOf(':');
  if (colon > image.lastIndexOf('/')) return [image.slice(0, colon), image.slice(colon + 1)];
  return [image, ''];
}

function base(container: Container, state: ContainerStatus['state'], isRunning: boolean): ContainerStatus {
  const image = normalizeImage(container.image ?? '');
  return {
    name: container.name,
    image,
    imageID: isRunning || state?.terminated !== undefined ? `${image.split(':')[0]}@sha256:${digest(image)}` : '',
    lastState: {},
    ready: isRunning,
    restartCount: 0,
    started: isRunning,
    state,
  };
}

function containerID(pod: PodObject, container: Container): string {
  return `containerd://${digest(`${pod.metadata.uid}/${container.name}`)}`;
}

function podIP(pod: PodObject): string {
  const hash = createHash('sha256').update(pod.metadata.uid).digest();
  return `10.244.${(hash[0] ?? 0) % 250}.${((hash[1] ?? 0) % 250) + 2}`;
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

const conditionOrder: readonly string[] = ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'];

function orderConditions(status: PodStatus): PodStatus {
  const conditions = [...(status.conditions ?? [])].sort((a, b) => conditionOrder.indexOf(a.type) - conditionOrder.indexOf(b.type));
  return { ...status, conditions };
}
