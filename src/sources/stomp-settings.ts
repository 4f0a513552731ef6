/**
 * The settings of a `type: stomp` source, read once from its definition and checked, so a typo
 * fails at startup with the source's name rather than at the first reconnect. TLS material is
 * read from disk separately (`loadStompTls`), at `start`, so that rotating a certificate takes a
 * restart and nothing else.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import tls from 'node:tls';
import type { SourceDefinition } from '../config/types.js';
import { InvalidInputError } from '../core/errors.js';

/** One broker address of the failover list. */
export interface StompEndpoint {
  readonly host: string;
  readonly port: number;
  readonly secure: boolean;
  /** The URL without credentials: what logs and errors show. */
  readonly display: string;
}

export interface StompTlsFiles {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly passphrase?: string;
  readonly servername?: string;
  readonly rejectUnauthorized: boolean;
}

export interface StompSettings {
  readonly source: string;
  /** Tried in this order on every connect and reconnect. */
  readonly endpoints: readonly StompEndpoint[];
  readonly login?: string;
  readonly passcode?: string;
  /** STOMP `host` header (a virtual host); defaults to the endpoint's host. */
  readonly vhost?: string;
  /** STOMP `client-id` header (ActiveMQ names the connection after it). */
  readonly clientId?: string;
  /** Unacknowledged messages per subscription (`activemq.prefetchSize`). */
  readonly prefetch: number;
  /** Heart-beat period both ways; 0 turns heart-beats off. */
  readonly heartbeatMs: number;
  readonly deadLetterQueue?: string;
  readonly tls?: StompTlsFiles;
  /** How long one endpoint may take to answer CONNECT. */
  readonly connectTimeoutMs: number;
  /** How long a SEND waits for the broker's RECEIPT. */
  readonly receiptTimeoutMs: number;
  /** Folder that relative TLS file paths are resolved against (the config file's). */
  readonly baseDir: string;
}

export const STOMP_DEFAULTS = { prefetch: 100, heartbeatMs: 10_000, connectTimeoutMs: 10_000, receiptTimeoutMs: 30_000 } as const;

const PLAIN_SCHEMES = new Set(['stomp:', 'tcp:']);
const TLS_SCHEMES = new Set(['stomp+ssl:', 'stomp+tls:', 'stomps:', 'ssl:', 'tls:']);
/** ActiveMQ's usual ports: 61613 for STOMP, 61612 for STOMP over TLS. */
const DEFAULT_PORT = { plain: 61613, secure: 61612 } as const;

export function parseStompSettings(definition: SourceDefinition): StompSettings {
  const s = definition.settings;
  const where = `source "${definition.name}"`;
  const urls = [...optionalString(s['url'], `${where}: url`, []), ...stringList(s['urls'], `${where}: urls`)];
  if (urls.length === 0) throw new InvalidInputError(`${where}: set url or urls (e.g. stomp://127.0.0.1:61613)`);
  const endpoints = [...new Set(urls)].map((url) => parseEndpoint(url, where));
  const options = record(s['options'], `${where}: options`);
  const tlsFiles = parseTls(s['tls'], where);
  if (tlsFiles !== undefined && !endpoints.some((endpoint) => endpoint.secure)) {
    throw new InvalidInputError(`${where}: tls is set but no url uses TLS (write stomp+ssl://host:port)`);
  }
  return {
    source: definition.name,
    endpoints,
    ...opt('login', str(s['login'], `${where}: login`)),
    ...opt('passcode', str(s['passcode'], `${where}: passcode`)),
    ...opt('vhost', str(s['vhost'], `${where}: vhost`)),
    ...opt('clientId', str(s['clientId'], `${where}: clientId`)),
    prefetch: positiveInt(s['prefetch'], `${where}: prefetch`, STOMP_DEFAULTS.prefetch, 1),
    heartbeatMs: positiveInt(s['heartbeatMs'], `${where}: heartbeatMs`, STOMP_DEFAULTS.heartbeatMs, 0),
    ...opt('deadLetterQueue', destinationOf(str(s['deadLetterQueue'], `${where}: deadLetterQueue`))),
    ...opt('tls', tlsFiles),
    connectTimeoutMs: positiveInt(options['connectTimeoutMs'], `${where}: options.connectTimeoutMs`, STOMP_DEFAULTS.connectTimeoutMs, 1),
    receiptTimeoutMs: positiveInt(options['receiptTimeoutMs'], `${where}: options.receiptTimeoutMs`, STOMP_DEFAULTS.receiptTimeoutMs, 1),
    baseDir: path.dirname(definition.position.file),
  };
}

/**
 * A trigger topic as a STOMP destination: `/queue/x`, `/topic/x` and other `/…` names are used
 * as written; a bare name means a queue (`orders` → `/queue/orders`), as in ActiveMQ's JMS API.
 */
