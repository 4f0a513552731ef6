/**
 * Reads a `POST /v1/messages` request as a Message. Three forms are accepted:
 *
 *  - a structured CloudEvent: `Content-Type: application/cloudevents+json` (or JSON with
 *    `specversion`);
 *  - a binary CloudEvent: `ce-specversion`, `ce-id`, `ce-source`, `ce-type` headers, the
 *    request body being the event's data;
 *  - an envelope (`application/json`): `{ id, source, topic, headers, body }` — naming a
 *    configured `source` replays a message copied from that bus exactly as if it arrived there.
 *
 * Only message-describing request headers are kept (never Authorization, cookies, …).
 */
import { InvalidInputError, UnsupportedMediaTypeError } from '../core/errors.js';
import type { Message } from '../core/message.js';
import { lowerCaseHeaders, normalizeMessage } from '../sources/normalize.js';

export const ENVELOPE_KEYS = ['id', 'source', 'topic', 'headers', 'body'] as const;

export interface HttpMessageRequest {
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
  /** `?topic=` for CloudEvent forms (an envelope carries its own). */
  readonly topic?: string;
  /** Sources a message may claim to come from: `http`, `cron` and the configured ones. */
  readonly knownSources: ReadonlySet<string>;
}

const KEPT_HEADERS = new Set(['content-type', 'correlation-id', 'message-id', 'traceparent', 'tracestate']);

function keptHeaders(headers: Readonly<Record<string, string | string[] | undefined>>): Record<string, string> {
  const all = lowerCaseHeaders(headers);
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(all)) {
    if (KEPT_HEADERS.has(name) || name.startsWith('ce-')) kept[name] = value;
  }
  return kept;
}

function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

function parseJson(body: Buffer): unknown {
  const text = body.toString('utf8');
  if (text.trim() === '') throw new InvalidInputError('request body is empty; expected JSON');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new InvalidInputError(`request body is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function messageFromHttp(request: HttpMessageRequest): Message {
  const headers = keptHeaders(request.headers);
  const type = mediaType(headers['content-type']);
  const topic = request.topic ?? '';
  if (headers['ce-specversion'] !== undefined) {
    return normalizeMessage({ source: 'http', topic, headers, payload: new Uint8Array(request.body), ...contentTypeOf(headers) });
  }
  if (type === 'application/cloudevents+json') {
    const event = parseJson(request.body);
    if (!isRecord(event) || typeof event['specversion'] !== 'string') {
      throw new InvalidInputError('a structured CloudEvent must be a JSON object with specversion, id, source and type');
    }
    return normalizeMessage({ source: 'http', topic, headers, payload: { json: event } });
  }
  if (type !== 'application/json') {
    throw new UnsupportedMediaTypeError(
      `unsupported content type "${type || '(none)'}": send application/json (an envelope), application/cloudevents+json, or a binary CloudEvent with ce-* headers`,
    );
  }
  const parsed = parseJson(request.body);
  if (isRecord(parsed) && typeof parsed['specversion'] === 'string') {
    return normalizeMessage({ source: 'http', topic, headers, payload: { json: parsed } });
  }
  return messageFromEnvelope(parsed, request.knownSources);
}

export function messageFromEnvelope(envelope: unknown, knownSources: ReadonlySet<string>): Message {
  if (!isRecord(envelope)) throw new InvalidInputError(`an envelope must be a JSON object with keys ${ENVELOPE_KEYS.join(', ')}`);
  const unknown = Object.keys(envelope).filter((key) => !(ENVELOPE_KEYS as readonly string[]).includes(key));
  if (unknown.length > 0) {
    throw new InvalidInputError(`unknown envelope key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}; allowed: ${ENVELOPE_KEYS.join(', ')}`);
  }
  const { id, source = 'http', topic = '', headers = {}, body = null } = envelope;
  if (id !== undefined && (typeof id !== 'string' || id === '')) throw new InvalidInputError('envelope "id" must be a non-empty string');
  if (typeof source !== 'string') throw new InvalidInputError('envelope "source" must be a string');
  if (!knownSources.has(source)) {
    throw new InvalidInputError(`unknown source "${source}"; known: ${[...knownSources].join(', ')}`);
  }
  if (typeof topic !== 'string') throw new InvalidInputError('envelope "topic" must be a string');
  if (!isRecord(headers) || !Object.values(headers).every((value) => typeof value === 'string')) {
    throw new InvalidInputError('envelope "headers" must be an object of string values');
  }
  return normalizeMessage({
    source,
    topic,
    headers: headers as Record<string, string>,
    // A string body is the payload as the bus carried it (JSON text is parsed, as a source would).
    payload: typeof body === 'string' ? body : { json: body },
    ...(id === undefined ? {} : { id }),
  });
}

function contentTypeOf(headers: Record<string, string>): { contentType?: string } {
  const contentType = headers['content-type'];
  return contentType === undefined ? {} : { contentType };
}
