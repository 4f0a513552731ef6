/**
 * The resource types the fake serves, with the per-type facts the real API server encodes in
 * each registry: group/version, list kind, whether DELETE answers with the deleted object or a
 * Success Status, the default deletion propagation (batch/v1 Jobs still orphan their pods by
 * default, with a warning), whether status is a subresource (ignored on create/update), and
 * which fields `fieldSelector` supports.
 */

export type PropagationPolicy = 'Orphan' | 'Background' | 'Foreground';

export interface ResourceDef {
  readonly plural: string;
  readonly kind: string;
  readonly group: string;
  readonly version: string;
  /** apiVersion as written in objects: `v1` or `batch/v1`. */
  readonly apiVersion: string;
  readonly listKind: string;
  readonly returnsDeletedObject: boolean;
  readonly defaultPropagation: PropagationPolicy;
  /** The warning header the server adds when the default propagation applied. */
  readonly defaultPropagationWarning?: string;
  readonly hasStatus: boolean;
  readonly hasGeneration: boolean;
  readonly fieldSelectors: readonly string[];
}

const commonFields = ['metadata.name', 'metadata.namespace'];

function core(plural: string, kind: string, extra: Partial<ResourceDef> = {}): ResourceDef {
  return {
    plural,
    kind,
    group: '',
    version: 'v1',
    apiVersion: 'v1',
    listKind: `${kind}List`,
    returnsDeletedObject: false,
    defaultPropagation: 'Background',
    hasStatus: false,
    hasGeneration: false,
    fieldSelectors: commonFields,
    ...extra,
  };
}

export const jobs: ResourceDef = {
  plural: 'jobs',
  kind: 'Job',
  group: 'batch',
  version: 'v1',
  apiVersion: 'batch/v1',
  listKind: 'JobList',
  returnsDeletedObject: false,
  defaultPropagation: 'Orphan',
  defaultPropagationWarning:
    '299 - "child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning"',
  hasStatus: true,
  hasGeneration: true,
  fieldSelectors: [...commonFields, 'status.successful'],
};

export const pods = core('pods', 'Pod', {
  returnsDeletedObject: true,
  hasStatus: true,
  fieldSelectors: [
    ...commonFields,
    'spec.nodeName',
    'spec.restartPolicy',
    'spec.schedulerName',
    'spec.serviceAccountName',
    'status.phase',
    'status.podIP',
    'status.nominatedNodeName',
  ],
});

export const configMaps = core('configmaps', 'ConfigMap');
export const secrets = core('secrets', 'Secret', { fieldSelectors: [...commonFields, 'type'] });
export const events = core('events', 'Event', {
  fieldSelectors: [
    ...commonFields,
    'involvedObject.kind',
    'involvedObject.namespace',
    'involvedObject.name',
    'involvedObject.uid',
    'involvedObject.apiVersion',
    'involvedObject.resourceVersion',
    'involvedObject.fieldPath',
    'reason',
    'reportingComponent',
    'source',
    'type',
  ],
});

export const allResources: readonly ResourceDef[] = [jobs, pods, configMaps, secrets, events];

/** The resource served under /api/v1 (group '') or /apis/{group}/{version}, by plural. */
export function findResource(group: string, version: string, plural: string): ResourceDef | undefined {
  return allResources.find((resource) => resource.group === group && resource.version === version && resource.plural === plural);
}

export function resourceByPlural(plural: string): ResourceDef {
  const found = allResources.find((resource) => resource.plural === plural);
  if (found === undefined) throw new Error(`fake-kube: unknown resource ${plural}`);
  return found;
}
