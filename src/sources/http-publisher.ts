/**
 * Publishes to a jobwire's own HTTP API (`POST /v1/messages`) as an envelope: the payload text
 * as the body (parsed by jobwire as a bus would), the headers, and the topic.
 */
import { InvalidInputError, JobwireError } from '../core/errors.js';
import type { Publisher } from './source.js';

export function createHttpPublisher(base: URL): Publisher {
  const endpoint = new URL('/v1/messages', base);
  return {
    async publish(topic, payload, headers) {
      const { 'message-id': id, ...rest } = headers;
      const envelope = { ...(id === undefined ? {} : { id }), topic, headers: rest, body: payload.toString('utf8') };
      const response = await fetch(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(envelope),
      });
      const text = await response.text();
      if (response.status >= 400 && response.status < 500) throw new InvalidInputError(`${endpoint.href} answered ${response.status}: ${text}`);
      if (!response.ok) throw new JobwireError(`${endpoint.href} answered ${response.status}: ${text}`);
    },
    async close() {},
  };
}
