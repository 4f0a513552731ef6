/**
 * Validates Kubernetes manifests without a cluster, as strictly as the API server and the
 * kubelet would: the official OpenAPI schemas (kubernetes-models), unknown fields (as `kubectl
 * apply --validate=strict` rejects them; walked with @kubernetes/client-node's generated type
 * map), and the rules the schemas cannot express — names, label keys and values, ConfigMap keys,
 * volume and mount references, env names.
 */
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';

type Validator = (doc: Record<string, unknown>) => void;

/** Schema validation per `apiVersion/kind`; `new Model(doc).validate()` throws when invalid. */
const SCHEMAS: Readonly<Record<string, Validator>> = {
  'v1/ConfigMap': (doc) => new ConfigMap(doc as ConstructorParameters<typeof ConfigMap>[0]).validate(),
  'v1/Namespace': (doc) => new Namespace(doc as ConstructorParameters<typeof Namespace>[0]).validate(),
  'v1/Service': (doc) => new Service(doc as ConstructorParameters<typeof Service>[0]).validate(),
  'v1/ServiceAccount': (doc) => new ServiceAccount(doc as ConstructorParameters<typeof ServiceAccount>[0]).validate(),
  'v1/PersistentVolumeClaim': (doc) => new PersistentVolumeClaim(doc as ConstructorParameters<typeof PersistentVolumeClaim>[0]).validate(),
  'batch/v1/Job': (doc) => new Job(doc as ConstructorParameters<typeof Job>[0]).validate(),
  'batch/v1/CronJob': (doc) => new CronJob(doc as ConstructorParameters<typeof CronJob>[0]).validate(),
  'apps/v1/Deployment': (doc) => new Deployment(doc as ConstructorParameters<typeof Deployment>[0]).validate(),
  'rbac.authorization.k8s.io/v1/Role': (doc) => new Role(doc as ConstructorParameters<typeof Role>[0]).validate(),
  'rbac.authorization.k8s.io/v1/RoleBinding': (doc) => new RoleBinding(doc as ConstructorParameters<typeof RoleBinding>[0]).validate(),
};

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const CONFIGMAP_KEY = /^[-._a-zA-Z0-9]+$/;
/** What the API server accepts as an env var name (printable ASCII, no `=`); jobwire's are stricter. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function isDnsLabel(name: string): boolean {
  return name.length <= 63 && DNS_LABEL.test(name);
}

export function isLabelValue(value: string): boolean {
  return value.length <= 63 && LABEL_VALUE.test(value);
}

/** A label or annotation key: optional DNS-subdomain prefix and `/`, then a qualified name ≤ 63. */
export function isQualifiedKey(key: string): boolean {
  const slash = key.lastIndexOf('/');
  const prefix = slash === -1 ? undefined : key.slice(0, slash);
  const name = slash === -1 ? key : key.slice(slash + 1);
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) return false;
  return name.length <= 63 && QUALIFIED_NAME.test(name);
}

/**
 * Throws (an AssertionError naming the path) unless `doc` is a manifest the API server would
 * accept. `siblings` are the other documents applied with it (a pod's ConfigMap, to check keys).
 */
export function validateManifest(doc: unknown, siblings: readonly unknown[] = []): void {
  assert.ok(isRecord(doc), 'a manifest is an object');
  const kind = String(doc['kind']);
  const type = `${String(doc['apiVersion'])}/${kind}`;
  const schema = SCHEMAS[type];
  assert.ok(schema !== undefined, `no schema for ${type} in this validator`);
  schema(doc);
  checkKnownFields(doc, `V1${kind}`, kind);
  const metadata = doc['metadata'];
  assert.ok(isRecord(metadata), `${kind}: metadata`);
  checkMetadata(metadata, kind);
  const name = String(metadata['name']);
  if (kind === 'Job') assert.ok(isDnsLabel(name), `Job name ${name} must be a DNS-1123 label ≤ 63 (its pods get a job-name label)`);
  else if (kind === 'CronJob') assert.ok(name.length <= 52 && DNS_SUBDOMAIN.test(name), `CronJob name ${name} must be a DNS subdomain ≤ 52`);
  else if (kind === 'Namespace') assert.ok(isDnsLabel(name), `Namespace name ${name} must be a DNS-1123 label`);
  else if (kind === 'Service') assert.ok(name.length <= 63 && DNS_1035.test(name), `Service name ${name} must be a DNS-1035 label`);
  else assert.ok(name.length <= 253 && DNS_SUBDOMAIN.test(name), `${kind} name ${name} must be a DNS subdomain`);
  if (kind === 'ConfigMap') checkConfigMap(doc);
  const configMaps = siblings.filter((sibling): sibling is Record<string, unknown> => isRecord(sibling) && sibling['kind'] === 'ConfigMap');
  for (const template of podTemplates(doc)) checkPodTemplate(template, `${kind} ${name}`, configMaps);
}

