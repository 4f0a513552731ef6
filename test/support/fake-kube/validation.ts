/**
 * The API server's validation for what the fake stores, with its messages word for word where
 * jobwire could meet them: names (RFC 1123), label keys and values, a Job's pod template
 * (restartPolicy, containers, env names, volume mounts), ConfigMap keys and size, and the fields
 * that may not change on update. Each problem is a Status cause; any cause means 422 Invalid.
 */
import { isDeepStrictEqual } from 'node:util';
import { asConfigMap, asJob, asPod, isRecord, type PodSpec, type StoredObject } from './model.js';
import type { ResourceDef } from './resources.js';
import type { StatusCause } from './status.js';

const dns1123Label = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const dns1123Subdomain = `${dns1123Label}(\\.${dns1123Label})*`;
const qualifiedName = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const labelValue = `(${qualifiedName})?`;
const envVarName = '[-._a-zA-Z][-._a-zA-Z0-9]*';
const configKey = '[-._a-zA-Z0-9]+';
const maxConfigMapBytes = 1024 * 1024;

const full = (pattern: string): RegExp => new RegExp(`^(?:${pattern})$`);

function regexError(message: string, pattern: string, ...examples: string[]): string {
  const eg = examples.map((example) => `'${example}'`).join(',  or ');
  return `${message} (e.g. ${eg}, regex used for validation is '${pattern}')`;
}

const maxLen = (n: number): string => `must be no more than ${n} characters`;

export function dns1123SubdomainErrors(value: string): string[] {
  const out: string[] = [];
  if (value.length > 253) out.push(maxLen(253));
  if (!full(dns1123Subdomain).test(value)) {
    out.push(regexError("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character", dns1123Subdomain, 'example.com'));
  }
  return out;
}

export function dns1123LabelErrors(value: string): string[] {
  const out: string[] = [];
  if (value.length > 63) out.push(maxLen(63));
  if (!full(dns1123Label).test(value)) {
    out.push(regexError("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character", dns1123Label, 'my-name', '123-abc'));
  }
  return out;
}

/** IsQualifiedName: an optional DNS subdomain prefix, '/', and a name part of ≤ 63 characters. */
export function labelKeyErrors(key: string): string[] {
  const parts = key.split('/');
  const nameRule = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
  if (parts.length > 2) {
    return [`a qualified name ${regexError(nameRule, qualifiedName, 'MyName', 'my.name', '123-abc')} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`];
  }
  const out: string[] = [];
  const name = parts.length === 2 ? (parts[1] ?? '') : key;
  if (parts.length === 2) {
    const prefix = parts[0] ?? '';
    if (prefix === '') out.push('prefix part must be non-empty');
    else out.push(...dns1123SubdomainErrors(prefix).map((message) => `prefix part ${message}`));
  }
  if (name === '') out.push('name part must be non-empty');
  else if (name.length > 63) out.push(`name part ${maxLen(63)}`);
  if (name !== '' && !full(qualifiedName).test(name)) out.push(`name part ${regexError(nameRule, qualifiedName, 'MyName', 'my.name', '123-abc')}`);
  return out;
}

export function labelValueErrors(value: string): string[] {
  const out: string[] = [];
  if (value.length > 63) out.push(maxLen(63));
  if (!full(labelValue).test(value)) {
    out.push(regexError("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character", labelValue, 'MyValue', 'my_value', '12345'));
  }
  return out;
}

const show = (value: unknown): string => JSON.stringify(value) ?? 'null';
const invalidValue = (field: string, value: unknown, detail: string): StatusCause => ({ reason: 'FieldValueInvalid', field, message: `Invalid value: ${show(value)}: ${detail}` });
const required = (field: string, detail?: string): StatusCause => ({ reason: 'FieldValueRequired', field, message: detail === undefined ? 'Required value' : `Required value: ${detail}` });
const notSupported = (field: string, value: unknown, supported: readonly string[]): StatusCause => ({
  reason: 'FieldValueNotSupported',
  field,
  message: `Unsupported value: ${show(value)}: supported values: ${supported.map((entry) => `"${entry}"`).join(', ')}`,
});
const notFoundIn = (field: string, value: unknown): StatusCause => ({ reason: 'FieldValueNotFound', field, message: `Not found: ${show(value)}` });
const forbidden = (field: string, detail: string): StatusCause => ({ reason: 'FieldValueForbidden', field, message: `Forbidden: ${detail}` });

