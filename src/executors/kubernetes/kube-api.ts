/**
 * The Kubernetes API calls the kubernetes executor makes, and nothing else: Jobs, Pods, pod
 * logs and ConfigMaps in a namespace. Each call goes through the executor's shared rate limiter
 * (watches excepted, see `watch`) and is retried on transient failures (api-retry.ts), with a per-request timeout so a hung
 * connection cannot hold a run forever. Failures come out as KubeApiError.
 *
 * Connections are kept alive and shared (agent-reuse.ts). Watches are not retried here: their
 * loop (resource-watch.ts) resumes them itself.
 */
import {
  BatchV1Api,
  CoreV1Api,
  createConfiguration,
  ServerConfiguration,
  Watch,
  type KubeConfig,
  type Middleware,
  type RequestContext,
  type ResponseContext,
  type V1ConfigMap,
  type V1Job,
  type V1OwnerReference,
  type V1ListMeta,
} from '@kubernetes/client-node';
import { createAgentReuser, type AgentReuser } from './agent-reuse.js';
import { KubeApiError, withRetry, type ApiRetryPolicy, type RetryContext } from './api-retry.js';
import type { RateLimiter } from './rate-limiter.js';

export interface KubeApiOptions {
  readonly kubeConfig: KubeConfig;
  readonly limiter: RateLimiter;
  readonly retry: ApiRetryPolicy;
  /** Per request; a watch is exempt. */
  readonly requestTimeoutMs: number;
  readonly onRetry?: RetryContext['onRetry'];
}

/** One page of a list: items as plain objects plus where to continue and the list's version. */
export interface ListPage<T> {
  readonly items: readonly T[];
  readonly resourceVersion: string;
  readonly continueToken: string | undefined;
}

export type WatchEventHandler = (type: string, object: unknown) => void;

const UNLIMITED: RateLimiter = { acquire: () => Promise.resolve(), stats: () => ({ acquired: 0, waited: 0 }) };


/** `watch`: the watch loop's own calls, which bypass the rate limit (see `watch`). */
type Lane = 'limited' | 'watch';

export interface ListPageRequest {
  readonly limit?: number;
  readonly continueToken?: string;
}

function pageQuery(page: ListPageRequest): { limit?: number; _continue?: string } {
  return {
    ...(page.limit === undefined ? {} : { limit: page.limit }),
    ...(page.continueToken === undefined ? {} : { _continue: page.continueToken }),
  };
}

export class KubeApi {
  readonly #batch: BatchV1Api;
  readonly #core: CoreV1Api;
  readonly #watch: Watch;
  readonly #options: KubeApiOptions;
  readonly #closing = new AbortController();
  readonly #agents: AgentReuser;

  constructor(options: KubeApiOptions) {
    this.#options = options;
    const cluster = options.kubeConfig.getCurrentCluster();
    if (cluster === null) throw new KubeApiError('the Kubernetes configuration names no cluster', { transient: false });
    const agents = createAgentReuser();
    this.#agents = agents;
    const perRequest: Middleware = {
      pre: (context: RequestContext) => {
        context.setSignal(AbortSignal.timeout(options.requestTimeoutMs));
        const agent = agents.reuse(context.getAgent());
        if (agent !== undefined) context.setAgent(agent);
        return Promise.resolve(context);
      },
      post: (context: ResponseContext) => Promise.resolve(context),
    };
    const configuration = createConfiguration({
      baseServer: new ServerConfiguration<Record<string, string>>(cluster.server, {}),
      authMethods: { default: options.kubeConfig },
      promiseMiddleware: [perRequest],
    });
    this.#batch = new BatchV1Api(configuration);
    this.#core = new CoreV1Api(configuration);
    this.#watch = new Watch(options.kubeConfig);
  }

  /** Stops retry waits and closes kept-alive connections (requests in flight end by their timeout). */
  close(): void {
    this.#closing.abort();
    this.#agents.destroy();
  }

  #call<T>(what: string, call: () => Promise<T>, lane: Lane = 'limited'): Promise<T> {
    return withRetry(what, call, {
      limiter: lane === 'limited' ? this.#options.limiter : UNLIMITED,
      policy: this.#options.retry,
      signal: this.#closing.signal,
      ...(this.#options.onRetry === undefined ? {} : { onRetry: this.#options.onRetry }),
    });
  }

