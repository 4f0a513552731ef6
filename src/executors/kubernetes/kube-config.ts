/**
 * Where the kubernetes executor finds its cluster: the kubeconfig file (and context) named in
 * its settings; else the pod's service account when jobwire runs in a cluster
 * (KUBERNETES_SERVICE_HOST is set); else $KUBECONFIG or ~/.kube/config, as kubectl does.
 * A config that cannot work (missing file, unknown context, no cluster) is a PermanentError with
 * the place it was looked for, raised when the executor is created, not at the first run.
 */
import { KubeConfig } from '@kubernetes/client-node';
import type { KubernetesExecutorSettings } from '../../config/types.js';
import { errorMessage, PermanentError } from '../../core/errors.js';

export interface LoadedKubeConfig {
  readonly kubeConfig: KubeConfig;
  /** Where it came from, for logs and errors: `kubeconfig /path (context x)`, `in-cluster`, … */
  readonly origin: string;
}

export function loadKubeConfig(
  settings: Pick<KubernetesExecutorSettings, 'kubeconfig' | 'context'>,
  env: NodeJS.ProcessEnv = process.env,
): LoadedKubeConfig {
  const kubeConfig = new KubeConfig();
  let origin: string;
  try {
    if (settings.kubeconfig !== undefined) {
      kubeConfig.loadFromFile(settings.kubeconfig);
      origin = `kubeconfig ${settings.kubeconfig}`;
    } else if (env['KUBERNETES_SERVICE_HOST'] !== undefined && settings.context === undefined) {
      kubeConfig.loadFromCluster();
      origin = 'in-cluster service account';
    } else {
      kubeConfig.loadFromDefault();
      origin = env['KUBECONFIG'] !== undefined ? `$KUBECONFIG (${env['KUBECONFIG']})` : 'default kubeconfig (~/.kube/config)';
    }
  } catch (error) {
    throw new PermanentError(`cannot load the Kubernetes configuration: ${errorMessage(error)}`, { cause: error });
  }
  if (settings.context !== undefined) {
    if (kubeConfig.getContextObject(settings.context) === null) {
      const known = kubeConfig.getContexts().map((context) => context.name);
      throw new PermanentError(
        `Kubernetes context "${settings.context}" is not in the ${origin}; known contexts: ${known.length === 0 ? 'none' : known.join(', ')}`,
      );
    }
    kubeConfig.setCurrentContext(settings.context);
  }
  const cluster = kubeConfig.getCurrentCluster();
  if (cluster === null) throw new PermanentError(`the ${origin} names no current cluster (set a context)`);
  return { kubeConfig, origin: `${origin}${settings.context === undefined ? '' : ` (context ${settings.context})`} → ${cluster.server}` };
}
