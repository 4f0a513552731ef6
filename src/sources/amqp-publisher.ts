/**
 * Publishes to RabbitMQ for `jobwire send`: one connection, a confirm channel, persistent
 * messages. `publish` resolves only once the broker confirmed the message (it is then on disk
 * for a durable queue), and fails when nothing received it: messages go out `mandatory`, so an
 * unroutable one (no such queue, no binding) comes back and is reported instead of vanishing.
 *
 * Topic → destination: when the source's `queues.<topic>.exchange` is set, the message goes to
 * that exchange with `routingKey` (default: the topic), as an upstream producer would send it;
 * otherwise straight to the queue named by the topic (the default exchange).
 *
 * Header mapping: `content-type`, `correlation-id` and `message-id` become the AMQP properties;
 * `ce-<attr>` becomes `ce_<attr>` (binary CloudEvents over AMQP); the rest stay headers. A
 * message without `message-id` gets a fresh UUID, so consumers can deduplicate its redeliveries.
 */
import { randomUUID } from 'node:crypto';
import { connect, type ChannelModel, type ConfirmChannel, type ConsumeMessage, type Options } from 'amqplib';
import type { Logger } from 'pino';
import type { SourceDefinition } from '../config/types.js';
import { errorMessage, JobwireError, PermanentError } from '../core/errors.js';
import { readAmqpSettings, redactUrl, settingsForQueue, type AmqpSettings } from './amqp-settings.js';
import type { Publisher, PublisherFactory } from './source.js';

export class AmqpPublishError extends JobwireError {
  override readonly name = 'AmqpPublishError';
}

/** RabbitMQ's pseudo-queue for RPC replies without a reply queue (amq.rabbitmq.reply-to.<token>). */
const DIRECT_REPLY_TO = 'amq.rabbitmq.reply-to';

const PROPERTY_HEADERS = new Set(['content-type', 'correlation-id', 'message-id']);

export function publishOptions(headers: Readonly<Record<string, string>>): Options.Publish & { messageId: string } {
  const lower = new Map(Object.entries(headers).map(([key, value]) => [key.toLowerCase(), value]));
  const amqpHeaders: Record<string, string> = {};
  for (const [key, value] of Object.entries(headers)) {
    const name = key.toLowerCase();
    if (PROPERTY_HEADERS.has(name)) continue;
    amqpHeaders[name.startsWith('ce-') ? 'ce_' + name.slice(3) : key] = value;
  }
  const contentType = lower.get('content-type');
  const correlationId = lower.get('correlation-id');
  return {
    persistent: true,
    mandatory: true,
    messageId: lower.get('message-id') || randomUUID(),
    timestamp: Math.floor(Date.now() / 1000),
    headers: amqpHeaders,
    ...(contentType === undefined ? {} : { contentType }),
    ...(correlationId === undefined ? {} : { correlationId }),
  };
}

class AmqpPublisher implements Publisher {
  /** Message ids the broker handed back as unroutable (basic.return precedes the confirm). */
  private readonly returned = new Set<string>();

  constructor(
    private readonly name: string,
    private readonly settings: AmqpSettings,
    private readonly connection: ChannelModel,
    private readonly channel: ConfirmChannel,
  ) {
    channel.on('return', (message: ConsumeMessage) => {
      const id: unknown = message.properties.messageId;
      if (typeof id === 'string') this.returned.add(id);
    });
  }

  async publish(topic: string, payload: Buffer, headers: Readonly<Record<string, string>>): Promise<void> {
    const queue = settingsForQueue(this.settings, topic);
    const exchange = queue.exchange ?? '';
    const routingKey = queue.exchange === undefined ? topic : (queue.routingKey ?? topic);
    if (await this.send(exchange, routingKey, payload, headers)) {
      throw new AmqpPublishError(
        `source "${this.name}": nothing received the message: ${describe(exchange, routingKey)} routes to no queue` +
          (exchange === '' ? ` (does queue "${topic}" exist? jobwire declares it when it starts consuming)` : ''),
      );
    }
  }

  /** RabbitMQ's RPC pattern: the default exchange, routed by the reply queue's name (also amq.rabbitmq.reply-to.*). */
  async reply(destination: string, payload: Buffer, headers: Readonly<Record<string, string>>): Promise<void> {
    // RabbitMQ returns mandatory publishes to the direct reply-to pseudo-queue even when it
    // delivered them: there the broker alone knows whether the requester is still there.
    const mandatory = !destination.startsWith(DIRECT_REPLY_TO);
    if ((await this.send('', destination, payload, headers, mandatory)) && mandatory) {
      throw new PermanentError(`source "${this.name}": reply queue "${destination}" is gone: nobody waits for this reply any more`);
    }
  }

  /** Publishes and waits for the broker's confirm; true when the broker returned it as unroutable. */
  private async send(exchange: string, routingKey: string, payload: Buffer, headers: Readonly<Record<string, string>>, mandatory = true): Promise<boolean> {
    const options = { ...publishOptions(headers), mandatory };
    await new Promise<void>((resolve, reject) => {
      try {
        this.channel.publish(exchange, routingKey, payload, options, (error: unknown) => {
          if (error === null || error === undefined) resolve();
          else reject(new AmqpPublishError(`source "${this.name}": the broker did not confirm the message to ${describe(exchange, routingKey)}`, { cause: error }));
        });
      } catch (error) {
        reject(new AmqpPublishError(`source "${this.name}": cannot publish: ${errorMessage(error)}`, { cause: error }));
      }
    });
    // basic.return precedes the confirm, so a returned message is known by now.
    return this.returned.delete(options.messageId);
  }

  async close(): Promise<void> {
    await this.channel.close().catch(() => undefined);
    await this.connection.close().catch(() => undefined);
  }
}

function describe(exchange: string, routingKey: string): string {
  return exchange === '' ? `queue "${routingKey}"` : `exchange "${exchange}" with routing key "${routingKey}"`;
}

async function connectAny(definition: SourceDefinition, settings: AmqpSettings): Promise<ChannelModel> {
  const failures: string[] = [];
  for (const url of settings.urls) {
    try {
      return await connect(url, settings.socketOptions);
    } catch (error) {
      failures.push(`${redactUrl(url)}: ${errorMessage(error)}`);
    }
  }
  throw new AmqpPublishError(`source "${definition.name}": cannot connect to RabbitMQ (${failures.join('; ')})`);
}

export const createAmqpPublisher: PublisherFactory = async (definition: SourceDefinition, { logger }: { readonly logger: Logger }) => {
  const settings = readAmqpSettings(definition);
  const connection = await connectAny(definition, settings);
  connection.on('error', (error: Error) => logger.warn({ source: definition.name, err: errorMessage(error) }, 'amqp publisher connection error'));
  try {
    const channel = await connection.createConfirmChannel();
    channel.on('error', (error: Error) => logger.warn({ source: definition.name, err: errorMessage(error) }, 'amqp publisher channel error'));
    return new AmqpPublisher(definition.name, settings, connection, channel);
  } catch (error) {
    await connection.close().catch(() => undefined);
    throw error;
  }
};
