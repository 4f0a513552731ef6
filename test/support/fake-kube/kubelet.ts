/**
 * Scheduler + kubelet of the fake's single node. Each new pod plays the PodScript chosen for it,
 * one short step (stepMs) at a time, each step a status update (a MODIFIED watch event):
 *   run / hang:  bound to fake-node-1 → Pending (ContainerCreating) → Running → (run) Succeeded/Failed
 *   imagePullBackOff:           … → waiting ErrImagePull → waiting ImagePullBackOff
 *   createContainerConfigError: … → waiting CreateContainerConfigError with the script's message
 *   unschedulable:              PodScheduled=False reason Unschedulable, never bound
 * Before starting containers it waits, like a real kubelet, for the ConfigMaps/Secrets the pod
 * mounts (FailedMount; resumes when they appear) and checks env references
 * (CreateContainerConfigError). A pod given a deletionTimestamp is stopped (exit 137) and then
 * released (deletionGracePeriodSeconds 0), after which the API server removes it once its
 * finalizers are gone. It also keeps each container's log text for the pods/log endpoint, and
 * gives a terminated container the termination message a kubelet would (termination-message.ts).
 */
import type { EventRecorder } from './events.js';
import { asPod, fromTyped, timestamp, type PodObject, type PodStatus } from './model.js';
import { envConfigError, missingVolume } from './pod-dependencies.js';
import { creating, isTerminal, nodeName, normalizeImage, running, scheduled, terminated, unschedulable } from './pod-status.js';
import type { ObjectStore, StoreEvent } from './store.js';
import type { Timers } from './timers.js';
import { terminationMessage } from './termination-message.js';
import type { PodScript } from './types.js';

type Stage = 'scheduling' | 'unschedulable' | 'waiting' | 'starting' | 'running' | 'finished' | 'stopping';

interface Runtime {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly script: PodScript;
  stage: Stage;
  /** Why it is waiting on the API (a missing volume or env reference), to report once. */
  blockedBy?: string;
  startedAt?: string;
  readonly cancels: (() => void)[];
}

const defaultUnschedulable =
  '0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.';

