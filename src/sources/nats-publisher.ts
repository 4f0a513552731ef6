/**
 * Publishes to NATS for `jobwire send`. JetStream mode (the default) waits for the stream's
 * PubAck, so a returned `publish` means the message is stored; a `message-id` header becomes the
 * `Nats-Msg-Id`, which the stream deduplicates within its duplicate window (2 minutes unless
 * the stream says otherwise) and jobwire's NATS source uses as the message id. Core mode
 * publishes and flushes: the server has it, but nothing keeps it for a subscriber that is away.
 */
import { jetstream, JetStreamApiError } from '@nats-io/jetstream';
import { connect, headers as natsHeaders, NoRespondersError, type MsgHdrs } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { SourceDefinition } from '../config/types.js';
import { InvalidInputError, JobwireError, errorMessage } from '../core/errors.js';
import { readNatsSettings } from './nats-settings.js';
import type { Publisher } from './source.js';

export class NatsPublishError extends JobwireError {
  override readonly name = 'NatsPublishError';
}

function toHeaders(values: Readonly<Record<string, string>>): MsgHdrs | undefined {
  const entries = Object.entries(values);
  if (entries.length === 0) return undefined;
  const result = natsHeaders();
  for (const [key, value] of entries) result.set(key, value);
  return result;
}

function messageIdOf(values: Readonly<Record<string, string>>): string | undefined {
  for (const [key, value] of Object.entries(values)) if (key.toLowerCase() === 'message-id' && value !== '') return value;
  return undefined;
}

export async function createNatsPublisher(definition: SourceDefinition, context: { readonly logger: Logger }): Promise<Publisher> {
  const settings = readNatsSettings(definition);
  let connection;
  try {
    // A one-shot client: no reconnect loop, fail fast when the server is away.
    connection = await connect({ ...settings.connection, reconnect: false, maxReconnectAttempts: 0 });
  } catch (error) {
    throw new NatsPublishError(`source "${definition.name}": cannot connect to NATS at ${settings.servers.join(', ')}: ${errorMessage(error)}`, { cause: error });
  }
  const js = jetstream(connection);
  return {
    async publish(topic, payload, values) {
      const hdrs = toHeaders(values);
      if (settings.mode === 'core') {
        connection.publish(topic, payload, hdrs === undefined ? {} : { headers: hdrs });
        await connection.flush();
        return;
      }
      const msgID = messageIdOf(values);
      try {
        const ack = await js.publish(topic, payload, { ...(hdrs === undefined ? {} : { headers: hdrs }), ...(msgID === undefined ? {} : { msgID }) });
        if (ack.duplicate) {
          context.logger.warn({ source: definition.name, subject: topic, stream: ack.stream, messageId: msgID }, 'the stream already had a message with this id: not stored again');
        }
      } catch (error) {
        // No stream listens on the subject: the client reports "no responders" as JetStreamNotEnabled.
        const noStream = error instanceof NoRespondersError || (error instanceof Error && (error.name === 'JetStreamNotEnabled' || error.cause instanceof NoRespondersError));
        if (noStream) {
          throw new InvalidInputError(`no JetStream stream captures subject "${topic}", or JetStream is not enabled on the server (to send without a stream, use a source with mode: core)`, { cause: error });
        }
        if (error instanceof JetStreamApiError) throw new NatsPublishError(`JetStream refused the message on "${topic}": ${error.message}`, { cause: error });
        throw error;
      }
    },
    // A reply subject is a core subject (an inbox the requester listens on), in either mode.
    async reply(destination, payload, values) {
      const hdrs = toHeaders(values);
      connection.publish(destination, payload, hdrs === undefined ? {} : { headers: hdrs });
      await connection.flush();
    },
    async close() {
      await connection.drain();
    },
  };
}