export function destinationOf(topic: string): string;
export function destinationOf(topic: string | undefined): string | undefined;
export function destinationOf(topic: string | undefined): string | undefined {
  if (topic === undefined) return undefined;
  return topic.startsWith('/') ? topic : `/queue/${topic}`;
}

/** Reads the CA, certificate and key (a path, or PEM text inline) into `tls.connect` options. */
export async function loadStompTls(settings: StompSettings): Promise<tls.ConnectionOptions | undefined> {
  if (!settings.endpoints.some((endpoint) => endpoint.secure)) return undefined;
  const files = settings.tls ?? { rejectUnauthorized: true };
  const read = async (value: string | undefined, what: string): Promise<string | undefined> => {
    if (value === undefined) return undefined;
    if (value.trimStart().startsWith('-----BEGIN')) return value;
    const file = path.resolve(settings.baseDir, value);
    try {
      return await readFile(file, 'utf8');
    } catch (error) {
      throw new InvalidInputError(`source "${settings.source}": cannot read tls.${what} ${file}`, { cause: error });
    }
  };
  const [ca, cert, key] = await Promise.all([read(files.ca, 'ca'), read(files.cert, 'cert'), read(files.key, 'key')]);
  if ((cert === undefined) !== (key === undefined)) {
    throw new InvalidInputError(`source "${settings.source}": tls.cert and tls.key go together (a client certificate needs its key)`);
  }
  let secureContext: tls.SecureContext;
  try {
    // Built here so a wrong passphrase or a bad PEM fails at start, not inside a reconnect loop.
    secureContext = tls.createSecureContext({
      ...(ca === undefined ? {} : { ca }),
      ...(cert === undefined ? {} : { cert }),
      ...(key === undefined ? {} : { key }),
      ...(files.passphrase === undefined ? {} : { passphrase: files.passphrase }),
    });
  } catch (error) {
    throw new InvalidInputError(`source "${settings.source}": unusable TLS material: ${(error as Error).message}`, { cause: error });
  }
  return {
    secureContext,
    rejectUnauthorized: files.rejectUnauthorized,
    ...(files.servername === undefined ? {} : { servername: files.servername }),
  };
}

function parseEndpoint(url: string, where: string): StompEndpoint {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new InvalidInputError(`${where}: ${JSON.stringify(url)} is not a URL like stomp://host:61613`, { cause: error });
  }
  const secure = TLS_SCHEMES.has(parsed.protocol);
  if (!secure && !PLAIN_SCHEMES.has(parsed.protocol)) {
    throw new InvalidInputError(`${where}: unsupported scheme ${parsed.protocol} in a url (use stomp:// or stomp+ssl://)`);
  }
  if (parsed.username !== '' || parsed.password !== '') {
    // Credentials in a URL end up in logs and process lists; the settings have their own keys.
    throw new InvalidInputError(`${where}: put credentials in login/passcode, not in the url`);
  }
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new InvalidInputError(`${where}: url ${JSON.stringify(url)} has no host`);
  const port = parsed.port === '' ? (secure ? DEFAULT_PORT.secure : DEFAULT_PORT.plain) : Number(parsed.port);
  return { host, port, secure, display: `${parsed.protocol}//${parsed.host}` };
}

function parseTls(value: unknown, where: string): StompTlsFiles | undefined {
  if (value === undefined) return undefined;
  const t = record(value, `${where}: tls`);
  const rejectUnauthorized = t['rejectUnauthorized'];
  if (rejectUnauthorized !== undefined && typeof rejectUnauthorized !== 'boolean') {
    throw new InvalidInputError(`${where}: tls.rejectUnauthorized must be true or false`);
  }
  return {
    ...opt('ca', str(t['ca'], `${where}: tls.ca`)),
    ...opt('cert', str(t['cert'], `${where}: tls.cert`)),
    ...opt('key', str(t['key'], `${where}: tls.key`)),
    ...opt('passphrase', str(t['passphrase'], `${where}: tls.passphrase`)),
    ...opt('servername', str(t['servername'], `${where}: tls.servername`)),
    rejectUnauthorized: rejectUnauthorized ?? true,
  };
}

function opt<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function str(value: unknown, what: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new InvalidInputError(`${what} must be a string`);
  return value;
}

function optionalString(value: unknown, what: string, fallback: string[]): string[] {
  const text = str(value, what);
  return text === undefined ? fallback : [text];
}

function stringList(value: unknown, what: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((item): item is string => typeof item === 'string')) {
    throw new InvalidInputError(`${what} must be a list of URLs`);
  }
  return value;
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidInputError(`${what} must be a map`);
  return value as Record<string, unknown>;
}

function positiveInt(value: unknown, what: string, fallback: number, minimum: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < minimum) {
    throw new InvalidInputError(`${what} must be a whole number ≥ ${minimum}`);
  }
  return value;
}
