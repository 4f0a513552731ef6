import type { FastifyInstance, FastifyReply } from 'fastify';
import { BackpressureError, InvalidInputError } from '../core/errors.js';
import type { RunRecord } from '../core/run.js';
import { dryRun } from '../matching/dry-run.js';
import type { RouteDependencies } from './server.js';
import { messageFromHttp } from './http-message.js';
import { parseWait, waitForRuns } from './run-wait.js';
import { runJson } from './serialize.js';

interface MessageQuery {
  dryRun?: string;
  topic?: string;
  wait?: string;
}

/**
 * `POST /v1/messages`: the built-in `http` source. Without `wait`, 202 once the message and its
 * runs are committed. With `?wait=30s`, the answer waits for every run the message started:
 * 200 with each run's result once all are final, or 202 when the wait ran out, with `Location`
 * (the run, or the message's runs) to poll. A full backlog (`dispatcher.maxQueuedRuns`) is
 * answered 429 with Retry-After at once: the caller holds the request, not jobwire.
 */
export function registerMessageRoutes(app: FastifyInstance, deps: RouteDependencies): void {
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
    const waitMs = parseWait(request.query.wait);
    if (dry) return reply.status(200).send(dryRun(deps.matcher, message, deps.processEnv));
    if (deps.backlog.isFull) {
      throw new BackpressureError(`${deps.backlog.size} runs are queued (dispatcher.maxQueuedRuns is ${deps.backlog.maxQueued}); try again later`, deps.backlog.secondsToRoom());
    }
    const outcome = await deps.inbox.accept(message);
    const accepted = { messageId: message.id, correlationId: message.correlationId, duplicate: outcome.duplicate };
    if (waitMs === undefined) {
      return reply.status(202).send({ ...accepted, runs: outcome.runs.map((run) => ({ id: run.id, job: run.job })) });
    }
    const waited = await waitForRuns(deps, outcome.runs.map((run) => run.id), waitMs, deps.closing(reply));
    if (!waited.complete) pollHeaders(reply, message.id, waited.runs);
    return reply.status(waited.complete ? 200 : 202).send({ ...accepted, complete: waited.complete, runs: waited.runs.map(runJson) });
  });
}

/** Where a caller whose wait ran out polls: the run itself, or the message's runs. */
function pollHeaders(reply: FastifyReply, messageId: string, runs: readonly RunRecord[]): void {
  const only = runs.length === 1 ? runs[0] : undefined;
  void reply.header('location', only === undefined ? `/v1/runs?messageId=${encodeURIComponent(messageId)}` : `/v1/runs/${only.id}`);
  if (runs.length > 0) void reply.header('link', runs.map((run) => `</v1/runs/${run.id}>; rel="run"`).join(', '));
}

export function parseBoolean(value: string | undefined, name: string): boolean {
  if (value === undefined || value === 'false' || value === '0') return false;
  if (value === 'true' || value === '1' || value === '') return true;
  throw new InvalidInputError(`query parameter ${name} must be true or false`);
}
