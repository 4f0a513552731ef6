/**
 * Helpers for the kubernetes executor tests: a RunSpec as the dispatcher builds it for a
 * kubernetes job, executor settings pointing at the fake API server's kubeconfig, executors with
 * short retry delays (closed after the test file), and readers for what the fake received.
 */
import assert from 'node:assert/strict';
import type { PermanentError } from '../../src/core/errors.js';
import type { RunRecord } from '../../src/core/run.js';
import type { KubernetesExecutorSettings } from '../../src/config/types.js';
import type { AttemptResult, RunSpec } from '../../src/executors/executor.js';
import { LABEL } from '../../src/executors/kubernetes/labels.js';
import { createKubernetesExecutor, type KubernetesExecutor, type KubernetesExecutorOptions } from '../../src/executors/kubernetes/kubernetes-executor.js';
import { createLogger } from '../../src/log.js';
import type { FakeKube, KubeObject, RecordedRequest } from './fake-kube/types.js';
import { inFlightRun } from './run-record.js';
import { testSpec } from './run-spec.js';

export const NAMESPACE = 'jobs';

export function kubeSpec(extra: Partial<RunSpec> = {}): RunSpec {
  return testSpec(['sh', '-c', 'echo hello'], { messageJson: '{"id":"m-1"}', image: 'busybox:1.36', ...extra });
}

export function kubeSettings(fake: FakeKube, extra: Partial<KubernetesExecutorSettings> = {}): KubernetesExecutorSettings {
  return {
    namespace: NAMESPACE,
    namespaces: [NAMESPACE, 'other'],
    kubeconfig: fake.kubeconfigPath,
    qps: 0,
    burst: 10,
    imagePullGraceMs: 300,
    unschedulableTimeoutMs: 400,
    workingDir: '/work',
    defaults: {},
    ...extra,
  };
}

/** Executors made by `kubeExecutor`, to close when the test file ends. */
export class ExecutorPool {
  readonly #executors: KubernetesExecutor[] = [];

  create(fake: FakeKube, options: { settings?: Partial<KubernetesExecutorSettings> } & Partial<Omit<KubernetesExecutorOptions, 'settings'>> = {}): KubernetesExecutor {
    const { settings, ...rest } = options;
    const executor = createKubernetesExecutor({
      name: 'cluster',
      settings: kubeSettings(fake, settings),
      maxLogBytes: 64 * 1024,
      logger: createLogger('silent'),
      apiRetry: { initialDelayMs: 20, maxDelayMs: 200 },
      configErrorGraceMs: 0,
      watchBackoff: { initialMs: 20, maxMs: 200 },
      ...rest,
    });
    this.#executors.push(executor);
    return executor;
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.#executors.splice(0).map((executor) => executor.close()));
  }
}

/** Requests to a path (a Job or ConfigMap collection) with a method, in arrival order. */
export function requestsTo(fake: FakeKube, method: string, path: RegExp): RecordedRequest[] {
  return fake.requests.filter((request) => request.method === method && path.test(request.path));
}

export const JOBS_PATH = new RegExp(`^/apis/batch/v1/namespaces/${NAMESPACE}/jobs$`);
export const CONFIGMAPS_PATH = new RegExp(`^/api/v1/namespaces/${NAMESPACE}/configmaps$`);

/** The container of a recorded Job create body. */
export function jobContainer(body: unknown): { env?: { name: string; value?: string; valueFrom?: unknown }[]; command?: string[]; image?: string } {
  const job = body as { spec: { template: { spec: { containers: { env?: { name: string; value?: string; valueFrom?: unknown }[]; command?: string[]; image?: string }[] } } } };
  const container = job.spec.template.spec.containers[0];
  if (container === undefined) throw new Error('the Job has no container');
  return container;
}

/** The body of the Job create request of run `runId` (the first, if it was retried). */
export function createdJob(fake: FakeKube, runId: string): KubeObject {
  const request = requestsTo(fake, 'POST', JOBS_PATH).find((entry) => (entry.body as KubeObject).metadata.labels?.[LABEL.runId] === runId);
  if (request === undefined) throw new Error(`no Job create request for run ${runId}`);
  return request.body as KubeObject;
}

export function exited(result: AttemptResult): { exitCode: number; text: string } {
  assert.equal(result.kind, 'exited', `expected exited, got ${result.kind}: ${result.kind === 'error' ? result.error.message : ''}\n${result.log.text}`);
  return { exitCode: result.kind === 'exited' ? result.exitCode : NaN, text: result.log.text };
}

export function failedWith(result: AttemptResult, kind: typeof PermanentError): Error {
  assert.equal(result.kind, 'error', `expected an error, got ${result.kind}\n${result.log.text}`);
  const error = (result as { error: Error }).error;
  assert.ok(error instanceof kind, `expected ${kind.name}, got ${error.name}: ${error.message}`);
  return error;
}

/** A run record as the store holds it for a run left `running` by a crashed jobwire. */
export function runRecord(id: string, job: string, handle: string | null): RunRecord {
  return inFlightRun({ id, job, executor: 'cluster', handle });
}
