/**
 * Builds an Executor for the built-in `process` executor and each configured one. Each runtime
 * is one file implementing `Executor`; this table is the only place that knows them all.
 */
import path from 'node:path';
import type { Logger } from 'pino';
import type { CompiledConfig, ExecutorDefinition } from '../config/types.js';
import { JobwireError } from '../core/errors.js';
import type { Executor } from './executor.js';
import { createProcessExecutor } from './process.js';

export interface ExecutorContext {
  readonly dataDir: string;
  readonly logger: Logger;
}

export class UnsupportedExecutorError extends JobwireError {
  override readonly name = 'UnsupportedExecutorError';
}

type ExecutorFactory = (definition: ExecutorDefinition, config: CompiledConfig, context: ExecutorContext) => Executor;

const FACTORIES: ReadonlyMap<string, ExecutorFactory> = new Map<string, ExecutorFactory>([
  [
    'process',
    (definition, config, context) =>
      createProcessExecutor({
        name: definition.name,
        runsDir: path.join(context.dataDir, 'runs'),
        maxLogBytes: config.limits.maxLogBytes,
        logger: context.logger,
      }),
  ],
]);

export function createExecutors(config: CompiledConfig, context: ExecutorContext): Map<string, Executor> {
  const definitions = new Map<string, ExecutorDefinition>(config.executors);
  if (!definitions.has('process')) {
    definitions.set('process', { name: 'process', type: 'process', position: { file: config.file, line: 1, col: 1 } });
  }
  const used = new Set(config.jobs.map((job) => job.executor));
  const executors = new Map<string, Executor>();
  for (const definition of definitions.values()) {
    const factory = FACTORIES.get(definition.type);
    if (factory === undefined) {
      if (!used.has(definition.name)) {
        context.logger.warn({ executor: definition.name, type: definition.type }, 'executor type not available in this version; no job uses it');
        continue;
      }
      const { file, line, col } = definition.position;
      throw new UnsupportedExecutorError(`${file}:${line}:${col}: executor "${definition.name}": type ${definition.type} is not available in this version of jobwire`);
    }
    executors.set(definition.name, factory(definition, config, context));
  }
  return executors;
}
