/**
 * Bounded capture of an attempt's output. A job may print gigabytes; the store and the API only
 * ever see `maxBytes` of it: the first half (how it started) and the last half (how it ended),
 * with the middle counted and replaced by a marker. stdout and stderr share one log, interleaved
 * in arrival order, because that is the order a human reading it needs.
 */
import type { CapturedLog } from './executor.js';

/** Rendered where bytes were dropped; the number is the count of bytes missing from the text. */
export function droppedMarker(droppedBytes: number): string {
  return `\n… [jobwire: ${droppedBytes} bytes dropped] …\n`;
}

const EMPTY = Buffer.alloc(0);
/** First head allocation: small enough to come from Node's shared buffer pool. */
const MIN_HEAD_ALLOCATION = 1024;

export class BoundedLog {
  readonly #headCapacity: number;
  readonly #tailCapacity: number;
  /**
   * Filled from the front. Grown by doubling up to `headCapacity`: most jobs print a few lines,
   * and allocating half of maxLogBytes up front for each run made every run pay for a large
   * buffer (allocation, GC pressure, a bigger process to fork). Doubling keeps writes O(chunk)
   * amortized.
   */
  #head: Buffer = EMPTY;
  #headLength = 0;
  /**
   * Ring buffer of the most recent bytes: a write copies at most `tailCapacity` bytes into it,
   * so its cost is O(chunk) and memory stays fixed however long the output runs. Allocated
   * lazily because most jobs never fill the head.
   */
  #tail: Buffer | undefined;
  /** Index of the oldest byte in the ring. */
  #tailStart = 0;
  #tailLength = 0;
  #totalBytes = 0;

  constructor(maxBytes: number) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
      throw new RangeError(`maxBytes must be a non-negative integer, got ${maxBytes}`);
    }
    this.#headCapacity = Math.floor(maxBytes / 2);
    this.#tailCapacity = maxBytes - this.#headCapacity;
  }

  get totalBytes(): number {
    return this.#totalBytes;
  }

  /** Bytes that are neither in the head nor in the tail (before boundary trimming). */
  get droppedBytes(): number {
    return this.#totalBytes - this.#headLength - this.#tailLength;
  }

  write(chunk: Uint8Array): void {
    this.#totalBytes += chunk.length;
    let rest = chunk;
    const headRoom = this.#headCapacity - this.#headLength;
    if (headRoom > 0) {
      const taken = Math.min(headRoom, rest.length);
      this.#reserveHead(this.#headLength + taken);
      this.#head.set(rest.subarray(0, taken), this.#headLength);
      this.#headLength += taken;
      rest = rest.subarray(taken);
    }
    if (rest.length > 0) this.#writeTail(rest);
  }

  /** Makes the head buffer hold at least `length` bytes (never more than its capacity). */
  #reserveHead(length: number): void {
    if (length <= this.#head.length) return;
    let size = Math.max(this.#head.length * 2, MIN_HEAD_ALLOCATION);
    while (size < length) size *= 2;
    const grown = Buffer.allocUnsafe(Math.min(size, this.#headCapacity));
    grown.set(this.#head.subarray(0, this.#headLength));
    this.#head = grown;
  }

  #writeTail(bytes: Uint8Array): void {
    const capacity = this.#tailCapacity;
    if (capacity === 0) return;
    const ring = (this.#tail ??= Buffer.allocUnsafe(capacity));
    // Only the last `capacity` bytes of a large chunk can survive; skip the rest up front.
    const kept = bytes.length > capacity ? bytes.subarray(bytes.length - capacity) : bytes;
    let writeAt = (this.#tailStart + this.#tailLength) % capacity;
    const firstPart = Math.min(kept.length, capacity - writeAt);
    ring.set(kept.subarray(0, firstPart), writeAt);
    if (firstPart < kept.length) ring.set(kept.subarray(firstPart), 0);
    writeAt = (writeAt + kept.length) % capacity;
    const length = this.#tailLength + kept.length;
    if (length >= capacity) {
      // Full: the oldest byte is the one right after the newest.
      this.#tailLength = capacity;
      this.#tailStart = writeAt;
    } else {
      this.#tailLength = length;
    }
  }

  #tailBytes(): Buffer {
    const ring = this.#tail;
    if (ring === undefined || this.#tailLength === 0) return Buffer.alloc(0);
    const end = this.#tailStart + this.#tailLength;
    if (end <= ring.length) return Buffer.from(ring.subarray(this.#tailStart, end));
    return Buffer.concat([ring.subarray(this.#tailStart), ring.subarray(0, end - ring.length)]);
  }

  /**
   * The captured text. When the middle was dropped, the head is cut back to the last complete
   * UTF-8 character and the tail forward to the first character start, so no character is torn
   * in half at a cut; the bytes trimmed there are counted as dropped, keeping
   * `totalBytes = bytes shown + droppedBytes` exact. Invalid UTF-8 the job itself printed is
   * decoded with replacement characters, as any terminal would.
   */
  snapshot(): CapturedLog {
    const head = this.#head.subarray(0, this.#headLength);
    const tail = this.#tailBytes();
    const dropped = this.droppedBytes;
    if (dropped === 0) {
      return { text: Buffer.concat([head, tail]).toString('utf8'), droppedBytes: 0, totalBytes: this.#totalBytes };
    }
    const headEnd = completeUtf8Prefix(head);
    const tailStart = firstCharStart(tail);
    const shownDropped = dropped + (head.length - headEnd) + tailStart;
    const text =
      head.subarray(0, headEnd).toString('utf8') + droppedMarker(shownDropped) + tail.subarray(tailStart).toString('utf8');
    return { text, droppedBytes: shownDropped, totalBytes: this.#totalBytes };
  }
}

/** 10xxxxxx: a byte inside a multi-byte character, never the start of one. */
function isContinuation(byte: number): boolean {
  return (byte & 0xc0) === 0x80;
}

/** Length of the character a lead byte starts, or 1 for bytes that cannot start one. */
function sequenceLength(lead: number): number {
  if (lead >= 0xf0 && lead <= 0xf7) return 4;
  if (lead >= 0xe0) return lead <= 0xef ? 3 : 1;
  if (lead >= 0xc0) return 2;
  return 1;
}

/** Length of `bytes` without a trailing character that was cut short. */
export function completeUtf8Prefix(bytes: Uint8Array): number {
  // A UTF-8 character is at most 4 bytes, so only the last 3 can belong to a torn one.
  const lowest = Math.max(0, bytes.length - 4);
  for (let i = bytes.length - 1; i >= lowest; i--) {
    const byte = bytes[i] ?? 0;
    if (isContinuation(byte)) continue;
    return i + sequenceLength(byte) > bytes.length ? i : bytes.length;
  }
  return bytes.length;
}

/** Offset of the first byte that is not the continuation of a character cut off before it. */
export function firstCharStart(bytes: Uint8Array): number {
  const limit = Math.min(3, bytes.length);
  for (let i = 0; i < limit; i++) {
    if (!isContinuation(bytes[i] ?? 0)) return i;
  }
  // Either 3 continuation bytes (their lead was dropped) or a tail shorter than that.
  return limit;
}
