/**
 * `jobwire send`: publishes one message to a bus (or to a jobwire's HTTP API), so an engineer
 * can reproduce a message from a bus's logs or feed a test. The payload is sent byte for byte.
 */
import { readFile } from 'node:fs/promises';
import { loadConfig } from '../../config/load.js';
import type { SourceDefinition } from '../../config/types.js';
import { InvalidInputError } from '../../core/errors.js';
import { createLogger } from '../../log.js';
import { createHttpPublisher } from '../../sources/http-publisher.js';
import { publisherFor } from '../../sources/registry.js';
import type { Publisher } from '../../sources/source.js';
import type { CliIo } from '../io.js';

export interface SendOptions {
  readonly config?: string;
  readonly source?: string;
  readonly url?: string;
  readonly topic: string;
  readonly header: readonly string[];
  readonly file: string;
}

/** URL schemes and the source type that speaks them. */
const SCHEMES: Readonly<Record<string, string>> = {
  'amqp:': 'amqp',
  'amqps:': 'amqp',
  'stomp:': 'stomp',
  'stomp+ssl:': 'stomp',
  'stomps:': 'stomp',
  'nats:': 'nats',
  'tls:': 'nats',
};

export function parseHeaders(pairs: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of pairs) {
    const index = pair.indexOf('=');
    if (index <= 0) throw new InvalidInputError(`--header wants name=value, got "${pair}"`);
    headers[pair.slice(0, index)] = pair.slice(index + 1);
  }
  return headers;
}

async function definitionFor(options: SendOptions, env: NodeJS.ProcessEnv): Promise<SourceDefinition | URL> {
  if ((options.source === undefined) === (options.url === undefined)) {
    throw new InvalidInputError('give exactly one of --source NAME (with -c FILE) or --url URL');
  }
  if (options.url !== undefined) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch (error) {
      throw new InvalidInputError(`--url: not a URL: ${options.url}`, { cause: error });
    }
    if (url.protocol === 'http:' || url.protocol === 'https:') return url;
    const type = SCHEMES[url.protocol];
    if (type === undefined) throw new InvalidInputError(`--url: unknown scheme ${url.protocol} (known: http, https, ${Object.keys(SCHEMES).join(' ')})`);
    return { name: 'cli', type, settings: { url: options.url }, position: { file: '(command line)', line: 0, col: 0 } };
  }
  if (options.config === undefined) throw new InvalidInputError('--source needs the config file (-c FILE) that defines it');
  const config = await loadConfig(options.config, env);
  const definition = config.sources.get(options.source ?? '');
  if (definition === undefined) {
    throw new InvalidInputError(`no source "${options.source}" in ${options.config} (defined: ${[...config.sources.keys()].join(', ') || 'none'})`);
  }
  return definition;
}

export async function sendCommand(options: SendOptions, io: CliIo): Promise<number> {
  // Arguments are checked before stdin is read, so a mistake never waits for input.
  const headers = parseHeaders(options.header);
  const target = await definitionFor(options, io.env);
  const payload = options.file === '-' ? await readStdin() : await readFile(options.file).catch((error: unknown) => {
    throw new InvalidInputError(`cannot read ${options.file}: ${(error as Error).message}`, { cause: error });
  });
  const logger = createLogger('warn');
  const publisher: Publisher = target instanceof URL ? createHttpPublisher(target) : await publisherFor(target, { logger });
  try {
    await publisher.publish(options.topic, payload, headers);
  } finally {
    await publisher.close();
  }
  io.stdout(`sent ${payload.length} bytes to ${target instanceof URL ? target.origin : `${target.name} (${target.type})`} topic ${options.topic}\n`);
  return 0;
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