  createJob(namespace: string, body: V1Job): Promise<V1Job> {
    return this.#call(`create Job ${namespace}/${body.metadata?.name ?? '?'}`, () => this.#batch.createNamespacedJob({ namespace, body }));
  }

  readJob(namespace: string, name: string): Promise<V1Job> {
    return this.#call(`read Job ${namespace}/${name}`, () => this.#batch.readNamespacedJob({ namespace, name }));
  }

  /** Deletes a Job and (in the background, by the garbage collector) its pods. Gone already is fine. */
  async deleteJob(namespace: string, name: string): Promise<void> {
    try {
      await this.#call(`delete Job ${namespace}/${name}`, () =>
        this.#batch.deleteNamespacedJob({ namespace, name, propagationPolicy: 'Background' }),
      );
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404) return;
      throw error;
    }
  }

  /** `lane: 'watch'` for the watch loop's own lists (see `watch`). */
  async listJobs(namespace: string, labelSelector: string, page: ListPageRequest = {}, lane: Lane = 'limited'): Promise<ListPage<V1Job>> {
    return this.#list(`list Jobs in ${namespace}`, lane, () =>
      this.#batch.listNamespacedJob({ namespace, labelSelector, ...pageQuery(page) }),
    );
  }

  async listPods(namespace: string, labelSelector: string, page: ListPageRequest = {}, lane: Lane = 'limited'): Promise<ListPage<unknown>> {
    return this.#list(`list Pods in ${namespace}`, lane, () =>
      this.#core.listNamespacedPod({ namespace, labelSelector, ...pageQuery(page) }),
    );
  }

  async #list<T>(what: string, lane: Lane, request: () => Promise<{ items: T[]; metadata?: V1ListMeta }>): Promise<ListPage<T>> {
    const list = await this.#call(what, request, lane);
    return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? '', continueToken: list.metadata?._continue || undefined };
  }

  /** A container's log as text; `limitBytes` counts from its start, `tailLines` from its end. */
  readPodLog(namespace: string, pod: string, container: string, bounds: { limitBytes?: number; tailLines?: number }): Promise<string> {
    return this.#call(`read log of pod ${namespace}/${pod}`, async () => {
      const text: unknown = await this.#core.readNamespacedPodLog({ namespace, name: pod, container, ...bounds });
      return typeof text === 'string' ? text : '';
    });
  }

  createConfigMap(namespace: string, body: V1ConfigMap): Promise<V1ConfigMap> {
    return this.#call(`create ConfigMap ${namespace}/${body.metadata?.name ?? '?'}`, () => this.#core.createNamespacedConfigMap({ namespace, body }));
  }

  readConfigMap(namespace: string, name: string): Promise<V1ConfigMap> {
    return this.#call(`read ConfigMap ${namespace}/${name}`, () => this.#core.readNamespacedConfigMap({ namespace, name }));
  }

  async deleteConfigMap(namespace: string, name: string): Promise<void> {
    try {
      await this.#call(`delete ConfigMap ${namespace}/${name}`, () => this.#core.deleteNamespacedConfigMap({ namespace, name }));
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404) return;
      throw error;
    }
  }

  /** Makes `owner` the ConfigMap's owner, so the garbage collector deletes it with the Job. */
  async setConfigMapOwner(namespace: string, name: string, owner: V1OwnerReference): Promise<void> {
    // A JSON patch (the client's default patch type) that sets the whole list: idempotent.
    const body = [{ op: 'add', path: '/metadata/ownerReferences', value: [owner] }];
    await this.#call(`set the owner of ConfigMap ${namespace}/${name}`, () => this.#core.patchNamespacedConfigMap({ namespace, name, body }));
  }

  /**
   * Opens a watch stream on `path`. `onDone` is called once when it ends: null for a clean
   * close, else the error (an HTTP error carries `statusCode`).
   *
   * Watches and the watch loop's lists skip the rate limiter's queue: behind a burst of
   * thousands of queued creates, a watch that must reconnect would otherwise wait minutes, and
   * every run would look stuck meanwhile. They are few (two per namespace) and their loop backs
   * off by itself, so they cannot flood the API server.
   */
  async watch(
    path: string,
    query: Readonly<Record<string, string | number | boolean | undefined>>,
    onEvent: WatchEventHandler,
    onDone: (error: unknown) => void,
  ): Promise<AbortController> {
    return this.#watch.watch(path, { ...query }, onEvent, onDone);
  }
}
