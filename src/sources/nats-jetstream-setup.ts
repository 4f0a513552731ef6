/**
 * Finds the stream behind each trigger subject and makes sure jobwire's pull consumer on it
 * exists with the settings asked for.
 *
 * One consumer per subject: a consumer with several filter subjects needs nats-server 2.10, and
 * the subjects of one source may live in different streams anyway. Names: the source's durable
 * name (`durable:` or `jobwire-<source>`) when it has one subject, `<durable>_<subject slug>`
 * when it has several (the slug maps `.` to `_`, `*` to `any`, `>` to `all`).
 */
import { AckPolicy, DeliverPolicy, JetStreamApiCodes, JetStreamApiError, ReplayPolicy } from '@nats-io/jetstream';
import type { ConsumerConfig, ConsumerInfo, JetStreamManager } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { JobwireError } from '../core/errors.js';
import type { NatsSettings } from './nats-settings.js';

/** The broker does not have what the configuration needs (no stream, a conflicting consumer). */
export class NatsSetupError extends JobwireError {
  override readonly name = 'NatsSetupError';
}

export interface ConsumerTarget {
  readonly subject: string;
  readonly stream: string;
  readonly durable: string;
}

function slug(subject: string): string {
  return subject
    .split('.')
    .map((token) => (token === '*' ? 'any' : token === '>' ? 'all' : token.replace(/[^A-Za-z0-9_-]/g, '-')))
    .join('_');
}

export function durableFor(settings: NatsSettings, subject: string, subjectCount: number): string {
  return subjectCount === 1 ? settings.durable : `${settings.durable}_${slug(subject)}`;
}

function isApiError(error: unknown, code: number): boolean {
  return error instanceof JetStreamApiError && error.code === code;
}

/** The stream that stores `subject`: the configured one (checked), else the only one capturing it. */
export async function resolveStream(jsm: JetStreamManager, source: string, subject: string, configured: string | undefined): Promise<string> {
  if (configured !== undefined) {
    try {
      await jsm.streams.info(configured);
    } catch (error) {
      if (isApiError(error, JetStreamApiCodes.StreamNotFound)) {
        throw new NatsSetupError(`source "${source}": stream "${configured}" does not exist on the NATS server`, { cause: error });
      }
      throw error;
    }
    return configured;
  }
  const names: string[] = [];
  for await (const name of jsm.streams.names(subject)) names.push(name);
  if (names.length === 1 && names[0] !== undefined) return names[0];
  if (names.length === 0) {
    throw new NatsSetupError(
      `source "${source}": no JetStream stream captures subject "${subject}": create one (e.g. nats stream add --subjects '${subject}') or use mode: core`,
    );
  }
  throw new NatsSetupError(`source "${source}": several streams capture subject "${subject}" (${names.join(', ')}): set stream: to the one to consume`);
}

function desiredConfig(settings: NatsSettings, target: ConsumerTarget): Partial<ConsumerConfig> {
  return {
    durable_name: target.durable,
    description: 'jobwire: runs jobs for the messages of this subject',
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(settings.ackWaitMs),
    max_ack_pending: settings.maxAckPending,
    // Unlimited: a message that cannot be recorded (store down) is retried until it can be.
    max_deliver: -1,
    filter_subject: target.subject,
    deliver_policy: settings.deliverPolicy === 'new' ? DeliverPolicy.New : DeliverPolicy.All,
    replay_policy: ReplayPolicy.Instant,
  };
}

/** Creates the consumer, or checks and updates an existing durable one; returns its name. */
export async function ensureConsumer(jsm: JetStreamManager, settings: NatsSettings, target: ConsumerTarget): Promise<string> {
  let existing: ConsumerInfo | undefined;
  try {
    existing = await jsm.consumers.info(target.stream, target.durable);
  } catch (error) {
    if (!isApiError(error, JetStreamApiCodes.ConsumerNotFound)) throw error;
  }
  if (existing !== undefined) return updateExisting(jsm, settings, target, existing);
  const info = await jsm.consumers.add(target.stream, desiredConfig(settings, target));
  return info.name;
}

async function updateExisting(jsm: JetStreamManager, settings: NatsSettings, target: ConsumerTarget, info: ConsumerInfo): Promise<string> {
  const { config } = info;
  const where = `consumer "${info.name}" on stream "${target.stream}"`;
  const fix = `delete it (nats consumer rm ${target.stream} ${info.name}) or set durable: to another name`;
  if (config.deliver_subject !== undefined && config.deliver_subject !== '') {
    throw new NatsSetupError(`${where} is a push consumer; jobwire needs a pull consumer: ${fix}`);
  }
  if ((config.filter_subject ?? '') !== target.subject) {
    throw new NatsSetupError(`${where} filters "${config.filter_subject ?? '(everything)'}", not "${target.subject}": ${fix}`);
  }
  if (config.ack_policy !== AckPolicy.Explicit) {
    throw new NatsSetupError(`${where} has ack policy "${config.ack_policy}"; jobwire acknowledges each message explicitly: ${fix}`);
  }
  const ackWait = nanos(settings.ackWaitMs);
  if (config.ack_wait !== ackWait || config.max_ack_pending !== settings.maxAckPending) {
    await jsm.consumers.update(target.stream, info.name, { ack_wait: ackWait, max_ack_pending: settings.maxAckPending });
  }
  return info.name;
}
