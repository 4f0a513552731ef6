/**
 * Reads a message file for `jobwire test`: a message pasted from a bus's logs. It may be an
 * envelope (`{ id, source, topic, headers, body }`, with `body`), a structured CloudEvent, or
 * just the payload; `--source`/`--topic` say where it is to be taken as arriving.
 */
import { readFile } from 'node:fs/promises';
import { ENVELOPE_KEYS, messageFromEnvelope } from '../api/http-message.js';
import { InvalidInputError } from '../core/errors.js';
import type { Message } from '../core/message.js';

export interface MessageFileOptions {
  readonly source?: string;
  readonly topic?: string;
  readonly knownSources: ReadonlySet<string>;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isEnvelope(value: unknown): value is Record<string, unknown> {
  return isRecord(value) && 'body' in value && Object.keys(value).every((key) => (ENVELOPE_KEYS as readonly string[]).includes(key));
}

export async function readMessageFile(file: string, options: MessageFileOptions): Promise<Message> {
  const text = file === '-' ? await readStdin() : await readFile(file, 'utf8').catch((error: unknown) => {
    throw new InvalidInputError(`cannot read message file ${file}: ${(error as Error).message}`, { cause: error });
  });
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text) as unknown;
  } catch {
    // Not JSON: the file is a text payload.
  }
  const envelope: Record<string, unknown> = isEnvelope(parsed) ? { ...parsed } : { body: parsed };
  if (options.source !== undefined) envelope['source'] = options.source;
  if (options.topic !== undefined) envelope['topic'] = options.topic;
  return messageFromEnvelope(envelope, options.knownSources);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
