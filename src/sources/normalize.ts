/**
 * Turns what a source received (headers + payload bytes or text) into a normalized Message.
 * Every source and the HTTP API's replay path use this one function, so a message pasted from a
 * bus's logs is normalized exactly as it was when it arrived on that bus.
 *
 * CloudEvents are recognised in both content modes:
 *  - structured: the payload is a JSON object with `specversion`, `id`, `source` and `type`;
 *  - binary: the attributes travel as `ce-*` headers (`ce_` on AMQP) and the payload is `data`.
 * In both cases `body` becomes the event's structured JSON, so `$.data.x` means the same thing.
 */
import { newId } from '../core/ids.js';
import { InvalidInputError } from '../core/errors.js';
import type { CloudEventAttributes, Message } from '../core/message.js';

export interface RawMessage {
  readonly source: string;
  readonly topic: string;
  /** Header names are matched case-insensitively; they are stored lower-cased. */
  readonly headers: Readonly<Record<string, string>>;
  /** The payload: text or bytes, or an already-parsed JSON value. */
  readonly payload: string | Uint8Array | { readonly json: unknown };
  /** The content type, when the transport tells it. */
  readonly contentType?: string;
  /** The broker's message id, when it gives one. */
  readonly id?: string;
  readonly receivedAt?: number;
}

const CE_REQUIRED = ['id', 'source', 'type', 'specversion'] as const;
/** Stateless when used without `stream`: one for every message rather than one each. */
const UTF8 = new TextDecoder('utf-8', { fatal: true });
const CE_OPTIONAL = ['subject', 'time', 'datacontenttype', 'dataschema'] as const;

export function lowerCaseHeaders(headers: Readonly<Record<string, unknown>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(headers)) {
    if (value === undefined || value === null) continue;
    out[key.toLowerCase()] = typeof value === 'string' ? value : Array.isArray(value) ? value.join(', ') : String(value);
  }
  return out;
}

function isJsonContentType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const base = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return base === 'application/json' || base.endsWith('+json') || base === 'text/json';
}

/** Parses text as JSON when it looks like JSON; otherwise keeps the text. */
function parsePayloadText(text: string, contentType: string | undefined): unknown {
  const trimmed = text.trimStart();
  const looksJson = trimmed.startsWith('{') || trimmed.startsWith('[') || trimmed.startsWith('"');
  if (!isJsonContentType(contentType) && !looksJson) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    if (isJsonContentType(contentType)) {
      throw new InvalidInputError(`payload is declared as ${contentType} but is not valid JSON`, { cause: error });
    }
    return text;
  }
}

function payloadValue(raw: RawMessage): unknown {
  const { payload } = raw;
  if (typeof payload === 'string') return parsePayloadText(payload, raw.contentType);
  if (payload instanceof Uint8Array) {
    let text: string;
    try {
      text = UTF8.decode(payload);
    } catch (error) {
      throw new InvalidInputError('payload is not valid UTF-8 text', { cause: error });
    }
    return parsePayloadText(text, raw.contentType);
  }
  return payload.json;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function structuredCloudEvent(body: unknown): CloudEventAttributes | undefined {
  if (!isRecord(body)) return undefined;
  if (!CE_REQUIRED.every((key) => typeof body[key] === 'string' && body[key] !== '')) return undefined;
  const attributes: Record<string, string> = {};
  for (const key of [...CE_REQUIRED, ...CE_OPTIONAL]) {
    const value = body[key];
    if (typeof value === 'string') attributes[key] = value;
  }
  return attributes as unknown as CloudEventAttributes;
}

/** Binary-mode attributes from `ce-*` (HTTP, STOMP) or `ce_*` (AMQP) headers. */
function binaryCloudEvent(headers: Readonly<Record<string, string>>, contentType: string | undefined): CloudEventAttributes | undefined {
  const attributes: Record<string, string> = {};
  for (const [key, value] of Object.entries(headers)) {
    if (key.startsWith('ce-') || key.startsWith('ce_')) attributes[key.slice(3)] = value;
  }
  if (!CE_REQUIRED.every((key) => typeof attributes[key] === 'string' && attributes[key] !== '')) return undefined;
  if (contentType !== undefined && attributes['datacontenttype'] === undefined) attributes['datacontenttype'] = contentType;
  return attributes as unknown as CloudEventAttributes;
}

/** Normalizes a raw delivery. Throws InvalidInputError when the payload cannot be decoded. */
export function normalizeMessage(raw: RawMessage): Message {
  const headers = lowerCaseHeaders(raw.headers);
  const contentType = raw.contentType ?? headers['content-type'];
  let body = payloadValue({ ...raw, contentType });
  let cloudEvent = structuredCloudEvent(body);
  if (cloudEvent === undefined) {
    const binary = binaryCloudEvent(headers, contentType);
    if (binary !== undefined) {
      cloudEvent = binary;
      body = { ...binary, data: body };
    }
  }
  const id = nonEmpty(raw.id) ?? nonEmpty(headers['message-id']) ?? cloudEvent?.id ?? newId();
  const correlationId = nonEmpty(headers['correlation-id']) ?? nonEmpty(headers['correlation_id']) ?? cloudEvent?.id ?? id;
  return {
    id,
    source: raw.source,
    topic: raw.topic,
    headers,
    body: body === undefined ? null : body,
    ...(cloudEvent === undefined ? {} : { cloudEvent }),
    correlationId,
    receivedAt: raw.receivedAt ?? Date.now(),
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
