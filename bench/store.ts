/**
 * Store micro-benchmark: the full durable life of a run through the SQLite store —
 * acceptMessage (1 run) → claimRuns (limit 1) → markRunning → finishAttempt (with a log) —
 * one run at a time, so every call is its own transaction, as in the worst case of the dispatcher.
 *
 * Baseline, measured in the same run on a file with the same settings (WAL, same synchronous,
 * foreign keys on): raw better-sqlite3 doing the least a durable run lifecycle needs — one INSERT
 * and three UPDATEs by primary key, each its own commit, on a bare table with no index but its
 * key. The ratio says what the store's schema, indexes, JSON and checks cost on top.
 *
 * A second figure runs the same life 100 runs at a time (each step for the batch in one event-loop
 * turn, so one transaction per step, as group commit gives a broker drain) against the bare
 * table doing the same steps in one transaction each: the store's cost per run when batched,
 * which is what bounds the drain benchmarks.
 *
 * Usage: node dist/bench/store.js [runs=5000]. Each measurement also stops after a time budget,
 * so the whole benchmark stays under ~10 s even on a slow disk. Figures are on the last line.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Message } from '../src/core/message.js';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { SynchronousMode } from '../src/store/sqlite/connection.js';

interface Rate {
  readonly runs: number;
  readonly seconds: number;
  readonly perSecond: number;
}

const T0 = Date.now();
const LOG = { attempt: 1, text: 'hello from the job\n', droppedBytes: 0, totalBytes: 19 };

async function storeRate(path: string, synchronous: SynchronousMode, maxRuns: number, budgetMs: number): Promise<Rate> {
  const store = openSqliteStore({ path, synchronous });
  try {
    const started = performance.now();
    let done = 0;
    for (; done < maxRuns && performance.now() - started < budgetMs; done++) {
      const message: Message = {
        id: `m-${done}`,
        source: 'http',
        topic: 'bench',
        headers: { 'content-type': 'application/json' },
        body: { n: done, payload: 'x'.repeat(64) },
        correlationId: `c-${done}`,
        receivedAt: T0,
      };
      const id = `r-${done}`;
      await store.acceptMessage(message, ['job'], [{ id, job: 'job', priority: 0, maxAttempts: 1, executor: 'process' }]);
      const [claimed] = await store.claimRuns({ now: T0, limit: 1, excludeJobs: [] });
      if (claimed?.id !== id) throw new Error(`claimed ${claimed?.id ?? 'nothing'}, expected ${id}`);
      await store.markRunning(id, 'pid', T0);
      await store.finishAttempt(id, { status: 'succeeded', exitCode: 0, reason: null, finishedAt: T0, log: LOG });
    }
    const seconds = (performance.now() - started) / 1000;
    return { runs: done, seconds, perSecond: done / seconds };
  } finally {
    await store.close();
  }
}

/**
 * The same life, `batch` runs at a time, as under a broker drain: each step is submitted for the
 * whole batch in one event-loop turn, so group commit gives each step one transaction.
 */
async function batchedStoreRate(path: string, maxRuns: number, batch: number, budgetMs: number): Promise<Rate> {
  const store = openSqliteStore({ path, synchronous: 'normal' });
  try {
    const started = performance.now();
    let done = 0;
    for (; done + batch <= maxRuns && performance.now() - started < budgetMs; done += batch) {
      const ids = Array.from({ length: batch }, (_, i) => `r-${done + i}`);
      await Promise.all(
        ids.map((id, i) =>
          store.acceptMessage(
            { id: `m-${done + i}`, source: 'amqp', topic: 'bench', headers: { 'content-type': 'application/json' }, body: { n: done + i }, correlationId: id, receivedAt: T0 },
            ['job'],
            [{ id, job: 'job', priority: 0, maxAttempts: 1, executor: 'noop' }],
          ),
        ),
      );
      const claimed = await store.claimRuns({ now: T0, limit: batch, excludeJobs: [] });
      if (claimed.length !== batch) throw new Error(`claimed ${claimed.length} runs, expected ${batch}`);
      await Promise.all(ids.map((id) => store.markRunning(id, 'pid', T0)));
      await Promise.all(ids.map((id) => store.finishAttempt(id, { status: 'succeeded', exitCode: 0, reason: null, finishedAt: T0, log: LOG })));
    }
    const seconds = (performance.now() - started) / 1000;
    return { runs: done, seconds, perSecond: done / seconds };
  } finally {
    await store.close();
  }
}

