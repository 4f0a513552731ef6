import type { FastifyInstance } from 'fastify';
import type { Executor } from '../executors/executor.js';

/** Each executor with its runtime's own status when it reports one (the kubernetes executor's watches and rate limit). */
export function registerExecutorRoutes(app: FastifyInstance, deps: { readonly executors: ReadonlyMap<string, Executor> }): void {
  app.get('/v1/executors', async () => ({
    executors: [...deps.executors.values()].map((executor) => ({
      name: executor.name,
      type: executor.type,
      ...(executor.status === undefined ? {} : { status: executor.status() }),
    })),
  }));
}
