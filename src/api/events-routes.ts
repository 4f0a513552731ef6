/**
 * `GET /v1/events`: run transitions as server-sent events, live, for a UI or a script that
 * follows runs without polling. Filters: `job`, `correlationId`, `runId`, `types` (comma list of
 * run.queued, run.started, run.finished). Each event is `event: <type>` with the run as JSON
 * (`{ type, at, run }`); a comment line every 15 s keeps proxies from closing an idle stream.
 *
 * The stream is live only: what happened before it opened is in `GET /v1/runs`. A client that
 * reads too slowly (over 1,000 events behind) gets `event: overflow` and the stream ends, rather
 * than jobwire buffering for it without bound.
 */
import type { FastifyInstance } from 'fastify';
import { InvalidInputError } from '../core/errors.js';
import type { RunEventType } from '../dispatch/run-feed.js';
import type { RouteDependencies } from './server.js';
import { runJson } from './serialize.js';

const EVENT_TYPES: readonly RunEventType[] = ['run.queued', 'run.started', 'run.finished'];
const HEARTBEAT_MS = 15_000;

interface EventsQuery {
  job?: string;
  correlationId?: string;
  runId?: string;
  types?: string;
}

function parseTypes(value: string | undefined): ReadonlySet<RunEventType> | undefined {
  if (value === undefined) return undefined;
  const types = new Set<RunEventType>();
  for (const name of value.split(',').map((part) => part.trim()).filter((part) => part !== '')) {
    const type = EVENT_TYPES.find((known) => known === name);
    if (type === undefined) throw new InvalidInputError(`unknown event type "${name}"; expected some of ${EVENT_TYPES.join(', ')}`);
    types.add(type);
  }
  return types.size === 0 ? undefined : types;
}

function drained(out: NodeJS.WritableStream, closing: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      out.removeListener('drain', done);
      closing.removeEventListener('abort', done);
      resolve();
    };
    out.once('drain', done);
    closing.addEventListener('abort', done, { once: true });
  });
}

export function registerEventRoutes(app: FastifyInstance, deps: RouteDependencies): void {
  app.get<{ Querystring: EventsQuery }>('/v1/events', async (request, reply) => {
    const { job, correlationId, runId } = request.query;
    const types = parseTypes(request.query.types);
    if (job !== undefined && !deps.config.jobs.some((defined) => defined.name === job)) throw new InvalidInputError(`no job "${job}" in the config`);
    const stream = deps.feed.stream({
      ...(job === undefined ? {} : { job }),
      ...(correlationId === undefined ? {} : { correlationId }),
      ...(runId === undefined ? {} : { runId }),
      ...(types === undefined ? {} : { types }),
    });
    const closing = deps.closing(reply);
    closing.addEventListener('abort', () => stream.close(), { once: true });
    reply.hijack();
    const out = reply.raw;
    out.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    out.write(': jobwire run events\n\n');
    const heartbeat = setInterval(() => out.write(': keepalive\n\n'), HEARTBEAT_MS);
    try {
      for await (const event of stream) {
        const data = JSON.stringify({ type: event.type, at: new Date(event.at).toISOString(), run: runJson(event.run) });
        // A slow reader holds the loop here, so events wait in the feed's bounded buffer, not in the socket's.
        if (!out.write(`event: ${event.type}\ndata: ${data}\n\n`)) await drained(out, closing);
      }
      if (stream.overflowed) out.write('event: overflow\ndata: {"message":"the client fell over 1000 events behind; reconnect and read GET /v1/runs for what was missed"}\n\n');
    } finally {
      clearInterval(heartbeat);
      out.end();
    }
  });
}
