/**
 * The SQLite store: the shared conformance suite on a real file, plus what only a file-backed
 * store has — reopening, surviving a killed process, schema versions, and two processes on one
 * file never claiming the same run.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { ConflictError, InvalidInputError } from '../src/core/errors.js';
import type { Message } from '../src/core/message.js';
import { MIGRATIONS } from '../src/store/sqlite/migrations.js';
import { openSqliteStore, type SqliteStoreOptions } from '../src/store/sqlite/sqlite-store.js';
import { storeConformanceSuite } from './store-conformance.js';

const STORE_MODULE = new URL('../src/store/sqlite/sqlite-store.js', import.meta.url).href;
const T0 = 1_700_000_000_000;

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'jobwire-sqlite-'));
}

function message(id: string): Message {
  return { id, source: 'http', topic: 't', headers: {}, body: { id }, correlationId: id, receivedAt: T0 };
}

/** Runs an ES module snippet in a separate Node process: a second jobwire on the same file. */
function runNode(code: string, env: Record<string, string>): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (exitCode, signal) => resolve({ code: exitCode, signal, stdout, stderr }));
  });
}

/** A fresh temp directory for one test, removed afterwards whatever the outcome. */
async function inTempDir(test: (dir: string) => Promise<void>): Promise<void> {
  const dir = tempDir();
  try {
    await test(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

storeConformanceSuite('sqlite', async () => {
  const dir = tempDir();
  const store = openSqliteStore({ path: join(dir, 'jobwire.db') });
  return {
    store,
    async cleanup() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('SqliteStore (file-specific)', () => {
  it('creates the parent directory and keeps everything across close and reopen', () =>
    inTempDir(async (dir) => {
      const path = join(dir, 'nested', 'data', 'jobwire.db');
      const options: SqliteStoreOptions = { path, synchronous: 'full' };
      const first = openSqliteStore(options);
      const accepted = await first.acceptMessage(message('m1'), ['a', 'b'], [
        { id: 'r1', job: 'a', priority: 1, maxAttempts: 2, executor: 'process' },
        { id: 'r2', job: 'b', priority: 0, maxAttempts: 1, executor: 'process' },
      ]);
      const [claimed] = await first.claimRuns({ now: T0, limit: 1, excludeJobs: [] });
      assert.equal(claimed?.id, 'r1');
      await first.markRunning('r1', 'pid:1', T0 + 1);
      const log = { attempt: 1, text: 'out', droppedBytes: 0, totalBytes: 3 };
      const finished = await first.finishAttempt('r1', { status: 'failed', exitCode: 2, reason: 'exit code 2', finishedAt: T0 + 2, log, retryAt: T0 + 10 });
      const before = { message: await first.getMessage('http', 'm1'), runs: await first.listRuns({ limit: 10 }) };
      await first.close();
      await first.close(); // idempotent

      const second = openSqliteStore({ path });
      try {
        assert.deepEqual(await second.getMessage('http', 'm1'), before.message);
        assert.deepEqual(await second.listRuns({ limit: 10 }), before.runs);
        assert.deepEqual(await second.getRun('r1'), finished);
        assert.deepEqual(await second.getLogs('r1'), [{ runId: 'r1', ...log }]);
        assert.equal(await second.nextAvailableAt(), T0);
        assert.deepEqual(await second.acceptMessage(message('m1'), [], []), { duplicate: true, runs: before.runs.runs.slice().reverse() });
        const more = await second.acceptMessage({ ...message('m2') }, ['a'], [{ id: 'r3', job: 'a', priority: 0, maxAttempts: 1, executor: 'process' }]);
        const r2 = accepted.runs[1];
        assert.ok(r2 && more.runs[0] && more.runs[0].seq > r2.seq, 'seq keeps increasing after a reopen');
      } finally {
        await second.close();
      }

      const raw = new Database(path, { readonly: true });
      try {
        assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
        assert.equal(raw.pragma('user_version', { simple: true }), MIGRATIONS.length);
      } finally {
        raw.close();
      }
    }));

  it('returns a just-accepted message from memory exactly as a read of its row returns it', () =>
    inTempDir(async (dir) => {
      const path = join(dir, 'jobwire.db');
      // Binary-mode CloudEvents keep every ce- header as an attribute, extensions included; the
      // row keeps the known ones. A body left undefined is stored as null.
      const messages: Message[] = [
        { ...message('ce'), headers: { 'ce-id': 'e1' }, cloudEvent: { id: 'e1', source: 's', type: 't', specversion: '1.0', partitionkey: 'p' } as Message['cloudEvent'] & object },
        { ...message('undefined-body'), body: undefined },
        { ...message('text'), body: 'plain text', headers: { 'content-type': 'text/plain' } },
      ];
      const writer = openSqliteStore({ path });
      const reader = openSqliteStore({ path });
      try {
        for (const accepted of messages) await writer.acceptMessage(accepted, ['a', 'b'], []);
        for (const { source, id } of messages) {
          const fromMemory = await writer.getMessage(source, id);
          assert.ok(fromMemory !== undefined);
          // The reader accepted nothing: it reads the row.
          assert.deepStrictEqual(fromMemory, await reader.getMessage(source, id), id);
        }
        // A duplicate does not replace what was recorded first.
        await writer.acceptMessage({ ...message('text'), body: 'changed' }, [], []);
        assert.equal((await writer.getMessage('http', 'text'))?.body, 'plain text');
      } finally {
        await writer.close();
        await reader.close();
      }
    }));

  it('moves on runs another store (a previous process) claimed, returning them as stored', () =>
    inTempDir(async (dir) => {
      const path = join(dir, 'jobwire.db');
      const first = openSqliteStore({ path });
      await first.acceptMessage(message('m1'), ['a'], [
        { id: 'r1', job: 'a', priority: 0, maxAttempts: 2, executor: 'process' },
        { id: 'r2', job: 'a', priority: 0, maxAttempts: 1, executor: 'process' },
      ]);
      assert.equal((await first.claimRuns({ now: T0, limit: 2, excludeJobs: [] })).length, 2);
      await first.markRunning('r2', 'pid:2', T0 + 1);
      await first.close();

      const second = openSqliteStore({ path });
      try {
        const running = await second.markRunning('r1', 'pid:1', T0 + 2);
        assert.deepEqual(await second.getRun('r1'), running);
        assert.equal(running.handle, 'pid:1');
        const retried = await second.finishAttempt('r1', { status: 'failed', exitCode: null, reason: 'lost', finishedAt: T0 + 3, log: null, retryAt: T0 + 4 });
        assert.equal(retried.status, 'queued');
        assert.deepEqual(await second.getRun('r1'), retried);
        const failed = await second.finishAttempt('r2', { status: 'failed', exitCode: null, reason: 'lost', finishedAt: T0 + 3, log: null, retryAt: T0 + 4 });
        assert.equal(failed.status, 'failed', 'no attempt left');
        assert.deepEqual(await second.getRun('r2'), failed);
      } finally {
        await second.close();
      }
    }));

  it('refuses a write for an attempt that is over: another process re-claimed the run meanwhile', () =>
    inTempDir(async (dir) => {
      const path = join(dir, 'jobwire.db');
      const first = openSqliteStore({ path });
      const second = openSqliteStore({ path });
      try {
        await first.acceptMessage(message('m1'), ['a'], [{ id: 'r1', job: 'a', priority: 0, maxAttempts: 3, executor: 'process' }]);
        assert.equal((await first.claimRuns({ now: T0, limit: 1, excludeJobs: [] }))[0]?.attempts, 1);
        // The second process takes attempt 1 for orphaned and claims attempt 2.
        await second.finishAttempt('r1', { status: 'failed', exitCode: null, reason: 'orphaned', finishedAt: T0 + 1, log: null, retryAt: T0 + 1 });
        assert.equal((await second.claimRuns({ now: T0 + 1, limit: 1, excludeJobs: [] }))[0]?.attempts, 2);
        await assert.rejects(first.markRunning('r1', 'pid:1', T0 + 2), (error: unknown) => {
          assert.ok(error instanceof ConflictError, String(error));
          assert.match(error.message, /attempt 2 .*attempt 1, claimed here, is over/);
          return true;
        });
        await assert.rejects(first.finishAttempt('r1', { status: 'succeeded', exitCode: 0, reason: null, finishedAt: T0 + 3, log: null }), ConflictError);
        const current = await second.getRun('r1');
        assert.equal(current?.status, 'starting', 'attempt 2 untouched by the stale writes');
        assert.equal(current?.handle, null);
        assert.deepEqual(await second.markRunning('r1', 'pid:2', T0 + 4), await second.getRun('r1'));
      } finally {
        await first.close();
        await second.close();
      }
    }));

  it('keeps every accepted message when the process is killed right after', () =>
    inTempDir(async (dir) => {
      const path = join(dir, 'jobwire.db');
      const code = `
        const { openSqliteStore } = await import(process.env.STORE_MODULE);
        const store = openSqliteStore({ path: process.env.DB });
        for (let i = 0; i < 200; i++) {
          await store.acceptMessage(
            { id: 'k' + i, source: 'http', topic: '', headers: {}, body: i, correlationId: 'k' + i, receivedAt: ${T0} },
            ['job'], [{ id: 'run-k' + i, job: 'job', priority: 0, maxAttempts: 1, executor: 'process' }]);
        }
        process.kill(process.pid, 'SIGKILL');
      `;
      const result = await runNode(code, { STORE_MODULE, DB: path });
      assert.equal(result.signal, 'SIGKILL', result.stderr);
      const store = openSqliteStore({ path });
      try {
        assert.deepEqual(await store.stats(), { queued: 200, active: 0 });
        assert.equal((await store.getMessage('http', 'k199'))?.body, 199);
      } finally {
        await store.close();
      }
    }));

  it('refuses a database from a newer jobwire, and a bad synchronous setting', () =>
    inTempDir(async (dir) => {
      const path = join(dir, 'jobwire.db');
      await openSqliteStore({ path }).close();
      const raw = new Database(path);
      raw.pragma(`user_version = ${MIGRATIONS.length + 1}`);
      raw.close();
      assert.throws(() => openSqliteStore({ path }), /newer than this jobwire knows/);
      assert.throws(
        () => openSqliteStore({ path: join(dir, 'other.db'), synchronous: 'off' as 'full' }),
        (error: unknown) => error instanceof InvalidInputError,
      );
    }));

  it('never lets two processes claim the same run', () =>
    inTempDir(async (dir) => {
      const path = join(dir, 'jobwire.db');
      const total = 1500;
      const seed = openSqliteStore({ path });
      for (let i = 0; i < total; i++) {
        await seed.acceptMessage(message(`c${i}`), ['job'], [{ id: `run-${i}`, job: 'job', priority: i % 3, maxAttempts: 1, executor: 'process' }]);
      }
      await seed.close();

      // Each worker claims small batches and drives every claimed run to the end, so both take
      // the write lock often; they start at the same instant to overlap.
      const code = `
        const { openSqliteStore } = await import(process.env.STORE_MODULE);
        const store = openSqliteStore({ path: process.env.DB });
        const startAt = Number(process.env.START_AT);
        while (Date.now() < startAt) await new Promise((r) => setTimeout(r, 1));
        const ids = [];
        for (;;) {
          const runs = await store.claimRuns({ now: ${T0 + 1}, limit: 3, excludeJobs: [] });
          if (runs.length === 0) break;
          for (const run of runs) {
            ids.push(run.id);
            await store.markRunning(run.id, String(process.pid), Date.now());
            await store.finishAttempt(run.id, { status: 'succeeded', exitCode: 0, reason: null, finishedAt: Date.now(), log: null });
          }
          // Pause like a dispatcher between polls. Without it one process can take everything:
          // SQLite's busy handler sleeps and retries, it does not queue waiters fairly.
          await new Promise((r) => setTimeout(r, 1));
        }
        await store.close();
        process.stdout.write(JSON.stringify(ids));
      `;
      const env = { STORE_MODULE, DB: path, START_AT: String(Date.now() + 1500) };
      const results = await Promise.all([runNode(code, env), runNode(code, env)]);
      const claimedBy = results.map((result) => {
        assert.equal(result.code, 0, result.stderr);
        const parsed: unknown = JSON.parse(result.stdout);
        assert.ok(Array.isArray(parsed) && parsed.every((id): id is string => typeof id === 'string'));
        return parsed;
      });
      const [a = [], b = []] = claimedBy;
      assert.ok(a.length > 0 && b.length > 0, `both processes claimed work (${a.length} / ${b.length})`);
      assert.equal(a.length + b.length, total, 'every run claimed once in total');
      assert.equal(new Set([...a, ...b]).size, total, 'no run claimed twice');

      const check = openSqliteStore({ path });
      try {
        const page = await check.listRuns({ limit: total + 1 });
        assert.equal(page.runs.length, total);
        assert.ok(page.runs.every((run) => run.status === 'succeeded' && run.attempts === 1));
      } finally {
        await check.close();
      }
    }));
});
