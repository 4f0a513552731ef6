/**
 * What a kubelet needs from the API before it can start a pod's containers, with the messages it
 * reports when something is missing:
 * - volumes from ConfigMaps and Secrets (plain or projected) must exist, else the pod stays
 *   ContainerCreating with a FailedMount event, and starts once they appear;
 * - env / envFrom references to ConfigMap and Secret keys must resolve, else the container waits
 *   with reason CreateContainerConfigError.
 * `optional: true` references never block, as on a real node.
 */
import { asConfigMap, isRecord, type PodObject } from './model.js';
import type { ObjectStore } from './store.js';

type Kind = 'configmap' | 'secret';

function lookup(store: ObjectStore, kind: Kind, namespace: string, name: string): Record<string, unknown> | undefined {
  const object = store.get(kind === 'configmap' ? 'configmaps' : 'secrets', namespace, name);
  if (object === undefined) return undefined;
  if (kind === 'configmap') {
    const configMap = asConfigMap(object);
    return { ...(configMap.data ?? {}), ...(configMap.binaryData ?? {}) };
  }
  const data = object['data'];
  const stringData = object['stringData'];
  return { ...(isRecord(data) ? data : {}), ...(isRecord(stringData) ? stringData : {}) };
}

interface Reference {
  readonly kind: Kind;
  readonly name: string;
  readonly optional: boolean;
  readonly keys: readonly string[];
}

/** The first volume that cannot be mounted yet: its name and why, in the kubelet's FailedMount words. */
export function missingVolume(store: ObjectStore, pod: PodObject): { volume: string; message: string } | undefined {
  const namespace = pod.metadata.namespace;
  for (const volume of pod.spec?.volumes ?? []) {
    const references: Reference[] = [];
    if (volume.configMap !== undefined) {
      references.push({ kind: 'configmap', name: volume.configMap.name ?? '', optional: volume.configMap.optional === true, keys: (volume.configMap.items ?? []).map((item) => item.key) });
    }
    if (volume.secret !== undefined) {
      references.push({ kind: 'secret', name: volume.secret.secretName ?? '', optional: volume.secret.optional === true, keys: (volume.secret.items ?? []).map((item) => item.key) });
    }
    for (const source of volume.projected?.sources ?? []) {
      if (source.configMap !== undefined) {
        references.push({ kind: 'configmap', name: source.configMap.name ?? '', optional: source.configMap.optional === true, keys: (source.configMap.items ?? []).map((item) => item.key) });
      }
      if (source.secret !== undefined) {
        references.push({ kind: 'secret', name: source.secret.name ?? '', optional: source.secret.optional === true, keys: (source.secret.items ?? []).map((item) => item.key) });
      }
    }
    for (const reference of references) {
      if (reference.optional) continue;
      const data = lookup(store, reference.kind, namespace, reference.name);
      if (data === undefined) return { volume: volume.name, message: `MountVolume.SetUp failed for volume "${volume.name}" : ${reference.kind} "${reference.name}" not found` };
      const absent = reference.keys.find((key) => !(key in data));
      if (absent !== undefined) {
        return { volume: volume.name, message: `MountVolume.SetUp failed for volume "${volume.name}" : ${reference.kind} references non-existent ${reference.kind === 'configmap' ? 'config' : 'secret'} key: ${absent}` };
      }
    }
  }
  return undefined;
}

/** Why a container's environment cannot be built (the CreateContainerConfigError message), if it cannot. */
export function envConfigError(store: ObjectStore, pod: PodObject): string | undefined {
  const namespace = pod.metadata.namespace;
  for (const container of pod.spec?.containers ?? []) {
    for (const source of container.envFrom ?? []) {
      if (source.configMapRef !== undefined && source.configMapRef.optional !== true && lookup(store, 'configmap', namespace, source.configMapRef.name ?? '') === undefined) {
        return `configmap "${source.configMapRef.name ?? ''}" not found`;
      }
      if (source.secretRef !== undefined && source.secretRef.optional !== true && lookup(store, 'secret', namespace, source.secretRef.name ?? '') === undefined) {
        return `secret "${source.secretRef.name ?? ''}" not found`;
      }
    }
    for (const variable of container.env ?? []) {
      const from = variable.valueFrom;
      const configMapRef = from?.configMapKeyRef;
      if (configMapRef !== undefined && configMapRef.optional !== true) {
        const data = lookup(store, 'configmap', namespace, configMapRef.name ?? '');
        if (data === undefined) return `configmap "${configMapRef.name ?? ''}" not found`;
        if (!(configMapRef.key in data)) return `couldn't find key ${configMapRef.key} in ConfigMap ${namespace}/${configMapRef.name ?? ''}`;
      }
      const secretRef = from?.secretKeyRef;
      if (secretRef !== undefined && secretRef.optional !== true) {
        const data = lookup(store, 'secret', namespace, secretRef.name ?? '');
        if (data === undefined) return `secret "${secretRef.name ?? ''}" not found`;
        if (!(secretRef.key in data)) return `couldn't find key ${secretRef.key} in Secret ${namespace}/${secretRef.name ?? ''}`;
      }
    }
  }
  return undefined;
}
