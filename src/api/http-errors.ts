/**
 * Every error leaves the API as JSON `{ "error": "<Name>", "message": "..." }`: 4xx for the
 * caller's faults, 5xx only for ours, and never a stack trace.
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { BackpressureError, ConflictError, InvalidInputError, NotFoundError, UnsupportedMediaTypeError } from '../core/errors.js';

export interface ErrorBody {
  readonly error: string;
  readonly message: string;
}

/** Fastify's own error codes for the caller's faults, and what we call them. */
const FASTIFY_CLIENT_ERRORS: Readonly<Record<string, { status: number; name: string }>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, name: 'PayloadTooLarge' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, name: 'UnsupportedMediaType' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, name: 'InvalidContentLength' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, name: 'InvalidJson' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, name: 'InvalidJson' },
};

export function classify(error: unknown): { status: number; body: ErrorBody; headers?: Readonly<Record<string, string>> } {
  if (error instanceof BackpressureError) {
    return { status: 429, body: { error: error.name, message: error.message }, headers: { 'retry-after': String(error.retryAfterSeconds) } };
  }
  if (error instanceof UnsupportedMediaTypeError) return { status: 415, body: { error: error.name, message: error.message } };
  if (error instanceof InvalidInputError) return { status: 400, body: { error: error.name, message: error.message } };
  if (error instanceof NotFoundError) return { status: 404, body: { error: error.name, message: error.message } };
  if (error instanceof ConflictError) return { status: 409, body: { error: error.name, message: error.message } };
  const fastifyError = error as Partial<FastifyError>;
  const known = fastifyError.code === undefined ? undefined : FASTIFY_CLIENT_ERRORS[fastifyError.code];
  if (known !== undefined) return { status: known.status, body: { error: known.name, message: fastifyError.message ?? known.name } };
  if (fastifyError.validation !== undefined) {
    return { status: 400, body: { error: 'InvalidInputError', message: fastifyError.message ?? 'invalid request' } };
  }
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return { status, body: { error: 'BadRequest', message: fastifyError.message ?? 'bad request' } };
  }
  return { status: 500, body: { error: 'InternalError', message: 'internal error; see the server log' } };
}

export function installErrorHandlers(app: FastifyInstance, logger: Logger): void {
  app.setErrorHandler((error, request, reply) => {
    const { status, body, headers } = classify(error);
    if (headers !== undefined) void reply.headers(headers);
    if (status >= 500) logger.error({ err: error, url: request.url, method: request.method }, 'request failed');
    else logger.debug({ url: request.url, status, error: body.message }, 'request rejected');
    void reply.status(status).type('application/json').send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({ error: 'NotFound', message: `no route ${request.method} ${request.url.split('?')[0]}` });
  });
}
