/**
 * Lenient readers shared by the `amqp` and `nats` settings files: the config schema has already
 * checked the keys' types, so a value of the wrong shape is simply treated as unset. (The stomp
 * settings validate as they read and throw on a wrong type, so they keep their own readers.)
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { SourceDefinition } from '../config/types.js';

export type Settings = Readonly<Record<string, unknown>>;

/** Each adapter reports unusable settings with its own error class. */
export type SettingsErrorClass = new (message: string, options?: { cause?: unknown }) => Error;

/** A non-empty string, or undefined. */
export function str(settings: Settings, key: string): string | undefined {
  const value = settings[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** A finite number, or undefined. */
export function int(settings: Settings, key: string): number | undefined {
  const value = settings[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** A plain map (not null, not a list), or undefined. */
export function record(value: unknown): Settings | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Settings) : undefined;
}

/** The URL without its user and password: what logs and errors may show. */
export function redactUrl(text: string): string {
  try {
    const url = new URL(text);
    url.username = '';
    url.password = '';
    return url.toString();
  } catch {
    return '(unparseable URL)';
  }
}

/** `url` first, then the `urls` list: the order connections are tried in (failover). */
export function urlList(settings: Settings): string[] {
  const list = Array.isArray(settings['urls']) ? settings['urls'].filter((url): url is string => typeof url === 'string') : [];
  const single = str(settings, 'url');
  return single === undefined ? list : [single, ...list];
}

/** One URL of the source, with one of its adapter's `schemes` (like 'amqp:'); `redact` keeps credentials out of the error. */
export function parseSourceUrl(
  definition: SourceDefinition,
  text: string,
  schemes: readonly string[],
  SettingsError: SettingsErrorClass,
  redact: (text: string) => string = redactUrl,
): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch (error) {
    throw new SettingsError(`source "${definition.name}": not a URL: ${redact(text)}`, { cause: error });
  }
  if (!schemes.includes(url.protocol)) {
    throw new SettingsError(`source "${definition.name}": URL scheme must be ${schemes.join(' or ')}, not ${url.protocol}`);
  }
  return url;
}

/** The `tls` settings with the CA, certificate and key read: as bytes, or as text with 'utf8'. */
export interface TlsMaterial<Pem> {
  ca?: Pem;
  cert?: Pem;
  key?: Pem;
  passphrase?: string;
  servername?: string;
  rejectUnauthorized?: boolean;
}

/** Reads the `tls` map; only the keys that are set appear in the result. */
export function readTls(definition: SourceDefinition, tls: Settings, SettingsError: SettingsErrorClass): TlsMaterial<Buffer>;
export function readTls(definition: SourceDefinition, tls: Settings, SettingsError: SettingsErrorClass, encoding: 'utf8'): TlsMaterial<string>;
export function readTls(definition: SourceDefinition, tls: Settings, SettingsError: SettingsErrorClass, encoding?: 'utf8'): TlsMaterial<Buffer | string> {
  const options: TlsMaterial<Buffer | string> = {};
  const ca = readPem(definition, 'ca', tls['ca'], SettingsError, encoding);
  const cert = readPem(definition, 'cert', tls['cert'], SettingsError, encoding);
  const key = readPem(definition, 'key', tls['key'], SettingsError, encoding);
  if (ca !== undefined) options.ca = ca;
  if (cert !== undefined) options.cert = cert;
  if (key !== undefined) options.key = key;
  if (typeof tls['passphrase'] === 'string') options.passphrase = tls['passphrase'];
  if (typeof tls['servername'] === 'string') options.servername = tls['servername'];
  if (typeof tls['rejectUnauthorized'] === 'boolean') options.rejectUnauthorized = tls['rejectUnauthorized'];
  return options;
}

/** A TLS value is inline PEM or a path, relative to the config file's folder. */
function readPem(definition: SourceDefinition, key: string, value: unknown, SettingsError: SettingsErrorClass, encoding: 'utf8' | undefined): Buffer | string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  if (value.includes('-----BEGIN ')) return encoding === undefined ? Buffer.from(value) : value;
  const file = path.resolve(path.dirname(definition.position.file), value);
  try {
    return encoding === undefined ? readFileSync(file) : readFileSync(file, encoding);
  } catch (error) {
    throw new SettingsError(`source "${definition.name}": tls.${key}: cannot read ${file}`, { cause: error });
  }
}