function labelCauses(field: string, labels: unknown): StatusCause[] {
  if (labels === undefined) return [];
  if (!isRecord(labels)) return [invalidValue(field, labels, 'labels must be a map of strings')];
  const out: StatusCause[] = [];
  for (const [key, value] of Object.entries(labels)) {
    for (const message of labelKeyErrors(key)) out.push(invalidValue(field, key, message));
    if (typeof value !== 'string') out.push(invalidValue(field, value, 'label values must be strings'));
    else for (const message of labelValueErrors(value)) out.push(invalidValue(field, value, message));
  }
  return out;
}

/** Checks common to every object: name (or generateName) and labels. */
export function validateMeta(resource: ResourceDef, object: StoredObject): StatusCause[] {
  const meta = object.metadata;
  const out: StatusCause[] = [];
  if (meta.name === '') out.push(required('metadata.name', 'name or generateName is required'));
  else if (resource.plural !== 'events') for (const message of dns1123SubdomainErrors(meta.name)) out.push(invalidValue('metadata.name', meta.name, message));
  out.push(...labelCauses('metadata.labels', meta.labels));
  return out;
}

/** Per-resource checks on create (after defaulting). */
export function validateObject(resource: ResourceDef, object: StoredObject): StatusCause[] {
  const out = validateMeta(resource, object);
  if (resource.plural === 'jobs') out.push(...validateJob(object));
  if (resource.plural === 'pods') {
    const spec = asPod(object).spec;
    if (spec === undefined) out.push(required('spec'));
    else out.push(...validatePodSpec('spec', spec, ['Always', 'OnFailure', 'Never']));
  }
  if (resource.plural === 'configmaps') out.push(...validateConfigMap(object));
  return out;
}

function validateJob(object: StoredObject): StatusCause[] {
  const job = asJob(object);
  const spec = job.spec;
  if (spec === undefined) return [required('spec')];
  const out: StatusCause[] = [];
  for (const field of ['backoffLimit', 'completions', 'parallelism', 'ttlSecondsAfterFinished'] as const) {
    const value = spec[field];
    if (value !== undefined && value < 0) out.push(invalidValue(`spec.${field}`, value, 'must be greater than or equal to 0'));
  }
  if (spec.activeDeadlineSeconds !== undefined && spec.activeDeadlineSeconds <= 0) {
    out.push(invalidValue('spec.activeDeadlineSeconds', spec.activeDeadlineSeconds, 'must be greater than 0'));
  }
  // The controller copies the Job's name into the pods' job-name label, so it must fit a label value.
  if (job.metadata.name.length > 63) out.push(invalidValue('spec.template.labels', job.metadata.name, maxLen(63)));
  // Objects come off the wire: fields the types call required may still be missing.
  if (typeof spec.template !== 'object' || (spec.template as unknown) === null) return [...out, required('spec.template')];
  out.push(...labelCauses('spec.template.metadata.labels', spec.template.metadata?.labels));
  const podSpec = spec.template.spec;
  if (podSpec === undefined) out.push(required('spec.template.spec'));
  else out.push(...validatePodSpec('spec.template.spec', podSpec, ['OnFailure', 'Never']));
  return out;
}

