/**
 * The SQLite schema, as an ordered list of migrations tracked with `PRAGMA user_version`.
 *
 * Design:
 * - A migration is never edited once released: a change to the schema is a new entry at the end.
 *   `user_version` is the number of migrations applied, so an old database catches up on open.
 * - Each migration runs in its own `BEGIN IMMEDIATE` transaction together with the version bump,
 *   so a crash mid-migration leaves the previous version intact, and two processes opening the
 *   same fresh file at once do not both apply it (the second re-reads the version under the lock).
 * - A database written by a newer jobwire (higher version than we know) is refused rather than
 *   used: we cannot know what its newer columns mean.
 *
 * Indexes follow the queries in runs-sql.ts / messages-sql.ts; every hot query is an index lookup:
 * - `runs_claim`: partial index of queued runs in claim order (priority DESC, seq). Only queued
 *   rows are in it, so it stays small however long the history grows.
 * - `runs_queued_available`: partial index for MIN(available_at) of queued runs (next wake-up).
 * - `runs_status`, `runs_job`, `runs_correlation`: listRuns filters, newest first by seq; the
 *   status index also answers activeRuns and the stats counts.
 * - `runs_message`: the runs of one message (duplicate accept, listRuns by messageId, FK checks).
 * - `outbox_target`: each outbox target reads its own entries oldest first (outbox-sql.ts).
 */
import type Database from 'better-sqlite3';

export interface Migration {
  readonly description: string;
  readonly sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    description: 'messages, runs and run_logs',
    sql: `
      CREATE TABLE messages (
        source         TEXT    NOT NULL,
        id             TEXT    NOT NULL,
        topic          TEXT    NOT NULL,
        headers        TEXT    NOT NULL,  -- JSON object of strings
        body           TEXT    NOT NULL,  -- JSON text; a text payload is stored as a JSON string
        cloud_event    TEXT,              -- JSON CloudEvents attributes, NULL when not a CloudEvent
        correlation_id TEXT    NOT NULL,
        received_at    INTEGER NOT NULL,  -- ms since the epoch
        matched_jobs   TEXT    NOT NULL,  -- JSON array of job names
        PRIMARY KEY (source, id)
      );

      CREATE TABLE runs (
        -- AUTOINCREMENT: seq is never reused, even after the newest rows are deleted, so cursors
        -- and claim order stay meaningful if retention ever prunes history.
        seq            INTEGER PRIMARY KEY AUTOINCREMENT,
        id             TEXT    NOT NULL UNIQUE,
        job            TEXT    NOT NULL,
        message_source TEXT    NOT NULL,
        message_id     TEXT    NOT NULL,
        correlation_id TEXT    NOT NULL,
        status         TEXT    NOT NULL CHECK (status IN
                         ('queued','starting','running','succeeded','failed','timed_out','cancelled')),
        priority       INTEGER NOT NULL,
        attempts       INTEGER NOT NULL CHECK (attempts >= 0),
        max_attempts   INTEGER NOT NULL CHECK (max_attempts >= 1),
        exit_code      INTEGER,
        reason         TEXT,
        executor       TEXT    NOT NULL,
        handle         TEXT,
        created_at     INTEGER NOT NULL,
        available_at   INTEGER NOT NULL,
        started_at     INTEGER,
        finished_at    INTEGER,
        FOREIGN KEY (message_source, message_id) REFERENCES messages (source, id)
      );

      CREATE INDEX runs_claim ON runs (priority DESC, seq) WHERE status = 'queued';
      CREATE INDEX runs_queued_available ON runs (available_at) WHERE status = 'queued';
      CREATE INDEX runs_status ON runs (status, seq);
      CREATE INDEX runs_job ON runs (job, seq);
      CREATE INDEX runs_correlation ON runs (correlation_id, seq);
      CREATE INDEX runs_message ON runs (message_id, message_source);

      -- WITHOUT ROWID: rows are only ever found by their full key, so the key index is the
      -- table; finishing an attempt then writes one b-tree page for its log instead of two.
      CREATE TABLE run_logs (
        run_id        TEXT    NOT NULL REFERENCES runs (id),
        attempt       INTEGER NOT NULL,
        text          TEXT    NOT NULL,
        dropped_bytes INTEGER NOT NULL,
        total_bytes   INTEGER NOT NULL,
        PRIMARY KEY (run_id, attempt)
      ) WITHOUT ROWID;
    `,
  },
  {
    description: 'run outputs and steps; the outbox of events and chained messages',
    sql: `
      ALTER TABLE runs ADD COLUMN output TEXT;        -- JSON object from $JOBWIRE_OUTPUT, NULL when none
      ALTER TABLE runs ADD COLUMN output_error TEXT;  -- why the output could not be taken
      ALTER TABLE runs ADD COLUMN steps TEXT;         -- JSON array of step results, NULL without steps

      CREATE TABLE outbox (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        target     TEXT    NOT NULL,  -- sink:<name> | publish:<source>
        id         TEXT    NOT NULL,  -- event / message id, stable across redelivery
        payload    TEXT    NOT NULL,  -- JSON
        attempts   INTEGER NOT NULL,  -- failed deliveries so far
        last_error TEXT,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX outbox_target ON outbox (target, seq);
    `,
  },
];

/** Brings the database up to the latest schema. Safe to call from several processes at once. */
export function migrate(db: Database.Database): void {
  const known = MIGRATIONS.length;
  const apply = db.transaction((index: number): void => {
    // Re-read under the write lock: another process may have applied it since we looked.
    if (userVersion(db) !== index) return;
    const migration = MIGRATIONS[index];
    if (migration === undefined) return;
    db.exec(migration.sql);
    db.pragma(`user_version = ${index + 1}`);
  });

  let version = userVersion(db);
  if (version > known) {
    throw new Error(
      `database ${db.name} has schema version ${version}, newer than this jobwire knows (${known}); ` +
        'upgrade jobwire or use another data directory',
    );
  }
  while (version < known) {
    apply.immediate(version);
    version = userVersion(db);
  }
}

export function userVersion(db: Database.Database): number {
  const value = db.pragma('user_version', { simple: true });
  if (typeof value !== 'number') throw new Error(`unexpected PRAGMA user_version result: ${String(value)}`);
  return value;
}
