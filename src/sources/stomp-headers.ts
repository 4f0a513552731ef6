/**
 * Headers of the frames jobwire SENDs over STOMP: what a published message carries, and what a
 * dead-lettered copy keeps of the original.
 */
import type { StompHeaders } from '@stomp/stompjs';

/** Set by the broker per delivery (or by the frame itself): never copied onto a new SEND. */
const PER_DELIVERY = new Set(['message-id', 'destination', 'subscription', 'ack', 'content-length', 'receipt', 'redelivered', 'expires', 'transaction']);

/** Header values are one line; long reasons are cut so the frame stays small. */
function headerValue(text: string, max = 500): string {
  const line = text.replace(/[\r\n]+/g, ' ');
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** What a dead-lettered copy carries: the original's headers, the reason, where it came from. */
export function deadLetterHeaders(original: StompHeaders, reason: string): StompHeaders {
  const headers: StompHeaders = {};
  for (const [key, value] of Object.entries(original)) if (!PER_DELIVERY.has(key)) headers[key] = value;
  return {
    ...headers,
    persistent: 'true',
    'jobwire-reject-reason': headerValue(reason),
    ...(original['destination'] === undefined ? {} : { 'jobwire-original-destination': original['destination'] }),
    ...(original['message-id'] === undefined ? {} : { 'jobwire-original-message-id': original['message-id'] }),
  };
}

/**
 * A published message: persistent (ActiveMQ keeps it on disk and dead-letters it when rejected;
 * non-persistent messages would be dropped instead), with the caller's headers. The broker
 * assigns `message-id`; a caller's own value for it is ignored by ActiveMQ.
 */
export function publishHeaders(headers: Readonly<Record<string, string>>): StompHeaders {
  const out: StompHeaders = {};
  for (const [key, value] of Object.entries(headers)) if (!PER_DELIVERY.has(key.toLowerCase())) out[key] = headerValue(value, 4096);
  return { persistent: 'true', ...out };
}
