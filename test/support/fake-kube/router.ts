/**
 * URL paths of the Kubernetes REST API, parsed into what they address:
 *   /api/v1/namespaces/{ns}/{plural}[/{name}[/{subresource}]]      core, namespaced
 *   /apis/{group}/{version}/namespaces/{ns}/{plural}[/{name}[/…]]   named groups (batch/v1)
 *   /api/v1/{plural}, /apis/{group}/{version}/{plural}               cluster-wide list / watch
 *   …/watch/…                                                       the deprecated watch prefix
 *   /api/v1/namespaces[/{ns}]                                       namespaces (all exist)
 *   /version, /api, /apis, /api/v1, /apis/batch/v1, /healthz …      discovery and health
 */
import { allResources, findResource, type ResourceDef } from './resources.js';

export type Route =
  | {
      readonly kind: 'resource';
      readonly resource: ResourceDef;
      readonly namespace?: string;
      readonly name?: string;
      readonly subresource?: string;
      readonly watchPrefix: boolean;
    }
  | { readonly kind: 'namespace'; readonly name?: string }
  | { readonly kind: 'document'; readonly body: unknown }
  | { readonly kind: 'health' };

export function route(path: string): Route | undefined {
  let segments: string[];
  try {
    segments = path.split('/').filter((segment) => segment !== '').map((segment) => decodeURIComponent(segment));
  } catch {
    return undefined;
  }
  const [first, second, third] = segments;
  if (segments.length === 1 && (first === 'healthz' || first === 'readyz' || first === 'livez')) return { kind: 'health' };
  if (segments.length === 1 && first === 'version') return { kind: 'document', body: version };
  if (segments.length === 1 && first === 'api') return { kind: 'document', body: { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] } };
  if (segments.length === 1 && first === 'apis') return { kind: 'document', body: groupList() };
  let group: string;
  let groupVersion: string;
  let rest: string[];
  if (first === 'api' && second === 'v1') {
    group = '';
    groupVersion = 'v1';
    rest = segments.slice(2);
  } else if (first === 'apis' && second !== undefined && third !== undefined) {
    group = second;
    groupVersion = third;
    rest = segments.slice(3);
  } else {
    return undefined;
  }
  if (rest.length === 0) return { kind: 'document', body: resourceList(group, groupVersion) };
  const watchPrefix = rest[0] === 'watch';
  if (watchPrefix) rest = rest.slice(1);
  if (group === '' && rest[0] === 'namespaces' && rest.length <= 2 && !watchPrefix) return { kind: 'namespace', name: rest[1] };
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    const resource = findResource(group, groupVersion, rest[2] ?? '');
    if (resource === undefined || rest.length > 5) return undefined;
    return { kind: 'resource', resource, namespace: rest[1], name: rest[3], subresource: rest[4], watchPrefix };
  }
  if (rest.length === 1) {
    const resource = findResource(group, groupVersion, rest[0] ?? '');
    return resource === undefined ? undefined : { kind: 'resource', resource, watchPrefix };
  }
  return undefined;
}

const version = {
  major: '1',
  minor: '31',
  gitVersion: 'v1.31.0-fake',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2024-08-13T00:00:00Z',
  goVersion: 'go1.22.5',
  compiler: 'gc',
  platform: 'linux/amd64',
};

function groupList(): unknown {
  const groups = [...new Set(allResources.filter((resource) => resource.group !== '').map((resource) => resource.group))];
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: groups.map((name) => {
      const versions = [...new Set(allResources.filter((resource) => resource.group === name).map((resource) => resource.version))];
      const entries = versions.map((entry) => ({ groupVersion: `${name}/${entry}`, version: entry }));
      return { name, versions: entries, preferredVersion: entries[0] };
    }),
  };
}

function resourceList(group: string, groupVersion: string): unknown {
  const verbs = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
  const resources = allResources
    .filter((resource) => resource.group === group && resource.version === groupVersion)
    .flatMap((resource) => {
      const entry = { name: resource.plural, singularName: resource.kind.toLowerCase(), namespaced: true, kind: resource.kind, verbs };
      return resource.plural === 'pods' ? [entry, { name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] }] : [entry];
    });
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group === '' ? groupVersion : `${group}/${groupVersion}`, resources };
}
