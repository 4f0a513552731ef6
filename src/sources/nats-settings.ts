/**
 * The `nats` source's settings, read once from the compiled source definition into a typed
 * shape. The config schema already checked the keys' types; this file applies the defaults,
 * resolves TLS material (a path or inline PEM) and builds what the NATS client's `connect`
 * takes. Credentials end up only in the connect options, never in anything that is logged.
 */
import type { NodeConnectionOptions } from '@nats-io/transport-node';
import type { SourceDefinition } from '../config/types.js';
import { JobwireError } from '../core/errors.js';
import { int, parseSourceUrl, readTls, record, redactUrl, str, urlList } from './settings-readers.js';

/** A setting the adapter cannot work with (bad URL, unreadable TLS file, unknown option). */
export class NatsSettingsError extends JobwireError {
  override readonly name = 'NatsSettingsError';
}

export type NatsMode = 'jetstream' | 'core';
/** Where a consumer created by jobwire starts reading its stream the first time. */
export type StartPolicy = 'all' | 'new';

export interface NatsSettings {
  readonly mode: NatsMode;
  /** Server URLs, credentials removed: what logs may show. */
  readonly servers: readonly string[];
  /** The stream to consume; undefined: found per subject through the JetStream API. */
  readonly stream?: string;
  /** Base name of the durable consumers (JetStream mode). */
  readonly durable: string;
  readonly ackWaitMs: number;
  /** Server-side bound on delivered-but-unacknowledged messages per consumer. */
  readonly maxAckPending: number;
  /** Messages asked for per pull (client-side buffer); at most maxAckPending. */
  readonly prefetch: number;
  readonly nakDelayMs: number;
  readonly deliverPolicy: StartPolicy;
  /** Core mode only: a queue group, so replicas share the subject instead of each getting all. */
  readonly queue?: string;
  /** Everything `connect` needs except the reconnect delay handler (the source adds it). */
  readonly connection: NodeConnectionOptions;
}

export const DEFAULT_URL = 'nats://127.0.0.1:4222';
export const DEFAULT_ACK_WAIT_MS = 30_000;
export const DEFAULT_MAX_ACK_PENDING = 1000;
export const DEFAULT_NAK_DELAY_MS = 1000;
/** A pull of this many keeps the pipe full without hoarding messages another replica could take. */
const DEFAULT_PREFETCH_CAP = 256;
/** Two missed pings (one minute) reveal a half-open TCP connection. */
const DEFAULT_PING_INTERVAL_MS = 30_000;
const CONNECT_TIMEOUT_MS = 10_000;
const KNOWN_OPTIONS = ['deliverPolicy', 'queue'] as const;

/** The URL without its user and password: what logs and errors may show. */
export function redactNatsUrl(text: string): string {
  // NATS server URLs are shown without the trailing "/" that URL adds to a bare host.
  return redactUrl(text).replace(/\/$/, '');
}

function serversOf(definition: SourceDefinition): string[] {
  const urls = urlList(definition.settings);
  if (urls.length === 0) urls.push(DEFAULT_URL);
  // Checked only: the client takes the URLs as written.
  for (const text of urls) parseSourceUrl(definition, text, ['nats:', 'tls:'], NatsSettingsError, redactNatsUrl);
  return urls;
}

/** Node's TLS options beyond the client's declared ones; the client passes them to tls.connect. */
type TlsConnectOptions = NonNullable<NodeConnectionOptions['tls']> & { passphrase?: string; servername?: string };

function tlsOf(definition: SourceDefinition, servers: readonly string[]): TlsConnectOptions | undefined {
  const tls = record(definition.settings['tls']);
  if (tls === undefined) return servers.some((url) => url.startsWith('tls:')) ? {} : undefined;
  // The NATS client takes PEM as text.
  return readTls(definition, tls, NatsSettingsError, 'utf8');
}

