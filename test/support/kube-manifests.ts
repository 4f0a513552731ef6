/**
 * Shared by the Kubernetes manifest tests: a RunSpec and executor settings to build from, the
 * parts of a built Job tests look at, the kubelet's `$(VAR)` expansion (to check what a
 * container really sees), the cron source's tick message, and the example configs' files.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_MAX_OUTPUT_BYTES } from '../../src/core/run.js';
import type { V1Container, V1EnvVar, V1Job, V1PodSpec } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import type { CompiledConfig, CompiledJob, KubernetesExecutorSettings } from '../../src/config/types.js';
import { newId } from '../../src/core/ids.js';
import type { Message } from '../../src/core/message.js';
import type { RunSpec } from '../../src/executors/executor.js';
import { loadRunFiles, type LoadedRunFile } from '../../src/executors/kubernetes/manifests.js';

export const SETTINGS: KubernetesExecutorSettings = {
  namespace: 'jobs',
  namespaces: ['jobs', 'qa'],
  qps: 20,
  burst: 40,
  imagePullGraceMs: 60_000,
  unschedulableTimeoutMs: 300_000,
  workingDir: '/work',
  defaults: {},
};

export function spec(extra: Partial<RunSpec> = {}): RunSpec {
  const runId = extra.runId ?? newId();
  return {
    runId,
    job: 'build',
    attempt: 1,
    messageId: 'm-1',
    source: 'http',
    correlationId: 'c-1',
    argv: ['make', 'test'],
    env: { JOBWIRE_RUN_ID: runId },
    files: [],
    messageJson: '{"id":"m-1"}',
    image: 'registry.access.redhat.com/ubi9/ubi-minimal:latest',
    secretEnv: [],
    runtime: {},
    retryLimit: 0,
    maxOutputBytes: DEFAULT_MAX_OUTPUT_BYTES,
    ...extra,
  };
}

export function podSpec(job: V1Job): V1PodSpec {
  const pod = job.spec?.template.spec;
  assert.ok(pod !== undefined);
  return pod;
}

export function container(job: V1Job): V1Container {
  const found = podSpec(job).containers[0];
  assert.ok(found !== undefined);
  return found;
}

export function envOf(job: V1Job): Map<string, V1EnvVar> {
  return new Map((container(job).env ?? []).map((env) => [env.name, env]));
}

/**
 * The kubelet's `$(VAR)` expansion of command, args and env values (a port of Kubernetes'
 * third_party/forked/golang/expansion): `$$` → `$`, `$(NAME)` → NAME's value when defined.
 */
export function kubeletExpand(input: string, env: ReadonlyMap<string, string>): string {
  let out = '';
  let checkpoint = 0;
  for (let cursor = 0; cursor < input.length; cursor++) {
    if (input[cursor] !== '$' || cursor + 1 >= input.length) continue;
    out += input.slice(checkpoint, cursor);
    const rest = input.slice(cursor + 1);
    let advance = 1;
    if (rest[0] === '$') out += '$';
    else if (rest[0] === '(') {
      const close = rest.indexOf(')', 1);
      if (close === -1) out += '$(';
      else {
        const name = rest.slice(1, close);
        out += env.get(name) ?? `$(${name})`;
        advance = close + 1;
      }
    } else out += `$${rest[0]}`;
    cursor += advance;
    checkpoint = cursor + 1;
  }
  return out + input.slice(checkpoint);
}

/** The message jobwire's cron source delivers for a tick (src/sources/cron.ts). */
export function cronTick(schedule: string, scheduledAt: string): Message {
  const id = `${schedule}@${scheduledAt}`;
  return { id, source: 'cron', topic: schedule, headers: {}, body: { schedule, scheduledAt }, correlationId: id, receivedAt: Date.parse(scheduledAt) };
}

export function kubernetesSettingsOf(config: CompiledConfig, job: CompiledJob): KubernetesExecutorSettings | undefined {
  const definition = config.executors.get(job.executor);
  return definition?.type === 'kubernetes' ? definition.settings : undefined;
}

export function filesOf(job: CompiledJob): Promise<LoadedRunFile[]> {
  return loadRunFiles({ files: job.files.map((file) => ({ path: file.path, from: file.absolutePath })) });
}

export function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(path.join(dir, entry.name)) : [path.join(dir, entry.name)],
  );
}

export function parseYamlDocuments(text: string): Record<string, unknown>[] {
  return parseAllDocuments(text).map((doc) => {
    assert.deepEqual(doc.errors, []);
    return doc.toJS() as Record<string, unknown>;
  });
}
