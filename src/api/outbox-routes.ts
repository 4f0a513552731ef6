import type { FastifyInstance } from 'fastify';
import type { OutboxRelay } from '../events/outbox-relay.js';

/** Each outbox target (event sinks, buses chained messages go to): state, waiting entries, last error. */
export function registerOutboxRoutes(app: FastifyInstance, deps: { readonly relay: OutboxRelay }): void {
  app.get('/v1/outbox', async () => ({ targets: deps.relay.status() }));
}
