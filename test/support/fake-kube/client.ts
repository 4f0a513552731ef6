/**
 * Small helpers for tests that talk to the fake through the real client library
 * (@kubernetes/client-node): clients from the fake's kubeconfig, an API failure unpacked into
 * code / Status body / headers, and a watch whose events and end are collected.
 */
import { ApiException, BatchV1Api, CoreV1Api, KubeConfig, Watch } from '@kubernetes/client-node';
import type { FakeKube } from './types.js';

export interface KubeClients {
  readonly kc: KubeConfig;
  readonly batch: BatchV1Api;
  readonly core: CoreV1Api;
}

export function kubeClients(kube: FakeKube): KubeClients {
  const kc = new KubeConfig();
  kc.loadFromFile(kube.kubeconfigPath);
  return { kc, batch: kc.makeApiClient(BatchV1Api), core: kc.makeApiClient(CoreV1Api) };
}

export interface ApiFailure {
  readonly code: number;
  /** The Status body, parsed (the client hands it over as text). */
  readonly body: Record<string, unknown>;
  readonly headers: Readonly<Record<string, string>>;
}

/** Awaits a call that must fail with an ApiException; throws if it succeeds or fails otherwise. */
export async function apiFailure(call: Promise<unknown>): Promise<ApiFailure> {
  try {
    await call;
  } catch (error) {
    if (!(error instanceof ApiException)) throw new Error(`expected an ApiException, got ${String(error)}`, { cause: error });
    const body: unknown = typeof error.body === 'string' && error.body !== '' ? JSON.parse(error.body) : error.body;
    return { code: error.code, body: typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {}, headers: error.headers };
  }
  throw new Error('expected the call to fail, it succeeded');
}

export interface WatchedEvent {
  readonly type: string;
  readonly object: { metadata?: { name?: string; resourceVersion?: string }; code?: number; reason?: string; [field: string]: unknown };
}

export interface CollectedWatch {
  readonly events: WatchedEvent[];
  /** Resolves with what the client's done callback got (null for a clean end, an Error otherwise). */
  readonly done: Promise<unknown>;
  stop(): void;
}

/** Starts a client-side watch (the client's Watch class) and collects what it delivers. */
export async function collectWatch(kc: KubeConfig, path: string, query: Record<string, string | number | boolean>): Promise<CollectedWatch> {
  const events: WatchedEvent[] = [];
  let finish: (error: unknown) => void = () => undefined;
  const done = new Promise<unknown>((resolve) => (finish = resolve));
  const controller = await new Watch(kc).watch(
    path,
    query,
    (type: string, object: WatchedEvent['object']) => events.push({ type, object }),
    (error: unknown) => finish(error),
  );
  return { events, done, stop: () => controller.abort() };
}
