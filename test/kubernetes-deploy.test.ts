/**
 * deploy/ — the kustomize base that runs jobwire in a cluster — built with the real `kubectl
 * kustomize` (offline) and every resulting document validated against the Kubernetes schemas
 * and API rules; plus what the base promises: least-privilege RBAC in the job namespace only,
 * probes on /healthz and /readyz, a config jobwire accepts, the OpenShift component.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { compileConfig } from '../src/config/load.js';
import { validateManifest } from './support/kube-validate.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DEPLOY = path.join(ROOT, 'deploy');
const KUBECTL = '/usr/bin/kubectl';

/** A parsed YAML document, walked by path: the assertions are its type check. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Doc = Record<string, any>;

function kustomize(dir: string): Doc[] {
  const result = spawnSync(KUBECTL, ['kustomize', dir], { encoding: 'utf8' });
  assert.equal(result.status, 0, `kubectl kustomize ${dir} failed: ${result.stderr}`);
  return parseAllDocuments(result.stdout).map((doc) => {
    assert.deepEqual(doc.errors, []);
    return doc.toJS() as Doc;
  });
}

function find(docs: readonly Doc[], kind: string, name: string): Doc {
  const found = docs.find((doc) => doc['kind'] === kind && String(doc['metadata']['name']).startsWith(name));
  assert.ok(found !== undefined, `${kind} ${name} is in the build`);
  return found;
}

describe('deploy/ kustomize base', () => {
  it('builds with kubectl kustomize into documents the API server accepts', () => {
    const docs = kustomize(DEPLOY);
    assert.deepEqual(
      docs.map((doc) => `${doc['kind']}/${doc['metadata']['namespace'] ?? '-'}`).sort(),
      [
        'ConfigMap/jobwire',
        'Deployment/jobwire',
        'Namespace/-',
        'Namespace/-',
        'PersistentVolumeClaim/jobwire',
        'Role/jobwire-jobs',
        'RoleBinding/jobwire-jobs',
        'Service/jobwire',
        'ServiceAccount/jobwire',
      ],
    );
    for (const doc of docs) validateManifest(doc, docs);
  });

  it('gives jobwire least-privilege rights in the job namespace only', () => {
    const docs = kustomize(DEPLOY);
    const role = find(docs, 'Role', 'jobwire-runner');
    assert.deepEqual(role['rules'], [
      { apiGroups: ['batch'], resources: ['jobs'], verbs: ['create', 'get', 'list', 'watch', 'delete'] },
      { apiGroups: [''], resources: ['pods', 'pods/log'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['configmaps'], verbs: ['create', 'get', 'list', 'watch', 'delete', 'patch'] },
      { apiGroups: [''], resources: ['events'], verbs: ['get', 'list', 'watch'] },
    ]);
    const binding = find(docs, 'RoleBinding', 'jobwire-runner');
    assert.equal(binding['metadata']['namespace'], 'jobwire-jobs');
    assert.deepEqual(binding['roleRef'], { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'jobwire-runner' });
    assert.deepEqual(binding['subjects'], [{ kind: 'ServiceAccount', name: 'jobwire', namespace: 'jobwire' }]);
    assert.ok(!docs.some((doc) => doc['kind'] === 'ClusterRole' || doc['kind'] === 'ClusterRoleBinding'), 'no cluster-wide rights');
    const configMap = find(docs, 'ConfigMap', 'jobwire-config');
    const config = compileConfig(configMap['data']['jobwire.yaml'], '/etc/jobwire/jobwire.yaml', {});
    for (const executor of config.executors.values()) {
      if (executor.type !== 'kubernetes') continue;
      for (const namespace of executor.settings.namespaces) {
        assert.ok(
          docs.some((doc) => doc['kind'] === 'RoleBinding' && doc['metadata']['namespace'] === namespace),
          `the config runs jobs in ${namespace}, so the base grants jobwire rights there`,
        );
      }
    }
  });

  it('runs jobwire serve non-root with its config, probes on /healthz and /readyz, and a data volume', () => {
    const docs = kustomize(DEPLOY);
    const deployment = find(docs, 'Deployment', 'jobwire');
    const pod = deployment['spec']['template']['spec'];
    const container = pod['containers'][0];
    assert.equal(pod['serviceAccountName'], 'jobwire');
    assert.equal(deployment['spec']['strategy']['type'], 'Recreate');
    assert.deepEqual(container['args'].slice(0, 2), ['serve', '--config=/etc/jobwire/jobwire.yaml']);
    assert.ok(container['args'].includes('--host=0.0.0.0'));
    assert.equal(container['livenessProbe']['httpGet']['path'], '/healthz');
    assert.equal(container['readinessProbe']['httpGet']['path'], '/readyz');
    assert.equal(container['ports'][0]['containerPort'], 8080);
    assert.equal(pod['securityContext']['runAsNonRoot'], true);
    assert.equal(pod['securityContext']['runAsUser'], undefined, 'no fixed UID');
    assert.equal(container['securityContext']['allowPrivilegeEscalation'], false);
    assert.equal(container['securityContext']['readOnlyRootFilesystem'], true);
    const configVolume = pod['volumes'].find((volume: Doc) => volume['name'] === 'config');
    assert.equal(configVolume['configMap']['name'], find(docs, 'ConfigMap', 'jobwire-config')['metadata']['name'], 'the generated (hashed) name');
    const data = pod['volumes'].find((volume: Doc) => volume['name'] === 'data');
    assert.equal(data['persistentVolumeClaim']['claimName'], find(docs, 'PersistentVolumeClaim', 'jobwire-data')['metadata']['name']);
    const service = find(docs, 'Service', 'jobwire');
    assert.deepEqual(service['spec']['selector'], deployment['spec']['selector']['matchLabels']);
  });

  it('has an OpenShift component that leaves UID and fsGroup to the SCC', () => {
    const overlay = mkdtempSync(path.join(tmpdir(), 'jobwire-overlay-'));
    writeFileSync(
      path.join(overlay, 'kustomization.yaml'),
      // kustomize wants relative paths to bases and components.
      `resources:\n  - ${path.relative(overlay, DEPLOY)}\ncomponents:\n  - ${path.relative(overlay, path.join(DEPLOY, 'openshift'))}\n`,
    );
    const docs = kustomize(overlay);
    rmSync(overlay, { recursive: true, force: true });
    for (const doc of docs) validateManifest(doc, docs);
    const pod = find(docs, 'Deployment', 'jobwire')['spec']['template']['spec'];
    assert.equal(pod['securityContext']['fsGroup'], undefined);
    assert.equal(pod['securityContext']['runAsNonRoot'], true);
    assert.equal(find(kustomize(DEPLOY), 'Deployment', 'jobwire')['spec']['template']['spec']['securityContext']['fsGroup'], 10001);
  });
});
