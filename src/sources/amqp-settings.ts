/**
 * The `amqp` source's settings, read once from the compiled source definition into a typed
 * shape. The config schema already checked the keys' types; this file applies the defaults,
 * resolves TLS material (a path or inline PEM) and builds what amqplib's `connect` takes.
 * Credentials end up only in the connect options, never in anything that is logged.
 */
import type { SocketOptions } from 'amqplib';
import { credentials } from 'amqplib';
import type { SourceDefinition } from '../config/types.js';
import { JobwireError } from '../core/errors.js';
import { int, parseSourceUrl, readTls, record, redactUrl, str, urlList, type Settings } from './settings-readers.js';

// Kept importable from here: the amqp source and publisher log redacted URLs.
export { redactUrl };

/** A setting the adapter cannot work with (missing URL, unreadable TLS file, wrong scheme). */
export class AmqpSettingsError extends JobwireError {
  override readonly name = 'AmqpSettingsError';
}

export type ExchangeType = 'direct' | 'topic' | 'fanout' | 'headers';

export interface QueueSettings {
  readonly durable: boolean;
  readonly exchange?: string;
  readonly exchangeType: ExchangeType;
  readonly routingKey?: string;
  readonly deadLetterExchange?: string;
  readonly deadLetterRoutingKey?: string;
}

export interface AmqpSettings {
  /** Tried in turn, one per connection attempt (failover between cluster nodes). */
  readonly urls: readonly string[];
  readonly prefetch: number;
  /** `reconnectDelayMs`: the first reconnect delay, when the source sets its own. */
  readonly reconnectInitialMs?: number;
  readonly socketOptions: SocketOptions;
  /** Per-queue overrides by queue name; queues not listed get `queueDefaults`. */
  readonly queues: ReadonlyMap<string, QueueSettings>;
  readonly queueDefaults: QueueSettings;
}

export const DEFAULT_PREFETCH = 100;
/** Detects a half-open TCP connection within about a minute (two missed beats). */
export const DEFAULT_HEARTBEAT_MS = 30_000;
const CONNECT_TIMEOUT_MS = 10_000;
const MIN_RECONNECT_MS = 10;

/** Settings of other broker types: accepted by the schema, meaningless here (warned about). */
export const IGNORED_KEYS = ['login', 'passcode', 'token', 'stream', 'ackWaitMs', 'deadLetterQueue', 'mode', 'maxAckPending', 'nakDelayMs'] as const;

function urlsOf(definition: SourceDefinition): string[] {
  const { settings } = definition;
  const urls = urlList(settings);
  if (urls.length === 0) throw new AmqpSettingsError(`source "${definition.name}": set url (like amqp://host:5672) or urls`);
  return urls.map((url) => withQuery(definition, url, settings));
}

/** Applies `vhost` and `heartbeatMs` to a URL; the scheme must be amqp or amqps. */
function withQuery(definition: SourceDefinition, text: string, settings: Settings): string {
  const url = parseSourceUrl(definition, text, ['amqp:', 'amqps:'], AmqpSettingsError);
  const vhost = str(settings, 'vhost');
  if (vhost !== undefined) url.pathname = '/' + encodeURIComponent(vhost);
  // An explicit heartbeatMs wins; a URL's own ?heartbeat= is kept; otherwise our default.
  const heartbeatMs = int(settings, 'heartbeatMs');
  if (heartbeatMs !== undefined || !url.searchParams.has('heartbeat')) {
    url.searchParams.set('heartbeat', String(Math.ceil((heartbeatMs ?? DEFAULT_HEARTBEAT_MS) / 1000)));
  }
  return url.toString();
}

function socketOptionsOf(definition: SourceDefinition): SocketOptions {
  const { settings } = definition;
  const options: SocketOptions = {
    timeout: CONNECT_TIMEOUT_MS,
    clientProperties: { connection_name: str(settings, 'clientId') ?? `jobwire ${definition.name}` },
  };
  const username = str(settings, 'username');
  const password = str(settings, 'password');
  // Explicit keys win over the URL's user info, so the URL can stay free of secrets.
  if (username !== undefined || password !== undefined) options.credentials = credentials.plain(username ?? '', password ?? '');
  const tls = record(settings['tls']);
  if (tls !== undefined) {
    const { ca, ...material } = readTls(definition, tls, AmqpSettingsError);
    // amqplib hands `ca` to tls.connect as a list of CAs.
    if (ca !== undefined) options.ca = [ca];
    Object.assign(options, material);
  }
  return options;
}

interface SourceQueueDefaults {
  readonly durable: boolean;
  readonly deadLetterExchange: string | undefined;
}

function queueSettings(raw: Settings | undefined, defaults: SourceQueueDefaults): QueueSettings {
  const exchangeType = raw?.['exchangeType'];
  const durable = raw?.['durable'];
  const exchange = raw === undefined ? undefined : str(raw, 'exchange');
  const routingKey = typeof raw?.['routingKey'] === 'string' ? raw['routingKey'] : undefined;
  const deadLetterExchange = typeof raw?.['deadLetterExchange'] === 'string' ? raw['deadLetterExchange'] : defaults.deadLetterExchange;
  const deadLetterRoutingKey = raw === undefined ? undefined : str(raw, 'deadLetterRoutingKey');
  return {
    durable: typeof durable === 'boolean' ? durable : defaults.durable,
    exchangeType: exchangeType === 'direct' || exchangeType === 'fanout' || exchangeType === 'headers' ? exchangeType : 'topic',
    ...(exchange === undefined ? {} : { exchange }),
    ...(routingKey === undefined ? {} : { routingKey }),
    ...(deadLetterExchange === undefined ? {} : { deadLetterExchange }),
    ...(deadLetterRoutingKey === undefined ? {} : { deadLetterRoutingKey }),
  };
}

export function readAmqpSettings(definition: SourceDefinition): AmqpSettings {
  const { settings } = definition;
  // `deadLetterExchange: ""` is meaningful to RabbitMQ (the default exchange), so keep it.
  const defaults: SourceQueueDefaults = {
    // The source-level `durable: true|false` sets the default for every queue (a name is meaningless here).
    durable: typeof settings['durable'] === 'boolean' ? settings['durable'] : true,
    deadLetterExchange: typeof settings['deadLetterExchange'] === 'string' ? settings['deadLetterExchange'] : undefined,
  };
  const reconnectDelayMs = int(settings, 'reconnectDelayMs');
  const queues = new Map<string, QueueSettings>();
  for (const [name, raw] of Object.entries(record(settings['queues']) ?? {})) queues.set(name, queueSettings(record(raw), defaults));
  return {
    urls: urlsOf(definition),
    prefetch: int(settings, 'prefetch') ?? DEFAULT_PREFETCH,
    // Floored: a zero delay would spin against a broker that refuses connections.
    ...(reconnectDelayMs === undefined ? {} : { reconnectInitialMs: Math.max(MIN_RECONNECT_MS, reconnectDelayMs) }),
    socketOptions: socketOptionsOf(definition),
    queues,
    queueDefaults: queueSettings(undefined, defaults),
  };
}

export function settingsForQueue(settings: AmqpSettings, queue: string): QueueSettings {
  return settings.queues.get(queue) ?? settings.queueDefaults;
}