/** The raw counterpart of batchedStoreRate: each step for the whole batch in one transaction. */
function batchedRawRate(path: string, maxRuns: number, batch: number, budgetMs: number): Rate {
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec('CREATE TABLE runs (id TEXT PRIMARY KEY, status TEXT NOT NULL, at INTEGER NOT NULL)');
    const insert = db.prepare<[string, number]>("INSERT INTO runs (id, status, at) VALUES (?, 'queued', ?)");
    const update = db.prepare<[string, number, string]>('UPDATE runs SET status = ?, at = ? WHERE id = ?');
    const step = db.transaction((ids: readonly string[], status: string | null) => {
      for (const id of ids) {
        if (status === null) insert.run(id, T0);
        else update.run(status, T0, id);
      }
    });
    const started = performance.now();
    let done = 0;
    for (; done + batch <= maxRuns && performance.now() - started < budgetMs; done += batch) {
      const ids = Array.from({ length: batch }, (_, i) => `r-${done + i}`);
      for (const status of [null, 'starting', 'running', 'succeeded']) step.immediate(ids, status);
    }
    const seconds = (performance.now() - started) / 1000;
    return { runs: done, seconds, perSecond: done / seconds };
  } finally {
    db.close();
  }
}

function rawRate(path: string, synchronous: SynchronousMode, maxRuns: number, budgetMs: number): Rate {
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    db.pragma('foreign_keys = ON');
    db.exec('CREATE TABLE runs (id TEXT PRIMARY KEY, status TEXT NOT NULL, at INTEGER NOT NULL)');
    const insert = db.prepare<[string, number]>("INSERT INTO runs (id, status, at) VALUES (?, 'queued', ?)");
    const update = db.prepare<[string, number, string]>('UPDATE runs SET status = ?, at = ? WHERE id = ?');
    const started = performance.now();
    let done = 0;
    for (; done < maxRuns && performance.now() - started < budgetMs; done++) {
      const id = `r-${done}`;
      insert.run(id, T0);
      update.run('starting', T0, id);
      update.run('running', T0, id);
      update.run('succeeded', T0, id);
    }
    const seconds = (performance.now() - started) / 1000;
    return { runs: done, seconds, perSecond: done / seconds };
  } finally {
    db.close();
  }
}

function parseRuns(arg: string | undefined): number {
  if (arg === undefined) return 5000;
  const runs = Number(arg);
  if (!Number.isSafeInteger(runs) || runs < 1) throw new Error(`runs must be a positive integer, not ${arg}`);
  return runs;
}

async function main(): Promise<void> {
  const maxRuns = parseRuns(process.argv[2]);
  const dir = mkdtempSync(join(tmpdir(), 'jobwire-bench-store-'));
  try {
    const format = (rate: Rate): string => `${Math.round(rate.perSecond)} runs/s (${rate.runs} in ${rate.seconds.toFixed(2)} s)`;
    // Warm-up: JIT and page cache, so the first measured mode is not penalized.
    await storeRate(join(dir, 'warm.db'), 'normal', 500, 500);

    // FULL first and with a small budget: it is bounded by fsync, informational only.
    const fullStore = await storeRate(join(dir, 'full-store.db'), 'full', maxRuns, 1500);
    const fullRaw = rawRate(join(dir, 'full-raw.db'), 'full', maxRuns, 1500);
    console.log(
      `synchronous=full (survives power loss): store ${format(fullStore)}, raw ${format(fullRaw)}, ` +
        `ratio ${(fullStore.perSecond / fullRaw.perSecond).toFixed(2)}`,
    );

    const store = await storeRate(join(dir, 'store.db'), 'normal', maxRuns, 3000);
    const raw = rawRate(join(dir, 'raw.db'), 'normal', maxRuns, 3000);
    const perRunUs = (1e6 / store.perSecond).toFixed(0);
    const batched = await batchedStoreRate(join(dir, 'batched.db'), maxRuns * 4, 100, 3000);
    const batchedRaw = batchedRawRate(join(dir, 'batched-raw.db'), maxRuns * 4, 100, 3000);
    console.log(
      `100 runs per turn (as under a broker drain): store ${format(batched)}, ${(1e6 / batched.perSecond).toFixed(1)} µs/run; ` +
        `raw ${format(batchedRaw)}, ${(1e6 / batchedRaw.perSecond).toFixed(1)} µs/run; ratio ${(batched.perSecond / batchedRaw.perSecond).toFixed(2)}`,
    );
    console.log(
      `store sqlite synchronous=normal: ${format(store)}, ${perRunUs} µs/run for accept+claim+running+finish; ` +
        `raw better-sqlite3 insert+3 updates: ${format(raw)}; ratio ${(store.perSecond / raw.perSecond).toFixed(2)}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
