/**
 * Builds a Source for each configured source. Each broker type is one file implementing
 * `Source`; this table is the only place that knows them all.
 */
import type { Logger } from 'pino';
import type { CompiledConfig, SourceDefinition } from '../config/types.js';
import { InvalidInputError } from '../core/errors.js';
import { createAmqpPublisher, createAmqpSource } from './amqp.js';
import { CronSource } from './cron.js';
import { createNatsPublisher, createNatsSource } from './nats.js';
import type { Publisher, PublisherFactory, Source, SourceContext, SourceFactory } from './source.js';
import { createStompPublisher, createStompSource } from './stomp.js';

/** Broker adapters by `type`: one file each. */
const FACTORIES: ReadonlyMap<string, SourceFactory> = new Map<string, SourceFactory>([
  ['amqp', createAmqpSource],
  ['stomp', createStompSource],
  ['nats', createNatsSource],
]);

/** Publishers by `type`, for `jobwire send`. */
const PUBLISHERS: ReadonlyMap<string, PublisherFactory> = new Map<string, PublisherFactory>([
  ['amqp', createAmqpPublisher],
  ['nats', createNatsPublisher],
  ['stomp', createStompPublisher],
]);

export function canPublish(type: string): boolean {
  return PUBLISHERS.has(type);
}

export function publisherFor(definition: SourceDefinition, context: { readonly logger: Logger }): Promise<Publisher> {
  const factory = PUBLISHERS.get(definition.type);
  if (factory === undefined) throw new InvalidInputError(`source "${definition.name}": cannot publish to type ${definition.type}`);
  return factory(definition, context);
}

export function createSources(config: CompiledConfig, context: SourceContext): Source[] {
  const sources: Source[] = [];
  // The built-in cron source exists only when some trigger uses it.
  if (config.jobs.some((job) => job.triggers.some((trigger) => trigger.source === 'cron'))) {
    sources.push(new CronSource(context.logger.child({ source: 'cron', sourceType: 'cron' })));
  }
  for (const definition of config.sources.values()) {
    const factory = FACTORIES.get(definition.type);
    if (factory === undefined) {
      // The source stays usable for replays (POST /v1/messages naming it), but nothing consumes
      // from its broker: say so loudly rather than pretend to listen.
      const { file, line, col } = definition.position;
      context.logger.error(
        { source: definition.name, type: definition.type, at: `${file}:${line}:${col}` },
        `source type ${definition.type} has no adapter in this version: nothing is consumed from it; messages can still be replayed through POST /v1/messages`,
      );
      continue;
    }
    sources.push(factory(definition, context));
  }
  return sources;
}