function connectionOf(definition: SourceDefinition, servers: readonly string[]): NodeConnectionOptions {
  const { settings } = definition;
  const username = str(settings, 'username');
  const password = str(settings, 'password');
  const token = str(settings, 'token');
  const tls = tlsOf(definition, servers);
  return {
    servers: [...servers],
    name: str(settings, 'clientId') ?? `jobwire ${definition.name}`,
    timeout: CONNECT_TIMEOUT_MS,
    pingInterval: int(settings, 'heartbeatMs') || DEFAULT_PING_INTERVAL_MS,
    maxPingOut: 2,
    // The client reconnects by itself, forever; the first connection is jobwire's own loop.
    reconnect: true,
    maxReconnectAttempts: -1,
    ...(username === undefined ? {} : { user: username }),
    ...(password === undefined ? {} : { pass: password }),
    ...(token === undefined ? {} : { token }),
    ...(tls === undefined ? {} : { tls }),
  };
}

function optionsOf(definition: SourceDefinition): { deliverPolicy: StartPolicy; queue?: string } {
  const options = record(definition.settings['options']) ?? {};
  for (const key of Object.keys(options)) {
    if (!(KNOWN_OPTIONS as readonly string[]).includes(key)) {
      throw new NatsSettingsError(`source "${definition.name}": options.${key} is not a nats option (known: ${KNOWN_OPTIONS.join(', ')})`);
    }
  }
  const deliverPolicy = options['deliverPolicy'] ?? 'all';
  if (deliverPolicy !== 'all' && deliverPolicy !== 'new') {
    throw new NatsSettingsError(`source "${definition.name}": options.deliverPolicy must be "all" or "new", not ${JSON.stringify(deliverPolicy)}`);
  }
  const queue = options['queue'];
  if (queue !== undefined && (typeof queue !== 'string' || queue === '')) {
    throw new NatsSettingsError(`source "${definition.name}": options.queue must be a queue group name`);
  }
  return { deliverPolicy, ...(queue === undefined ? {} : { queue }) };
}

const INVALID_NAME_CHAR = /[\s.*>/\\]/;

function durableOf(definition: SourceDefinition): string {
  const durable = definition.settings['durable'];
  if (typeof durable === 'string') {
    // The server refuses these characters in consumer names; say so before connecting.
    if (INVALID_NAME_CHAR.test(durable)) {
      throw new NatsSettingsError(`source "${definition.name}": durable: "${durable}" may not contain whitespace, ".", "*", ">", "/" or "\\"`);
    }
    return durable;
  }
  // An ephemeral consumer forgets what was in flight when jobwire stops: not at-least-once.
  if (durable === false && definition.settings['mode'] !== 'core') {
    throw new NatsSettingsError(
      `source "${definition.name}": durable: false is not supported in jetstream mode (jobwire needs a durable consumer to deliver at least once); use mode: core for at-most-once`,
    );
  }
  return `jobwire-${definition.name.replace(new RegExp(INVALID_NAME_CHAR.source, 'g'), '-')}`;
}

export function readNatsSettings(definition: SourceDefinition): NatsSettings {
  const { settings } = definition;
  const urls = serversOf(definition);
  const maxAckPending = int(settings, 'maxAckPending') ?? DEFAULT_MAX_ACK_PENDING;
  const stream = str(settings, 'stream');
  const durable = durableOf(definition);
  const { deliverPolicy, queue } = optionsOf(definition);
  return {
    mode: settings['mode'] === 'core' ? 'core' : 'jetstream',
    servers: urls.map(redactNatsUrl),
    ...(stream === undefined ? {} : { stream }),
    durable,
    ackWaitMs: int(settings, 'ackWaitMs') ?? DEFAULT_ACK_WAIT_MS,
    maxAckPending,
    prefetch: Math.min(maxAckPending, int(settings, 'prefetch') ?? DEFAULT_PREFETCH_CAP),
    nakDelayMs: int(settings, 'nakDelayMs') ?? DEFAULT_NAK_DELAY_MS,
    deliverPolicy,
    ...(queue === undefined ? {} : { queue }),
    connection: connectionOf(definition, urls),
  };
}

/** `reconnectDelayMs` (when set) replaces the first delay of jobwire's reconnect policy. */
export function reconnectPolicyOf(
  definition: SourceDefinition,
  policy: { readonly initialMs: number; readonly maxMs: number },
): { readonly initialMs: number; readonly maxMs: number } {
  const initialMs = int(definition.settings, 'reconnectDelayMs');
  if (initialMs === undefined) return policy;
  return { initialMs: Math.max(1, initialMs), maxMs: Math.max(policy.maxMs, initialMs) };
}
