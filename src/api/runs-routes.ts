import type { FastifyInstance } from 'fastify';
import { InvalidInputError, NotFoundError } from '../core/errors.js';
import { FINAL_STATUSES, isRunStatus } from '../core/run.js';
import { stepLogSection } from '../executors/step-markers.js';
import type { RunFilter } from '../store/store.js';
import type { RouteDependencies } from './server.js';
import { parseWait, waitForRuns } from './run-wait.js';
import { runJson } from './serialize.js';

interface ListQuery {
  job?: string;
  status?: string;
  correlationId?: string;
  messageId?: string;
  cursor?: string;
  limit?: string;
}

const MAX_PAGE = 500;

export function registerRunRoutes(app: FastifyInstance, deps: RouteDependencies): void {
  app.get<{ Querystring: ListQuery }>('/v1/runs', async (request) => {
    const { job, status, correlationId, messageId, cursor, limit } = request.query;
    if (status !== undefined && !isRunStatus(status)) throw new InvalidInputError(`unknown status "${status}"`);
    const size = limit === undefined ? 50 : Number(limit);
    if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE) {
      throw new InvalidInputError(`limit must be an integer from 1 to ${MAX_PAGE}`);
    }
    const filter: RunFilter = {
      limit: size,
      ...(job === undefined ? {} : { job }),
      ...(status === undefined ? {} : { status }),
      ...(correlationId === undefined ? {} : { correlationId }),
      ...(messageId === undefined ? {} : { messageId }),
      ...(cursor === undefined ? {} : { cursor }),
    };
    const page = await deps.store.listRuns(filter);
    return { runs: page.runs.map(runJson), nextCursor: page.nextCursor };
  });

  // `?wait=10s` long-polls: the answer comes when the run is final or the wait ran out (its status says which).
  app.get<{ Params: { id: string }; Querystring: { wait?: string } }>('/v1/runs/:id', async (request, reply) => {
    const waitMs = parseWait(request.query.wait);
    const run = await deps.store.getRun(request.params.id);
    if (run === undefined) throw new NotFoundError(`no run ${request.params.id}`);
    if (waitMs === undefined || FINAL_STATUSES.has(run.status)) return runJson(run);
    const waited = await waitForRuns(deps, [run.id], waitMs, deps.closing(reply));
    return runJson(waited.runs[0] ?? run);
  });

  app.get<{ Params: { id: string }; Querystring: { format?: string; step?: string } }>('/v1/runs/:id/logs', async (request, reply) => {
    const run = await deps.store.getRun(request.params.id);
    if (run === undefined) throw new NotFoundError(`no run ${request.params.id}`);
    const attempts: { attempt: number; text: string; droppedBytes: number; totalBytes: number; live: boolean }[] = (
      await deps.store.getLogs(run.id)
    ).map((log) => ({ attempt: log.attempt, text: log.text, droppedBytes: log.droppedBytes, totalBytes: log.totalBytes, live: false }));
    const live = await deps.dispatcher.liveLog(run.id);
    if (live !== undefined && !attempts.some((entry) => entry.attempt === live.attempt)) {
      attempts.push({ attempt: live.attempt, ...live.log, live: true });
    }
    const { step } = request.query;
    if (step !== undefined) {
      // One step's section of each attempt's log (a job with `steps:`).
      for (const entry of attempts) entry.text = stepLogSection(entry.text, step) ?? '';
      if (!attempts.some((entry) => entry.text !== '') && !(run.steps ?? []).some((result) => result.name === step)) {
        throw new NotFoundError(`run ${run.id} has no step ${JSON.stringify(step)}`);
      }
    }
    const format = request.query.format ?? 'json';
    if (format === 'text') {
      const last = attempts.at(-1);
      return reply.type('text/plain; charset=utf-8').send(last?.text ?? '');
    }
    if (format !== 'json') throw new InvalidInputError('format must be json or text');
    return { runId: run.id, status: run.status, attempts };
  });

  app.post<{ Params: { id: string } }>('/v1/runs/:id/cancel', async (request, reply) => {
    const run = await deps.dispatcher.cancel(request.params.id);
    return reply.status(202).send(runJson(run));
  });

  app.post<{ Params: { id: string } }>('/v1/runs/:id/retry', async (request, reply) => {
    const run = await deps.dispatcher.retry(request.params.id);
    return reply.status(202).send(runJson(run));
  });
}
