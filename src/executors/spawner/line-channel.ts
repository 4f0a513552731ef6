/**
 * Newline-delimited text over a pair of pipes, used by both ends of the spawner's control
 * channel. Reading is bounded (a line longer than the limit is an error, not a growing buffer);
 * writing coalesces every line queued in the same turn of the event loop into one write, so a
 * burst of spawns or exits costs one syscall instead of one per message.
 */
import type { Readable, Writable } from 'node:stream';
import { ProtocolError } from './protocol.js';

export interface LineReaderOptions {
  readonly maxLineLength: number;
  readonly onLine: (line: string) => void;
  /** A line over the limit; the reader ignores everything after it. */
  readonly onError: (error: ProtocolError) => void;
}

/** Splits `stream` into lines (UTF-8, `\n`-terminated) and hands each to `onLine`. */
export function readLines(stream: Readable, options: LineReaderOptions): void {
  // setEncoding makes the stream decode with a StringDecoder, so a character split across two
  // chunks arrives whole.
  stream.setEncoding('utf8');
  let partial = '';
  let failed = false;
  const fail = (): void => {
    failed = true;
    partial = '';
    options.onError(new ProtocolError(`a line exceeds ${options.maxLineLength} characters`));
  };
  stream.on('data', (chunk: string) => {
    if (failed) return;
    let start = 0;
    for (let newline = chunk.indexOf('\n'); newline !== -1; newline = chunk.indexOf('\n', start)) {
      const line = partial + chunk.slice(start, newline);
      partial = '';
      start = newline + 1;
      if (line.length > options.maxLineLength) return fail();
      options.onLine(line);
    }
    partial += chunk.slice(start);
    if (partial.length > options.maxLineLength) fail();
  });
}

/** Queues lines and writes them out together once the current turn of the event loop ends. */
export class LineWriter {
  readonly #stream: Writable;
  #queued: string[] = [];
  #scheduled = false;

  constructor(stream: Writable) {
    this.#stream = stream;
  }

  write(line: string): void {
    this.#queued.push(line);
    if (this.#scheduled) return;
    this.#scheduled = true;
    // setImmediate, not nextTick: replies produced by separate I/O callbacks of one poll phase
    // (several children exiting together) still end up in one write.
    setImmediate(() => this.flush());
  }

  /** Writes what is queued now. */
  flush(): void {
    this.#scheduled = false;
    if (this.#queued.length === 0) return;
    const text = this.#queued.length === 1 ? (this.#queued[0] ?? '') : this.#queued.join('');
    this.#queued = [];
    if (this.#stream.writable) this.#stream.write(text);
  }
}
