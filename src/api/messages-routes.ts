import type { FastifyInstance } from 'fastify';
import { InvalidInputError } from '../core/errors.js';
import { dryRun } from '../matching/dry-run.js';
import type { ApiDependencies } from './server.js';
import { messageFromHttp } from './http-message.js';

interface MessageQuery {
  dryRun?: string;
  topic?: string;
}

export function registerMessageRoutes(app: FastifyInstance, deps: ApiDependencies): void {
  const knownSources = new Set(['http', 'cron', ...deps.config.sources.keys()]);
  app.post<{ Querystring: MessageQuery }>('/v1/messages', async (request, reply) => {
    const body = request.body;
    const message = messageFromHttp({
      headers: request.headers,
      body: Buffer.isBuffer(body) ? body : Buffer.alloc(0),
      knownSources,
      ...(request.query.topic === undefined ? {} : { topic: request.query.topic }),
    });
    const dry = parseBoolean(request.query.dryRun, 'dryRun');
    if (dry) return reply.status(200).send(dryRun(deps.matcher, message, deps.processEnv));
    const outcome = await deps.inbox.accept(message);
    return reply.status(202).send({
      messageId: message.id,
      correlationId: message.correlationId,
      duplicate: outcome.duplicate,
      runs: outcome.runs.map((run) => ({ id: run.id, job: run.job })),
    });
  });
}

export function parseBoolean(value: string | undefined, name: string): boolean {
  if (value === undefined || value === 'false' || value === '0') return false;
  if (value === 'true' || value === '1' || value === '') return true;
  throw new InvalidInputError(`query parameter ${name} must be true or false`);
}
