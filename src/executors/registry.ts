/**
 * Builds an Executor for the built-in `process` executor and each configured one. Each runtime
 * is one file (or folder) implementing `Executor`; this switch is the only place that knows them all.
 */
import path from 'node:path';
import type { Logger } from 'pino';
import type { CompiledConfig, ExecutorDefinition } from '../config/types.js';
import { createContainerExecutor } from './container/container-executor.js';
import type { Executor } from './executor.js';
import { createKubernetesExecutor } from './kubernetes/kubernetes-executor.js';
import { createProcessExecutor } from './process.js';
import type { SpawnerClient } from './spawner/client.js';

export interface ExecutorContext {
  readonly dataDir: string;
  readonly logger: Logger;
  /** One process spawner for every local executor (one helper process per jobwire, not per executor). */
  readonly spawner: SpawnerClient;
}

function createExecutor(definition: ExecutorDefinition, config: CompiledConfig, context: ExecutorContext): Executor {
  // maxOutputBytes: the limit for attempts adopted after a restart; a started one carries its own.
  const common = { name: definition.name, maxLogBytes: config.limits.maxLogBytes, maxOutputBytes: config.limits.maxOutputBytes, logger: context.logger };
  switch (definition.type) {
    case 'process':
      return createProcessExecutor({ ...common, runsDir: path.join(context.dataDir, 'runs'), spawner: context.spawner });
    case 'container':
      return createContainerExecutor({ ...common, settings: definition.settings, runsDir: path.join(context.dataDir, 'runs'), spawner: context.spawner });
    case 'kubernetes':
      return createKubernetesExecutor({ ...common, settings: definition.settings });
  }
}

export function createExecutors(config: CompiledConfig, context: ExecutorContext): Map<string, Executor> {
  const definitions = new Map<string, ExecutorDefinition>(config.executors);
  if (!definitions.has('process')) {
    definitions.set('process', { name: 'process', type: 'process', position: { file: config.file, line: 1, col: 1 } });
  }
  const executors = new Map<string, Executor>();
  for (const definition of definitions.values()) executors.set(definition.name, createExecutor(definition, config, context));
  return executors;
}
