/**
 * Messages whose runs have not started yet, kept in memory so that the dispatcher, which asks for
 * a run's message when it starts the run, does not read back the row the inbox wrote (a SELECT
 * plus three JSON parses: ~7% of jobwire's CPU per message in a broker drain).
 *
 * Always correct, never stale: a message row is immutable once written, and a message enters
 * only after its transaction committed. What is kept is what a read of the row returns (rows.ts
 * builds both), so a hit and a miss give equal results; a miss just reads the row.
 *
 * An entry leaves when it has been read once per run it was accepted with — the runs start in
 * queue order, so what stays is what the queue still holds. When full (by count, or by the bytes
 * of the stored JSON), the oldest entry goes: one whose runs were cancelled before they started,
 * or were re-read by the API meanwhile, does not stay forever. Sized to hold the dispatcher's
 * backlog, the queue fits: evicting the newest instead would not matter, evicting the oldest of
 * a queue longer than the cache would make every read a miss.
 */
import type { StoredMessage } from '../store.js';

export interface RecentMessagesLimits {
  readonly maxMessages: number;
  readonly maxBytes: number;
}

export const DEFAULT_RECENT_MESSAGES: RecentMessagesLimits = { maxMessages: 20_000, maxBytes: 64 * 1024 * 1024 };

interface Entry {
  readonly message: StoredMessage;
  readonly bytes: number;
  /** Reads left before it leaves: one per run accepted with it. */
  readsLeft: number;
}

export class RecentMessages {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  constructor(private readonly limits: RecentMessagesLimits = DEFAULT_RECENT_MESSAGES) {}

  get size(): number {
    return this.entries.size;
  }

  /** Counts as one of the reads the message was added for. */
  take(source: string, id: string): StoredMessage | undefined {
    const name = key(source, id);
    const entry = this.entries.get(name);
    if (entry === undefined) return undefined;
    if (--entry.readsLeft <= 0) this.remove(name, entry);
    return entry.message;
  }

  /** `bytes`: the size of its stored JSON, an estimate of what it holds; `reads`: its runs. */
  add(message: StoredMessage, bytes: number, reads: number): void {
    if (reads < 1 || bytes > this.limits.maxBytes || this.limits.maxMessages < 1) return;
    const name = key(message.source, message.id);
    const previous = this.entries.get(name);
    if (previous !== undefined) this.remove(name, previous);
    while (this.entries.size >= this.limits.maxMessages || this.bytes + bytes > this.limits.maxBytes) {
      const oldest = this.entries.entries().next();
      if (oldest.done === true) break;
      this.remove(...oldest.value);
    }
    this.entries.set(name, { message, bytes, readsLeft: reads });
    this.bytes += bytes;
  }

  private remove(name: string, entry: Entry): void {
    this.entries.delete(name);
    this.bytes -= entry.bytes;
  }
}

/** Length-prefixed, so no two (source, id) pairs share a key. */
function key(source: string, id: string): string {
  return `${source.length}:${source}${id}`;
}