export class Kubelet {
  private readonly runtimes = new Map<string, Runtime>();
  /** Runtimes in stage `waiting` (on a ConfigMap or Secret), by namespace. */
  private readonly waiting = new Map<string, Set<Runtime>>();
  /** Log text per pod uid and container, once the container has started. */
  private readonly logs = new Map<string, Map<string, string>>();
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly store: ObjectStore,
    private readonly timers: Timers,
    private readonly events: EventRecorder,
    private readonly scriptFor: (pod: PodObject) => PodScript,
    private readonly stepMs: number,
  ) {}

  start(): void {
    this.unsubscribe = this.store.subscribe((event) => this.observe(event));
  }

  stop(): void {
    this.unsubscribe?.();
  }

  /** A container's log, or undefined when it never started. */
  logOf(uid: string, container: string): string | undefined {
    return this.logs.get(uid)?.get(container);
  }

  private observe(event: StoreEvent): void {
    if (event.resource === 'configmaps' || event.resource === 'secrets') {
      if (event.type === 'DELETED') return;
      for (const runtime of this.waiting.get(event.object.metadata.namespace) ?? []) this.later(runtime, () => this.prepare(runtime));
      return;
    }
    if (event.resource !== 'pods') return;
    const pod = asPod(event.object);
    const uid = pod.metadata.uid;
    if (event.type === 'DELETED') {
      const runtime = this.runtimes.get(uid);
      if (runtime !== undefined) {
        runtime.cancels.splice(0).forEach((cancel) => cancel());
        this.enter(runtime, 'finished');
      }
      this.runtimes.delete(uid);
      this.logs.delete(uid);
      return;
    }
    let runtime = this.runtimes.get(uid);
    if (runtime === undefined) {
      runtime = { namespace: pod.metadata.namespace, name: pod.metadata.name, uid, script: this.scriptFor(pod), stage: 'scheduling', cancels: [] };
      this.runtimes.set(uid, runtime);
      const created = runtime;
      if (!isTerminal(pod)) this.later(created, () => this.schedule(created));
    }
    if (pod.metadata.deletionTimestamp !== undefined && runtime.stage !== 'stopping') {
      this.enter(runtime, 'stopping');
      runtime.cancels.splice(0).forEach((cancel) => cancel());
      const stopping = runtime;
      this.timers.after(this.stepMs, () => this.stopPod(stopping));
    }
  }

  /** Moves a runtime to `stage`, keeping the index of waiting ones. */
  private enter(runtime: Runtime, stage: Stage): void {
    if (runtime.stage === 'waiting') {
      const waiting = this.waiting.get(runtime.namespace);
      waiting?.delete(runtime);
      if (waiting?.size === 0) this.waiting.delete(runtime.namespace);
    }
    runtime.stage = stage;
    if (stage !== 'waiting') return;
    let waiting = this.waiting.get(runtime.namespace);
    if (waiting === undefined) {
      waiting = new Set();
      this.waiting.set(runtime.namespace, waiting);
    }
    waiting.add(runtime);
  }

  private later(runtime: Runtime, step: () => void, ms = this.stepMs): void {
    runtime.cancels.push(this.timers.after(ms, step));
  }

  private current(runtime: Runtime): PodObject | undefined {
    const object = this.store.get('pods', runtime.namespace, runtime.name);
    if (object === undefined || object.metadata.uid !== runtime.uid) return undefined;
    return asPod(object);
  }

  private write(pod: PodObject, status: PodStatus): void {
    pod.status = status;
    this.store.update('pods', fromTyped(pod));
  }

  private schedule(runtime: Runtime): void {
    const pod = this.current(runtime);
    if (pod === undefined || runtime.stage !== 'scheduling') return;
    if (runtime.script.kind === 'unschedulable') {
      const message = runtime.script.message ?? defaultUnschedulable;
      this.enter(runtime, 'unschedulable');
      this.write(pod, unschedulable(pod.status ?? {}, message));
      this.events.record(fromTyped(pod), 'Warning', 'FailedScheduling', message, 'default-scheduler');
      return;
    }
    pod.spec = { ...(pod.spec ?? { containers: [] }), nodeName };
    this.write(pod, scheduled(pod.status ?? {}));
    this.events.record(fromTyped(pod), 'Normal', 'Scheduled', `Successfully assigned ${runtime.namespace}/${runtime.name} to ${nodeName}`, 'default-scheduler');
    this.enter(runtime, 'waiting');
    this.later(runtime, () => this.prepare(runtime));
  }

  /** Waits for volumes and env references, then plays the script's container part. */
  private prepare(runtime: Runtime): void {
    let pod = this.current(runtime);
    if (pod === undefined || runtime.stage !== 'waiting') return;
    if (pod.status?.containerStatuses === undefined) {
      this.write(pod, creating(pod));
      pod = this.current(runtime) ?? pod;
    }
    const volume = missingVolume(this.store, pod);
    if (volume !== undefined) {
      if (runtime.blockedBy !== volume.message) this.events.record(fromTyped(pod), 'Warning', 'FailedMount', volume.message, 'kubelet');
      runtime.blockedBy = volume.message;
      return;
    }
    const configError = envConfigError(this.store, pod);
    if (configError !== undefined) {
      if (runtime.blockedBy !== configError) {
        this.write(pod, creating(pod, 'CreateContainerConfigError', configError));
        this.events.record(fromTyped(pod), 'Warning', 'Failed', `Error: ${configError}`, 'kubelet');
      }
      runtime.blockedBy = configError;
      return;
    }
    runtime.blockedBy = undefined;
    this.enter(runtime, 'starting');
    this.later(runtime, () => this.startContainers(runtime));
  }

  private startContainers(runtime: Runtime): void {
    const pod = this.current(runtime);
    if (pod === undefined || runtime.stage !== 'starting') return;
    const script = runtime.script;
    const image = pod.spec?.containers[0]?.image ?? '';
    const about = fromTyped(pod);
    switch (script.kind) {
      case 'imagePullBackOff': {
        const reference = normalizeImage(image);
        const detail = `rpc error: code = NotFound desc = failed to pull and unpack image "${reference}": failed to resolve reference "${reference}": ${reference}: not found`;
        this.write(pod, creating(pod, 'ErrImagePull', detail));
        this.events.record(about, 'Normal', 'Pulling', `Pulling image "${image}"`, 'kubelet');
        this.events.record(about, 'Warning', 'Failed', `Failed to pull image "${image}": ${detail}`, 'kubelet');
        this.events.record(about, 'Warning', 'Failed', 'Error: ErrImagePull', 'kubelet');
        this.later(runtime, () => {
          const again = this.current(runtime);
          if (again === undefined) return;
          this.write(again, creating(again, 'ImagePullBackOff', `Back-off pulling image "${image}"`));
          this.events.record(about, 'Normal', 'BackOff', `Back-off pulling image "${image}"`, 'kubelet');
          this.events.record(about, 'Warning', 'Failed', 'Error: ImagePullBackOff', 'kubelet');
        });
        return;
      }
      case 'createContainerConfigError':
        this.write(pod, creating(pod, 'CreateContainerConfigError', script.message));
        this.events.record(about, 'Warning', 'Failed', `Error: ${script.message}`, 'kubelet');
        return;
      case 'run':
      case 'hang': {
        const startedAt = timestamp();
        runtime.startedAt = startedAt;
        this.enter(runtime, 'running');
        const logs = new Map<string, string>();
        (pod.spec?.containers ?? []).forEach((container, index) => logs.set(container.name, index === 0 ? (script.log ?? '') : ''));
        this.logs.set(runtime.uid, logs);
        for (const container of pod.spec?.containers ?? []) {
          this.events.record(about, 'Normal', 'Pulled', `Container image "${container.image ?? ''}" already present on machine`, 'kubelet');
          this.events.record(about, 'Normal', 'Created', `Created container ${container.name}`, 'kubelet');
          this.events.record(about, 'Normal', 'Started', `Started container ${container.name}`, 'kubelet');
        }
        this.write(pod, running(pod, startedAt));
        if (script.kind === 'run') this.later(runtime, () => this.finish(runtime, script.exitCode), script.runMs ?? 50);
        return;
      }
      case 'unschedulable':
        return;
    }
  }

  private finish(runtime: Runtime, exitCode: number): void {
    const pod = this.current(runtime);
    if (pod === undefined || runtime.stage !== 'running') return;
    this.enter(runtime, 'finished');
    const message = this.messageOf(runtime, pod, exitCode);
    this.write(pod, terminated(pod, { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', startedAt: runtime.startedAt, ...(message === undefined ? {} : { message }) }));
  }

  /** The first container's termination message, from what the script wrote and logged. */
  private messageOf(runtime: Runtime, pod: PodObject, exitCode: number): string | undefined {
    const container = pod.spec?.containers[0];
    const script = runtime.script;
    if (container === undefined || (script.kind !== 'run' && script.kind !== 'hang')) return undefined;
    return terminationMessage(container, script.writes, this.logOf(runtime.uid, container.name) ?? '', exitCode);
  }

  /** Stops a deleting pod's containers, then tells the API server the pod may go. */
  private stopPod(runtime: Runtime): void {
    const pod = this.current(runtime);
    if (pod === undefined) return;
    if (pod.spec?.nodeName !== undefined && !isTerminal(pod)) {
      for (const container of pod.spec.containers) this.events.record(fromTyped(pod), 'Normal', 'Killing', `Stopping container ${container.name}`, 'kubelet');
      const wasRunning = runtime.startedAt !== undefined;
      pod.status = terminated(pod, {
        exitCode: 137,
        reason: wasRunning ? 'Error' : 'ContainerStatusUnknown',
        message: wasRunning ? this.messageOf(runtime, pod, 137) : 'The container could not be located when the pod was terminated',
        startedAt: runtime.startedAt,
      });
      pod.status.phase = 'Failed';
    }
    pod.metadata.deletionGracePeriodSeconds = 0;
    this.store.update('pods', fromTyped(pod));
  }
}