/** Every key must be a field of the object's API type: what `--validate=strict` enforces. */
function checkKnownFields(value: unknown, type: string, path: string): void {
  if (value === undefined || value === null) return;
  const array = /^Array<(.+)>$/.exec(type);
  if (array !== null) {
    assert.ok(Array.isArray(value), `${path} must be a list`);
    value.forEach((item, index) => checkKnownFields(item, array[1]!, `${path}[${index}]`));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map !== null) {
    assert.ok(isRecord(value), `${path} must be a map`);
    for (const [key, item] of Object.entries(value)) checkKnownFields(item, map[1]!, `${path}.${key}`);
    return;
  }
  const model = (k8s as unknown as Record<string, { getAttributeTypeMap?: () => { baseName: string; type: string }[] } | undefined>)[type];
  if (model?.getAttributeTypeMap === undefined) return; // a scalar: string, number, IntOrString, Date…
  assert.ok(isRecord(value), `${path} must be an object (${type})`);
  const fields = new Map(model.getAttributeTypeMap().map((field) => [field.baseName, field.type]));
  for (const [key, item] of Object.entries(value)) {
    const fieldType = fields.get(key);
    assert.ok(fieldType !== undefined, `${path}.${key} is not a field of ${type}`);
    checkKnownFields(item, fieldType, `${path}.${key}`);
  }
}

function checkMetadata(metadata: Record<string, unknown>, kind: string): void {
  const namespace = metadata['namespace'];
  if (namespace !== undefined) assert.ok(isDnsLabel(String(namespace)), `${kind}: namespace ${String(namespace)}`);
  const labels = (metadata['labels'] ?? {}) as Record<string, string>;
  for (const [key, value] of Object.entries(labels)) {
    assert.ok(isQualifiedKey(key), `${kind}: label key ${key}`);
    assert.ok(isLabelValue(value), `${kind}: label ${key} has an invalid value ${JSON.stringify(value)}`);
  }
  const annotations = (metadata['annotations'] ?? {}) as Record<string, string>;
  let total = 0;
  for (const [key, value] of Object.entries(annotations)) {
    assert.ok(isQualifiedKey(key), `${kind}: annotation key ${key}`);
    assert.equal(typeof value, 'string', `${kind}: annotation ${key} must be a string`);
    total += key.length + value.length;
  }
  assert.ok(total <= 256 * 1024, `${kind}: annotations total ${total} bytes, over 256 KiB`);
}

function checkConfigMap(doc: Record<string, unknown>): void {
  const data = (doc['data'] ?? {}) as Record<string, string>;
  const binary = (doc['binaryData'] ?? {}) as Record<string, string>;
  let total = 0;
  for (const [key, value] of Object.entries(data)) {
    checkConfigMapKey(key);
    assert.ok(!(key in binary), `ConfigMap key ${key} is in both data and binaryData`);
    total += key.length + Buffer.byteLength(value);
  }
  for (const [key, value] of Object.entries(binary)) {
    checkConfigMapKey(key);
    assert.match(value, /^[A-Za-z0-9+/]*={0,2}$/, `binaryData ${key} must be base64`);
    total += key.length + Buffer.from(value, 'base64').length;
  }
  assert.ok(total <= 1024 * 1024, `ConfigMap data is ${total} bytes, over the 1 MiB limit`);
}

function checkConfigMapKey(key: string): void {
  assert.ok(key.length <= 253 && CONFIGMAP_KEY.test(key) && key !== '.' && key !== '..' && !key.startsWith('..'), `ConfigMap key ${key}`);
}

