import type { FastifyInstance } from 'fastify';

export interface Readiness {
  readonly ready: boolean;
  readonly checks: Readonly<Record<string, string>>;
}

export function registerHealthRoutes(app: FastifyInstance, deps: { readonly readiness: () => Readiness }): void {
  /** Liveness: the process answers. */
  app.get('/healthz', async () => ({ status: 'ok' }));
  /** Readiness: store open, dispatcher running, sources connected. */
  app.get('/readyz', async (_request, reply) => {
    const readiness = deps.readiness();
    return reply.status(readiness.ready ? 200 : 503).send({ status: readiness.ready ? 'ready' : 'not ready', checks: readiness.checks });
  });
}
