/**
 * The kubeconfig a client loads to reach the fake: one cluster (plain http://127.0.0.1:PORT), one
 * token user, one context (namespace default) set as current-context. Written into its own temp
 * folder, which the caller removes on close. `insecure-skip-tls-verify: true` is there because
 * @kubernetes/client-node refuses an http: server without it.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

export async function writeKubeconfig(url: string, token: string): Promise<{ folder: string; file: string }> {
  const folder = await mkdtemp(path.join(tmpdir(), 'jobwire-fake-kube-'));
  const file = path.join(folder, 'kubeconfig');
  const text = [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '  - name: fake-kube',
    '    cluster:',
    `      server: ${url}`,
    '      insecure-skip-tls-verify: true',
    'users:',
    '  - name: fake-user',
    '    user:',
    `      token: ${token}`,
    'contexts:',
    '  - name: fake-kube',
    '    context:',
    '      cluster: fake-kube',
    '      user: fake-user',
    '      namespace: default',
    'current-context: fake-kube',
    '',
  ].join('\n');
  await writeFile(file, text, { mode: 0o600 });
  return { folder, file };
}