function podTemplates(doc: Record<string, unknown>): Record<string, unknown>[] {
  const spec = doc['spec'] as Record<string, unknown> | undefined;
  if (doc['kind'] === 'CronJob') {
    const jobTemplate = spec?.['jobTemplate'] as Record<string, unknown>;
    return [(jobTemplate['spec'] as Record<string, unknown>)['template'] as Record<string, unknown>];
  }
  if (doc['kind'] === 'Job' || doc['kind'] === 'Deployment') return [spec?.['template'] as Record<string, unknown>];
  return [];
}

function checkPodTemplate(template: Record<string, unknown>, what: string, configMaps: readonly Record<string, unknown>[]): void {
  const metadata = (template['metadata'] ?? {}) as Record<string, unknown>;
  checkMetadata(metadata, `${what} pod template`);
  const spec = template['spec'] as Record<string, unknown>;
  const volumes = new Map<string, Record<string, unknown>>();
  for (const volume of (spec['volumes'] ?? []) as Record<string, unknown>[]) {
    const name = String(volume['name']);
    assert.ok(isDnsLabel(name), `${what}: volume name ${name}`);
    assert.ok(!volumes.has(name), `${what}: volume ${name} twice`);
    volumes.set(name, volume);
    const configMap = volume['configMap'] as Record<string, unknown> | undefined;
    if (configMap !== undefined) checkConfigMapVolume(configMap, what, configMaps);
  }
  const containers = [...((spec['initContainers'] ?? []) as Record<string, unknown>[]), ...((spec['containers'] ?? []) as Record<string, unknown>[])];
  assert.ok(containers.length > 0, `${what}: no containers`);
  for (const container of containers) {
    assert.ok(isDnsLabel(String(container['name'])), `${what}: container name`);
    assert.ok(typeof container['image'] === 'string' && container['image'] !== '', `${what}: container image`);
    const names = new Set<string>();
    for (const env of (container['env'] ?? []) as Record<string, unknown>[]) {
      const name = String(env['name']);
      assert.ok(ENV_NAME.test(name), `${what}: env name ${name}`);
      assert.ok(!names.has(name), `${what}: env ${name} twice`);
      names.add(name);
      assert.ok(env['value'] === undefined || env['valueFrom'] === undefined, `${what}: env ${name} has both value and valueFrom`);
    }
    const mountPaths = new Set<string>();
    for (const mount of (container['volumeMounts'] ?? []) as Record<string, unknown>[]) {
      const volume = volumes.get(String(mount['name']));
      assert.ok(volume !== undefined, `${what}: mount of unknown volume ${String(mount['name'])}`);
      const mountPath = String(mount['mountPath']);
      assert.ok(mountPath.startsWith('/'), `${what}: mountPath ${mountPath} must be absolute`);
      assert.ok(!mountPaths.has(mountPath), `${what}: mountPath ${mountPath} twice`);
      mountPaths.add(mountPath);
      const subPath = mount['subPath'];
      if (subPath !== undefined) {
        checkRelative(String(subPath), `${what}: subPath`);
        const items = ((volume['configMap'] as Record<string, unknown> | undefined)?.['items'] ?? []) as Record<string, unknown>[];
        if (items.length > 0) assert.ok(items.some((item) => item['path'] === subPath), `${what}: subPath ${String(subPath)} is not an item path`);
      }
    }
  }
}

function checkConfigMapVolume(volume: Record<string, unknown>, what: string, configMaps: readonly Record<string, unknown>[]): void {
  const source = configMaps.find((configMap) => (configMap['metadata'] as Record<string, unknown>)['name'] === volume['name']);
  for (const item of (volume['items'] ?? []) as Record<string, unknown>[]) {
    checkRelative(String(item['path']), `${what}: item path`);
    const mode = item['mode'];
    if (mode !== undefined) assert.ok(Number.isInteger(mode) && (mode as number) >= 0 && (mode as number) <= 0o777, `${what}: item mode`);
    if (source !== undefined) {
      const key = String(item['key']);
      const present = key in ((source['data'] ?? {}) as object) || key in ((source['binaryData'] ?? {}) as object);
      assert.ok(present, `${what}: item key ${key} is not in ConfigMap ${String(volume['name'])}`);
    }
  }
}

function checkRelative(path: string, what: string): void {
  assert.ok(path !== '' && !path.startsWith('/') && !path.startsWith('..') && !path.split('/').includes('..'), `${what} ${path}`);
}
