/**
 * The outbox targets a config needs: one per event sink, one per source that `then: publish`
 * sends to, and one per bus source for replies to requests. Built here so app.ts only wires them.
 */
import type { Logger } from 'pino';
import type { CompiledConfig } from '../config/types.js';
import { canPublish, publisherFor } from '../sources/registry.js';
import { replyTarget } from './replies.js';
import { BusDeliverer } from './bus-deliverer.js';
import type { Deliverer } from './deliverer.js';
import { WebhookDeliverer } from './webhook-deliverer.js';

export function createDeliverers(config: CompiledConfig, logger: Logger): Deliverer[] {
  const deliverers: Deliverer[] = [];
  for (const sink of config.events.sinks) {
    const target = `sink:${sink.name}`;
    if (sink.kind === 'webhook') {
      deliverers.push(new WebhookDeliverer({ target, url: sink.url, headers: sink.headers, timeoutMs: sink.timeoutMs, maxPending: sink.maxPending }));
      continue;
    }
    const source = config.sources.get(sink.source);
    if (source === undefined) continue;
    deliverers.push(new BusDeliverer({ target, source, topic: sink.topic, maxPending: sink.maxPending, connect: publisherFor, logger: logger.child({ sink: sink.name }) }));
  }
  const publishedTo = new Set(config.jobs.flatMap((job) => job.then.flatMap((entry) => (entry.action.kind === 'publish' ? [entry.action.source] : []))));
  for (const name of publishedTo) {
    const source = config.sources.get(name);
    if (source === undefined) continue;
    deliverers.push(new BusDeliverer({ target: `publish:${name}`, source, connect: publisherFor, logger: logger.child({ chainTo: name }) }));
  }
  // Every bus source can answer requests that arrive on it (events/replies.ts).
  for (const source of config.sources.values()) {
    if (!canPublish(source.type)) continue;
    deliverers.push(new BusDeliverer({ target: replyTarget(source.name), source, mode: 'reply', connect: publisherFor, logger: logger.child({ repliesOn: source.name }) }));
  }
  return deliverers;
}

/** The sources whose runs' results go back to a caller that named a reply destination. */
export function replySources(config: CompiledConfig): ReadonlySet<string> {
  return new Set([...config.sources.values()].filter((source) => canPublish(source.type)).map((source) => source.name));
}
