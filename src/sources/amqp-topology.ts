/**
 * What the `amqp` source declares on the broker before consuming: each trigger topic is a queue
 * (declared, durable by default), optionally bound to an exchange, optionally with a
 * dead-letter exchange. Declaring is idempotent, so it runs again on every reconnect — a broker
 * that lost a non-durable queue gets it back before the consumer resubscribes.
 *
 * RabbitMQ refuses to redeclare an existing queue with different arguments (406
 * PRECONDITION_FAILED, which also closes the channel); that is turned into an error naming the
 * queue and the argument, because the raw broker text does not say what to change.
 */
import type { Channel } from 'amqplib';
import { errorMessage, JobwireError } from '../core/errors.js';
import { settingsForQueue, type AmqpSettings, type QueueSettings } from './amqp-settings.js';

/** A trigger topic that cannot name a queue (a wildcard). */
export class AmqpTopicError extends JobwireError {
  override readonly name = 'AmqpTopicError';
}

/** The queue (or exchange) exists on the broker with other arguments than the config asks for. */
export class AmqpTopologyMismatchError extends JobwireError {
  override readonly name = 'AmqpTopologyMismatchError';
  constructor(
    message: string,
    /** The queue or exchange name. */
    readonly entity: string,
    readonly argument: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** True when jobwire's topic matcher would read `topic` as a pattern (see matching/glob.ts). */
export function isPatternTopic(topic: string): boolean {
  return topic.includes('*') || topic === '#' || topic === '>' || /[./][#>]$/.test(topic);
}

/** Queues have exact names: a wildcard topic would silently consume nothing, so refuse it. */
export function checkQueueTopics(source: string, topics: readonly string[]): void {
  for (const topic of topics) {
    if (isPatternTopic(topic)) {
      throw new AmqpTopicError(
        `source "${source}" (amqp): trigger topic "${topic}" is a wildcard, but an amqp topic names one queue; ` +
          'bind the queue to an exchange with a wildcard routing key instead (queues.<name>.exchange, routingKey)',
      );
    }
  }
}

function queueArguments(settings: QueueSettings): Record<string, string> {
  const args: Record<string, string> = {};
  if (settings.deadLetterExchange !== undefined) args['x-dead-letter-exchange'] = settings.deadLetterExchange;
  if (settings.deadLetterRoutingKey !== undefined) args['x-dead-letter-routing-key'] = settings.deadLetterRoutingKey;
  return args;
}

// RabbitMQ's text: "inequivalent arg 'durable' for queue 'q' in vhost '/': received 'false' but current is 'true'"
const INEQUIVALENT = /inequivalent arg '([^']+)' for (?:queue|exchange) '[^']*' in vhost '[^']*': (.*?)"?$/;

function mismatch(source: string, kind: 'queue' | 'exchange', entity: string, error: unknown): AmqpTopologyMismatchError | undefined {
  const text = errorMessage(error);
  const code = (error as { code?: unknown } | null)?.code;
  if (code !== 406 && !text.includes('PRECONDITION_FAILED')) return undefined;
  const found = INEQUIVALENT.exec(text);
  const argument = found?.[1] ?? 'argument';
  const detail = found?.[2] ?? text;
  const remedy = kind === 'queue' ? `rabbitmqctl delete_queue ${entity}` : `rabbitmqadmin delete exchange name=${entity}`;
  return new AmqpTopologyMismatchError(
    `source "${source}" (amqp): ${kind} "${entity}" already exists with a different ${argument} than configured (${detail}); ` +
      `RabbitMQ cannot change it in place: delete it (${remedy}) or make the config match it`,
    entity,
    argument,
    { cause: error },
  );
}

/** Declares the queue, its exchange and binding. Throws AmqpTopologyMismatchError on a 406. */
export async function declareQueue(channel: Channel, source: string, queue: string, settings: AmqpSettings): Promise<void> {
  const queueSettings = settingsForQueue(settings, queue);
  try {
    await channel.assertQueue(queue, { durable: queueSettings.durable, arguments: queueArguments(queueSettings) });
  } catch (error) {
    throw mismatch(source, 'queue', queue, error) ?? error;
  }
  const { exchange } = queueSettings;
  if (exchange === undefined) return;
  try {
    // Exchanges are durable: they are shared with publishers and cost nothing to keep.
    await channel.assertExchange(exchange, queueSettings.exchangeType, { durable: true });
  } catch (error) {
    throw mismatch(source, 'exchange', exchange, error) ?? error;
  }
  await channel.bindQueue(queue, exchange, queueSettings.routingKey ?? queue);
}
