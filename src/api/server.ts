/**
 * The HTTP API: the built-in `http` source (`POST /v1/messages`), and inspection and control of
 * runs. Routes live in one file per resource; this file wires them and the error handling.
 */
import fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import type { CompiledConfig } from '../config/types.js';
import type { Dispatcher } from '../dispatch/dispatcher.js';
import type { Inbox } from '../inbox/inbox.js';
import type { Matcher } from '../matching/matcher.js';
import type { Store } from '../store/store.js';
import { installErrorHandlers } from './http-errors.js';
import { registerHealthRoutes, type Readiness } from './health-routes.js';
import { registerJobRoutes } from './jobs-routes.js';
import { registerMessageRoutes } from './messages-routes.js';
import { registerRunRoutes } from './runs-routes.js';
import { registerExecutorRoutes } from './executors-routes.js';
import { registerSourceRoutes } from './sources-routes.js';
import type { Executor } from '../executors/executor.js';
import type { OutboxRelay } from '../events/outbox-relay.js';
import { registerOutboxRoutes } from './outbox-routes.js';
import type { Source } from '../sources/source.js';
import type { Backlog } from '../dispatch/backlog.js';
import type { RunFeed } from '../dispatch/run-feed.js';
import { registerEventRoutes } from './events-routes.js';

export interface ApiDependencies {
  readonly config: CompiledConfig;
  readonly inbox: Inbox;
  readonly store: Store;
  readonly dispatcher: Dispatcher;
  readonly matcher: Matcher;
  readonly sources: readonly Source[];
  readonly executors: ReadonlyMap<string, Executor>;
  readonly logger: Logger;
  readonly processEnv: NodeJS.ProcessEnv;
  readonly readiness: () => Readiness;
  readonly relay: OutboxRelay;
  readonly feed: RunFeed;
  readonly backlog: Backlog;
}

/** What routes that hold a request open (waits, event streams) need besides the app's parts. */
export interface RouteDependencies extends ApiDependencies {
  /** Aborts when the caller hangs up or the API closes: a held request ends then. */
  closing(reply: FastifyReply): AbortSignal;
}

/** How long a close waits for held requests to send their answers. */
const HELD_ANSWER_MS = 2000;

export function buildApi(deps: ApiDependencies): FastifyInstance {
  const app = fastify({
    // Request bodies are bounded by the largest message we accept.
    bodyLimit: deps.config.limits.maxMessageBytes,
    logger: false,
    return503OnClosing: true,
  });
  installErrorHandlers(app, deps.logger);
  // Bodies are read raw: whether they are an envelope, a CloudEvent or binary event data is
  // decided by the route from the headers, not by a global parser.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  // Requests held open (?wait=, GET /v1/events) are answered when the API closes, and the close
  // waits (briefly) for those answers: fastify closes idle keep-alive connections only once, right
  // after preClose, so a connection still answering then would hold the close for its keep-alive.
  const held = new Map<AbortController, Promise<void>>();
  let apiClosed = false;
  app.addHook('preClose', async () => {
    apiClosed = true;
    for (const controller of held.keys()) controller.abort();
    deps.feed.close();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(held.values()), new Promise((resolve) => (timer = setTimeout(resolve, HELD_ANSWER_MS)))]);
    clearTimeout(timer);
  });
  const routes: RouteDependencies = {
    ...deps,
    closing(reply) {
      const controller = new AbortController();
      if (apiClosed) controller.abort();
      held.set(
        controller,
        new Promise((resolve) => {
          const answered = (): void => {
            held.delete(controller);
            controller.abort();
            resolve();
          };
          reply.raw.once('finish', answered);
          reply.raw.once('close', answered);
        }),
      );
      return controller.signal;
    },
  };
  registerMessageRoutes(app, routes);
  registerRunRoutes(app, routes);
  registerEventRoutes(app, routes);
  registerJobRoutes(app, deps);
  registerSourceRoutes(app, deps);
  registerExecutorRoutes(app, deps);
  registerOutboxRoutes(app, deps);
  registerHealthRoutes(app, deps);
  return app;
}
