/**
 * Opens the SQLite file with the settings jobwire's durability promise rests on.
 *
 * - WAL journal: readers (API, CLI) never block the dispatcher's writes, and a commit is one
 *   append to the log instead of rewriting pages in place.
 * - `synchronous`:
 *     NORMAL (default) — in WAL mode a commit is written to the log before the call returns, but
 *       the log is fsynced only at checkpoints. A committed run survives a crash of jobwire (the
 *       OS still has the data); a power loss or kernel panic may lose the last few commits, never
 *       corrupt the file. This is what lets one machine record thousands of runs per second.
 *     FULL — the log is fsynced on every commit: committed runs also survive power loss, at the
 *       cost of one fsync per transaction (typically 0.1–10 ms depending on the disk).
 * - wal_autocheckpoint 4000 pages (16 MB at 4 KB pages, SQLite's default is 1000): a checkpoint
 *   copies the log into the database and, with synchronous NORMAL, is where the fsyncs happen. A
 *   run's life writes ~22 pages over its four commits, so the default checkpoints every ~45 runs;
 *   4000 pages measured ~35% faster per run (bench/store.ts), and a hot page rewritten by many
 *   runs is copied once per checkpoint rather than once per 1000 pages.
 *   journal_size_limit truncates a log that grew past 64 MB (a long reader held off checkpoints).
 * - busy_timeout: a second process (the CLI, a second jobwire) holding the write lock makes us
 *   wait instead of failing at once with SQLITE_BUSY.
 * - foreign_keys: SQLite leaves them off by default; runs must point at a recorded message.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

export type SynchronousMode = 'normal' | 'full';

export interface ConnectionOptions {
  readonly path: string;
  readonly synchronous: SynchronousMode;
  /** How long to wait for another connection's write lock before failing, in ms. */
  readonly busyTimeoutMs: number;
}

export function openConnection(options: ConnectionOptions): Database.Database {
  const inMemory = options.path === ':memory:' || options.path === '';
  if (!inMemory) mkdirSync(dirname(options.path), { recursive: true });
  const db = new Database(options.path, { timeout: options.busyTimeoutMs });
  try {
    // busy_timeout first, so that switching to WAL waits for a concurrent opener too.
    db.pragma(`busy_timeout = ${Math.trunc(options.busyTimeoutMs)}`);
    if (!inMemory) {
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') throw new Error(`could not switch ${options.path} to WAL mode (got ${String(mode)})`);
    }
    db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    db.pragma('wal_autocheckpoint = 4000');
    db.pragma(`journal_size_limit = ${64 * 1024 * 1024}`);
    db.pragma('foreign_keys = ON');
    return db;
  } catch (error: unknown) {
    db.close();
    throw error;
  }
}
