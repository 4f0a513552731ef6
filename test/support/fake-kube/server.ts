/**
 * startFakeKube(): an in-process Kubernetes API server for tests (see types.ts for the contract).
 * Plain HTTP on 127.0.0.1 with a random port, bearer-token auth from the kubeconfig it writes,
 * and behind it the pieces a Job needs to run: object store + watch history (store.ts), the REST
 * verbs (api.ts), watch streams (watch.ts), job controller, scheduler/kubelet and garbage
 * collector. Every request is recorded; injected faults answer before (or after) the real work.
 */
import { rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ResourceApi } from './api.js';
import { EventRecorder } from './events.js';
import { faultReply, FaultQueue, RequestLog } from './faults.js';
import { GarbageCollector } from './garbage-collector.js';
import { errorReply, json, parseBody, readBody, send, type ApiRequest, type Reply } from './http.js';
import { JobController } from './job-controller.js';
import { writeKubeconfig } from './kubeconfig.js';
import { Kubelet } from './kubelet.js';
import { controllerRef, fromTyped, randomHex, toKubeObject, type PodObject } from './model.js';
import { route, type Route } from './router.js';
import { methodNotAllowed, pathNotFound, unauthorized } from './status.js';
import { ObjectStore } from './store.js';
import { Timers } from './timers.js';
import type { FakeKube, FakeKubeOptions, InjectedFault, KubeObject, PodScript } from './types.js';
import { WatchHub } from './watch.js';

const defaultScript: PodScript = { kind: 'run', exitCode: 0, log: '', runMs: 50 };

export async function startFakeKube(options: FakeKubeOptions = {}): Promise<FakeKube> {
  const timers = new Timers();
  const store = new ObjectStore(options.historyLimit ?? 1000);
  const events = new EventRecorder(store);
  let podScript: (job: KubeObject) => PodScript = options.podScript ?? (() => defaultScript);
  const scriptFor = (pod: PodObject): PodScript => {
    const owner = controllerRef(pod.metadata);
    const job = owner?.kind === 'Job' ? store.findByUid(owner.uid)?.object : undefined;
    return podScript(toKubeObject(job ?? fromTyped(pod)));
  };
  const kubelet = new Kubelet(store, timers, events, scriptFor, options.kubeletStepMs ?? 5);
  const controller = new JobController(store, timers, events, options.retryDelayMs ?? 20);
  const collector = new GarbageCollector(store, timers, options.gcDelayMs ?? 10);
  const watches = new WatchHub(store, timers, options.bookmarkIntervalMs ?? 1000);
  const api = new ResourceApi(store, kubelet, watches);
  const faults = new FaultQueue();
  const log = new RequestLog();
  const token = `fake-kube-${randomHex(16)}`;
  kubelet.start();
  controller.start();
  collector.start();

  const dispatch = (target: Route | undefined, request: ApiRequest): Reply => {
    if (target === undefined) throw pathNotFound();
    switch (target.kind) {
      case 'health':
        return { kind: 'raw', status: 200, body: Buffer.from('ok'), contentType: 'text/plain; charset=utf-8' };
      case 'document':
        return json(200, target.body);
      case 'namespace':
        if (request.method.toUpperCase() !== 'GET') throw methodNotAllowed();
        return json(200, target.name === undefined ? namespaceList(store) : namespace(target.name));
      case 'resource':
        return api.handle(target, request);
    }
  };

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const method = (request.method ?? 'GET').toUpperCase();
    const query = Object.fromEntries(url.searchParams);
    const text = await readBody(request);
    const body = parseBody(text);
    log.record(body === undefined ? { method, path: url.pathname, query, at: Date.now() } : { method, path: url.pathname, query, body, at: Date.now() });
    const target = route(url.pathname);
    const open = target?.kind === 'health' || (target?.kind === 'document' && url.pathname === '/version');
    if (!open && request.headers.authorization !== `Bearer ${token}`) {
      send(request, response, errorReply(unauthorized()));
      return;
    }
    const fault = faults.take(method, url.pathname);
    const failWith = (injected: InjectedFault): void => {
      if (injected.dropConnection === true) request.socket.destroy();
      else send(request, response, faultReply(injected));
    };
    if (fault !== undefined && fault.afterApplying !== true) {
      failWith(fault);
      return;
    }
    const apiRequest: ApiRequest = { method, path: url.pathname, query, contentType: request.headers['content-type'] ?? '', text, body };
    let reply: Reply;
    try {
      reply = dispatch(target, apiRequest);
    } catch (error) {
      reply = errorReply(error);
    }
    if (fault !== undefined) failWith(fault);
    else send(request, response, reply);
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) send(request, response, errorReply(error));
      else response.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  const kubeconfig = await writeKubeconfig(url, token);
  const view = (resource: string, namespace?: string): KubeObject[] => store.list(resource, namespace).map(toKubeObject);

  return {
    url,
    kubeconfigPath: kubeconfig.file,
    token,
    async close(): Promise<void> {
      timers.close();
      kubelet.stop();
      controller.stop();
      collector.stop();
      watches.endAll();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(kubeconfig.folder, { recursive: true, force: true });
    },
    jobs: (namespace) => view('jobs', namespace),
    pods: (namespace) => view('pods', namespace),
    configMaps: (namespace) => view('configmaps', namespace),
    secrets: (namespace) => view('secrets', namespace),
    events: (namespace) => view('events', namespace),
    get resourceVersion(): string {
      return store.resourceVersion;
    },
    openWatches: () => watches.count,
    get requests() {
      return log.entries;
    },
    setPodScript(script) {
      podScript = script;
    },
    injectFault(fault) {
      faults.add(fault);
    },
    cutWatches() {
      watches.cutAll();
    },
    expireWatches() {
      watches.expireAll();
      store.forgetHistory();
    },
    deleteJobBehindBack(namespace, name) {
      const job = store.get('jobs', namespace, name);
      if (job === undefined) throw new Error(`fake-kube: no job ${namespace}/${name} to delete`);
      store.remove('jobs', namespace, name);
      for (const { resource, object } of store.dependents(job.metadata.uid)) store.remove(resource, object.metadata.namespace, object.metadata.name);
    },
  };
}

/** Namespaces are not modelled: every name exists and is Active. */
function namespace(name: string): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name, labels: { 'kubernetes.io/metadata.name': name }, resourceVersion: '1', uid: `00000000-0000-0000-0000-${Buffer.from(name).toString('hex').padEnd(12, '0').slice(0, 12)}` },
    spec: { finalizers: ['kubernetes'] },
    status: { phase: 'Active' },
  };
}

function namespaceList(store: ObjectStore): unknown {
  const names = new Set(['default', 'kube-system']);
  for (const name of store.namespaces()) names.add(name);
  return { kind: 'NamespaceList', apiVersion: 'v1', metadata: { resourceVersion: store.resourceVersion }, items: [...names].sort().map(namespace) };
}
