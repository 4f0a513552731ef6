import type { FastifyInstance } from 'fastify';
import type { Source } from '../sources/source.js';

/** Each consuming source with its connection status (credentials are never shown). */
export function registerSourceRoutes(app: FastifyInstance, deps: { readonly sources: readonly Source[] }): void {
  app.get('/v1/sources', async () => ({
    sources: deps.sources.map((source) => ({ name: source.name, type: source.type, status: source.status() })),
  }));
}
