import type { FastifyInstance } from 'fastify';
import type { ApiDependencies } from './server.js';

export function registerJobRoutes(app: FastifyInstance, deps: ApiDependencies): void {
  const jobs = deps.config.jobs.map((job) => ({
    name: job.name,
    description: job.description ?? null,
    executor: job.executor,
    triggers: job.triggers.map((trigger) => ({
      source: trigger.source,
      topic: trigger.topic?.pattern ?? null,
      type: trigger.type?.pattern ?? null,
      if: trigger.filter?.source ?? null,
      jsonpath: trigger.jsonpath ?? null,
    })),
    argv: job.argv,
    image: job.image ?? null,
    files: job.files.map((file) => file.path),
    timeoutMs: job.timeoutMs ?? null,
    retries: job.retries,
    concurrency: job.concurrency ?? null,
    priority: job.priority,
  }));
  app.get('/v1/jobs', async () => ({ jobs }));
}
