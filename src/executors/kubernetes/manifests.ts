/**
 * The Kubernetes objects of one run: a batch/v1 Job and the ConfigMap carrying its files and
 * message. Pure functions of the RunSpec and the executor's settings, so the executor and
 * `jobwire render` produce byte-for-byte the same manifests, and tests can validate them
 * against the Kubernetes schemas without a cluster.
 *
 * Kubernetes retries: `backoffLimit` is the job's retry limit and `activeDeadlineSeconds` its
 * timeout (for all attempts together), so a Job keeps its semantics even while jobwire is down.
 * The ConfigMap is created first and owner-referenced to the Job once the Job exists (the
 * reference needs the Job's uid), so the cluster deletes it together with the Job.
 */
import type { V1ConfigMap, V1Job, V1OwnerReference } from '@kubernetes/client-node';
import type { KubernetesExecutorSettings } from '../../config/types.js';
import { PermanentError } from '../../core/errors.js';
import type { RunSpec } from '../executor.js';
import { runAnnotations, runJobName, runLabels } from './labels.js';
import { buildPodTemplate, mergeRuntime, runNamespace } from './pod-template.js';
import { runFilesData, type LoadedRunFile } from './run-files.js';

export { LABEL, ANNOTATION, MANAGED_BY, runJobName, runLabelSelector, runIdSelector, runIdLabelValue } from './labels.js';
export { loadRunFiles, MESSAGE_PATH, type LoadedRunFile } from './run-files.js';
export { CONTAINER_NAME } from './pod-template.js';

export interface RunManifests {
  readonly job: V1Job;
  /** Always present: it carries at least the message. Create it before the Job. */
  readonly configMap: V1ConfigMap;
  readonly namespace: string;
}

/**
 * The API server stores an object in one etcd request (1.5 MiB by default); env values carry
 * message data, so a Job bigger than this is refused here with a clear error instead.
 */
export const MAX_JOB_MANIFEST_BYTES = 1024 * 1024;

/** Builds the Job and ConfigMap of a run. Throws PermanentError when the spec cannot run. */
export function buildRunManifests(
  spec: RunSpec,
  settings: KubernetesExecutorSettings,
  files: readonly LoadedRunFile[],
): RunManifests {
  const runtime = mergeRuntime(settings.defaults, spec.runtime);
  const namespace = runNamespace(runtime, settings);
  const name = runJobName(spec.job, spec.runId);
  const labels = runLabels(spec);
  const annotations = runAnnotations(spec);
  const what = `run ${spec.runId} of job ${spec.job}`;
  const filesData = runFilesData(files, spec.messageJson, what);

  const configMap: V1ConfigMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace, labels: { ...labels }, annotations: { ...annotations } },
    // Nothing edits a run's files once it started.
    immutable: true,
    data: filesData.data,
    ...(Object.keys(filesData.binaryData).length === 0 ? {} : { binaryData: filesData.binaryData }),
  };

  const template = buildPodTemplate({ spec, settings, configMapName: name, files: filesData.entries, labels, annotations }, runtime);
  const job: V1Job = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace, labels: { ...labels }, annotations: { ...annotations } },
    spec: {
      backoffLimit: spec.retryLimit,
      ...(spec.timeoutMs === undefined ? {} : { activeDeadlineSeconds: Math.max(1, Math.ceil(spec.timeoutMs / 1000)) }),
      ...(runtime.ttlSecondsAfterFinished === undefined ? {} : { ttlSecondsAfterFinished: runtime.ttlSecondsAfterFinished }),
      template,
    },
  };
  const size = Buffer.byteLength(JSON.stringify(job));
  if (size > MAX_JOB_MANIFEST_BYTES) {
    throw new PermanentError(
      `the Job of ${what} would be ${size.toLocaleString('en-US')} bytes, over the ${MAX_JOB_MANIFEST_BYTES.toLocaleString('en-US')} bytes ` +
        'jobwire sends to the API server: an env value is too large; read big message data from $JOBWIRE_MESSAGE instead',
    );
  }
  return { job, configMap, namespace };
}

/**
 * The ownerReference that makes the cluster delete a run's ConfigMap with its Job. `job` is the
 * Job as returned by the API server (it has a uid). `blockOwnerDeletion` stays unset: setting it
 * needs `update` on jobs/finalizers where OwnerReferencesPermissionEnforcement is on (OpenShift),
 * and nothing needs the Job's deletion to wait for its ConfigMap.
 */
export function ownerReferenceTo(job: V1Job): V1OwnerReference {
  const name = job.metadata?.name;
  const uid = job.metadata?.uid;
  if (name === undefined || uid === undefined) {
    throw new PermanentError('an ownerReference needs a created Job (with metadata.name and metadata.uid)');
  }
  return { apiVersion: 'batch/v1', kind: 'Job', name, uid };
}