function validatePodSpec(path: string, spec: PodSpec, restartPolicies: readonly string[]): StatusCause[] {
  const out: StatusCause[] = [];
  const policy = spec.restartPolicy ?? '';
  if (!restartPolicies.includes('Always')) {
    // A Job's template: the API server answers "Required value" for a missing and a wrong policy alike.
    if (!restartPolicies.includes(policy)) out.push(required(`${path}.restartPolicy`, `valid values: ${restartPolicies.map((entry) => `"${entry}"`).join(', ')}`));
  } else if (policy !== '' && !restartPolicies.includes(policy)) {
    out.push(notSupported(`${path}.restartPolicy`, policy, restartPolicies));
  }
  const volumeNames = new Set<string>();
  (spec.volumes ?? []).forEach((volume, index) => {
    const field = `${path}.volumes[${index}].name`;
    if ((volume.name ?? '') === '') out.push(required(field));
    else for (const message of dns1123LabelErrors(volume.name)) out.push(invalidValue(field, volume.name, message));
    if (volumeNames.has(volume.name)) out.push({ reason: 'FieldValueDuplicate', field, message: `Duplicate value: ${show(volume.name)}` });
    volumeNames.add(volume.name);
    if (volume.configMap !== undefined && (volume.configMap.name ?? '') === '') out.push(required(`${path}.volumes[${index}].configMap.name`));
  });
  const containers = spec.containers ?? [];
  if (containers.length === 0) out.push(required(`${path}.containers`));
  const names = new Set<string>();
  containers.forEach((container, index) => {
    const at = `${path}.containers[${index}]`;
    if ((container.name ?? '') === '') out.push(required(`${at}.name`));
    else for (const message of dns1123LabelErrors(container.name)) out.push(invalidValue(`${at}.name`, container.name, message));
    if (names.has(container.name)) out.push({ reason: 'FieldValueDuplicate', field: `${at}.name`, message: `Duplicate value: ${show(container.name)}` });
    names.add(container.name);
    if ((container.image ?? '') === '') out.push(required(`${at}.image`));
    (container.env ?? []).forEach((variable, envIndex) => {
      const field = `${at}.env[${envIndex}].name`;
      if ((variable.name ?? '') === '') out.push(required(field));
      else if (!full(envVarName).test(variable.name)) {
        out.push(invalidValue(field, variable.name, regexError("a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit", envVarName, 'my.env-name', 'MY_ENV.NAME', 'MyEnvName1')));
      }
    });
    (container.volumeMounts ?? []).forEach((mount, mountIndex) => {
      const field = `${at}.volumeMounts[${mountIndex}]`;
      if (!volumeNames.has(mount.name)) out.push(notFoundIn(`${field}.name`, mount.name));
      if ((mount.mountPath ?? '') === '') out.push(required(`${field}.mountPath`));
    });
  });
  return out;
}

function validateConfigMap(object: StoredObject): StatusCause[] {
  const configMap = asConfigMap(object);
  const out: StatusCause[] = [];
  let bytes = 0;
  for (const [section, entries] of [['data', configMap.data ?? {}], ['binaryData', configMap.binaryData ?? {}]] as const) {
    for (const [key, value] of Object.entries(entries)) {
      if (key.length > 253) out.push(invalidValue(`${section}[${key}]`, key, maxLen(253)));
      if (!full(configKey).test(key)) {
        out.push(invalidValue(`${section}[${key}]`, key, regexError("a valid config key must consist of alphanumeric characters, '-', '_' or '.'", configKey, 'key.name', 'KEY_NAME', 'key-name')));
      }
      bytes += key.length + Buffer.byteLength(String(value));
    }
  }
  for (const key of Object.keys(configMap.binaryData ?? {})) {
    if (configMap.data !== undefined && key in configMap.data) out.push(invalidValue(`data[${key}]`, key, 'duplicate of key present in binaryData'));
  }
  if (bytes > maxConfigMapBytes) out.push({ reason: 'FieldValueTooLong', field: '', message: `Too long: must have at most ${maxConfigMapBytes} bytes` });
  return out;
}

/** Fields the API server refuses to change on update (PUT or PATCH). */
export function validateUpdate(resource: ResourceDef, before: StoredObject, after: StoredObject): StatusCause[] {
  const out = validateObject(resource, after);
  if (resource.plural === 'jobs') {
    const old = asJob(before).spec;
    const next = asJob(after).spec;
    for (const field of ['template', 'selector', 'completions', 'completionMode'] as const) {
      if (!isDeepStrictEqual(old?.[field], next?.[field])) out.push(invalidValue(`spec.${field}`, next?.[field], 'field is immutable'));
    }
  }
  if (resource.plural === 'pods') {
    const strip = (spec: PodSpec | undefined): unknown => spec && { ...spec, activeDeadlineSeconds: undefined, containers: spec.containers.map((container) => ({ ...container, image: undefined })) };
    if (!isDeepStrictEqual(strip(asPod(before).spec), strip(asPod(after).spec))) {
      out.push(forbidden('spec', 'pod updates may not change fields other than `spec.containers[*].image`, `spec.activeDeadlineSeconds`, `spec.tolerations` (only additions to existing tolerations) or `spec.terminationGracePeriodSeconds`'));
    }
  }
  if (resource.plural === 'configmaps' && asConfigMap(before).immutable === true) {
    const old = asConfigMap(before);
    const next = asConfigMap(after);
    if (!isDeepStrictEqual(old.data, next.data) || !isDeepStrictEqual(old.binaryData, next.binaryData)) out.push(forbidden('data', 'field is immutable when `immutable` is set'));
  }
  return out;
}
