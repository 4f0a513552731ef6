/**
 * The HTTP API: the built-in `http` source (`POST /v1/messages`), and inspection and control of
 * runs. Routes live in one file per resource; this file wires them and the error handling.
 */
import fastify, { type FastifyInstance } from 'fastify';
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
}

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
  registerMessageRoutes(app, deps);
  registerRunRoutes(app, deps);
  registerJobRoutes(app, deps);
  registerSourceRoutes(app, deps);
  registerExecutorRoutes(app, deps);
  registerOutboxRoutes(app, deps);
  registerHealthRoutes(app, deps);
  return app;
}
