/**
 * The HTTP edge shared by the fake's handlers: what a handler returns (a JSON reply, raw bytes,
 * or a stream it drives itself), reading a request body with a size bound, and writing replies
 * the way the API server does (application/json, Status bodies for errors, Warning headers).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { failureStatus, KubeApiError } from './status.js';

export type Reply =
  | { readonly kind: 'json'; readonly status: number; readonly body: unknown; readonly headers?: Readonly<Record<string, string>> }
  | { readonly kind: 'raw'; readonly status: number; readonly body: Buffer; readonly contentType: string }
  | { readonly kind: 'stream'; readonly start: (request: IncomingMessage, response: ServerResponse) => void };

export function json(status: number, body: unknown, headers?: Readonly<Record<string, string>>): Reply {
  return headers === undefined ? { kind: 'json', status, body } : { kind: 'json', status, body, headers };
}

/** What a handler got: method, path, query and the body as text and as parsed JSON. */
export interface ApiRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly contentType: string;
  readonly text: string;
  readonly body: unknown;
}

const maxBodyBytes = 3 * 1024 * 1024;

export async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buffer.length;
    if (size > maxBodyBytes) throw new KubeApiError(failureStatus(413, 'RequestEntityTooLarge', `request entity too large: limit is ${maxBodyBytes}`));
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The body parsed as JSON; undefined when empty or not JSON (the handler decides if that matters). */
export function parseBody(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export function send(request: IncomingMessage, response: ServerResponse, reply: Reply): void {
  if (reply.kind === 'stream') {
    reply.start(request, response);
    return;
  }
  if (reply.kind === 'raw') {
    response.writeHead(reply.status, { 'Content-Type': reply.contentType, 'Content-Length': reply.body.length });
    response.end(reply.body);
    return;
  }
  const payload = Buffer.from(JSON.stringify(reply.body));
  const headers: Record<string, string | number> = { 'Content-Type': 'application/json', 'Content-Length': payload.length };
  for (const [name, value] of Object.entries(reply.headers ?? {})) headers[name] = value;
  response.writeHead(reply.status, headers);
  response.end(payload);
}

export function errorReply(error: unknown): Reply {
  if (error instanceof KubeApiError) return json(error.status.code, error.status, error.headers);
  const message = error instanceof Error ? error.message : String(error);
  return json(500, failureStatus(500, 'InternalError', `Internal error occurred: ${message}`, { causes: [{ reason: 'UnexpectedServerResponse', message, field: '' }] }));
}
