/**
 * What the API server fills in on create, before validation, so what a client reads back has the
 * shape it has on a cluster: server-owned metadata reset, a Job's spec defaults (completions,
 * parallelism, backoffLimit 6, completionMode, suspend, podReplacementPolicy) with its selector
 * and the four job labels on the template (they carry the uid, which is why the uid is chosen
 * here), pod spec defaults (dnsPolicy, schedulerName, terminationGracePeriodSeconds, container
 * imagePullPolicy and termination message fields), a Pod's initial status, and a Secret's
 * stringData folded into base64 data.
 */
import { asJob, asPod, clone, isRecord, newUid, type PodSpec, type StoredObject } from './model.js';
import type { ResourceDef } from './resources.js';
import type { DraftObject } from './store.js';

/** Server-side metadata reset and per-kind defaults. Returns the object with its new uid set. */
export function prepareForCreate(resource: ResourceDef, draft: DraftObject): DraftObject {
  const object = clone(draft);
  const meta = object.metadata;
  delete meta.resourceVersion;
  delete meta.creationTimestamp;
  delete meta.deletionTimestamp;
  delete meta.deletionGracePeriodSeconds;
  delete meta.selfLink;
  meta.uid = newUid();
  object.apiVersion = resource.apiVersion;
  object.kind = resource.kind;
  if (resource.hasGeneration) meta.generation = 1;
  else delete meta.generation;
  const stored = object as StoredObject;
  if (resource.plural === 'jobs') defaultJob(stored);
  if (resource.plural === 'pods') {
    const pod = asPod(stored);
    if (pod.spec !== undefined) defaultPodSpec(pod.spec, true);
    pod.status = { phase: 'Pending', qosClass: 'BestEffort' };
  }
  if (resource.plural === 'secrets') defaultSecret(stored);
  return object;
}

function defaultJob(object: StoredObject): void {
  const job = asJob(object);
  const uid = job.metadata.uid;
  job.status = {};
  const spec = job.spec;
  if (spec === undefined || !isPresent(spec.template)) return;
  if (spec.completions === undefined && spec.parallelism === undefined) spec.completions = 1;
  spec.parallelism ??= 1;
  spec.backoffLimit ??= 6;
  spec.completionMode ??= 'NonIndexed';
  spec.suspend ??= false;
  spec.podReplacementPolicy ??= spec.podFailurePolicy === undefined ? 'TerminatingOrFailed' : 'Failed';
  if (spec.manualSelector !== true) {
    spec.selector = { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } };
    const template = spec.template;
    template.metadata = {
      ...(template.metadata ?? {}),
      labels: {
        ...(template.metadata?.labels ?? {}),
        'batch.kubernetes.io/controller-uid': uid,
        'batch.kubernetes.io/job-name': job.metadata.name,
        'controller-uid': uid,
        'job-name': job.metadata.name,
      },
    };
  }
  if (spec.template.spec !== undefined) defaultPodSpec(spec.template.spec, false);
}

/** SetDefaults_PodSpec and SetDefaults_Container; a pod template keeps an empty restartPolicy. */
export function defaultPodSpec(spec: PodSpec, isPod: boolean): void {
  spec.dnsPolicy ??= 'ClusterFirst';
  if (isPod) spec.restartPolicy ??= 'Always';
  spec.schedulerName ??= 'default-scheduler';
  spec.securityContext ??= {};
  spec.terminationGracePeriodSeconds ??= 30;
  spec.enableServiceLinks ??= true;
  spec.preemptionPolicy ??= 'PreemptLowerPriority';
  spec.priority ??= 0;
  for (const container of spec.containers ?? []) {
    container.imagePullPolicy ??= pullsAlways(container.image ?? '') ? 'Always' : 'IfNotPresent';
    container.terminationMessagePath ??= '/dev/termination-log';
    container.terminationMessagePolicy ??= 'File';
    container.resources ??= {};
  }
  for (const volume of spec.volumes ?? []) {
    if (volume.configMap !== undefined) volume.configMap.defaultMode ??= 420;
    if (volume.secret !== undefined) volume.secret.defaultMode ??= 420;
    if (volume.projected !== undefined) volume.projected.defaultMode ??= 420;
  }
}

/** An image without a tag, or tagged :latest, defaults to imagePullPolicy Always. */
function pullsAlways(image: string): boolean {
  if (image.includes('@')) return false;
  const lastPart = image.split('/').pop() ?? '';
  return !lastPart.includes(':') || lastPart.endsWith(':latest');
}

function defaultSecret(object: StoredObject): void {
  const data: Record<string, unknown> = isRecord(object['data']) ? { ...object['data'] } : {};
  const stringData = object['stringData'];
  if (isRecord(stringData)) {
    for (const [key, value] of Object.entries(stringData)) data[key] = Buffer.from(String(value)).toString('base64');
  }
  delete object['stringData'];
  if (Object.keys(data).length > 0) object['data'] = data;
  object['type'] ??= 'Opaque';
}

/** Wire data may lack fields the types call required. */
function isPresent(value: unknown): boolean {
  return typeof value === 'object' && value !== null;
}
