/**
 * The Store contract as executable tests, run against every backend (BullMQ-style: one contract,
 * one suite). It talks to the store only through the Store interface, so a backend that passes
 * behaves the same to the dispatcher, the inbox and the API. Backend-specific behaviour
 * (reopening a file, several processes) is tested next to the backend.
 *
 * Every test gets a fresh store from `makeStore`; times are fixed numbers, never Date.now(), so
 * ordering and availability assertions are exact.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ConflictError, InvalidInputError, NotFoundError } from '../src/core/errors.js';
import type { Message } from '../src/core/message.js';
import type { RunRecord, RunStatus } from '../src/core/run.js';
import type { AttemptEnd, NewRun, RunFilter, Store } from '../src/store/store.js';

export interface StoreHandle {
  readonly store: Store;
  cleanup(): Promise<void>;
}

const T0 = 1_700_000_000_000;

function message(id: string, options: Partial<Message> = {}): Message {
  return {
    id,
    source: 'http',
    topic: 'orders',
    headers: { 'content-type': 'application/json' },
    body: { n: 1 },
    correlationId: `corr-${id}`,
    receivedAt: T0,
    ...options,
  };
}

function failed(finishedAt: number, extra: Partial<AttemptEnd> = {}): AttemptEnd {
  return { status: 'failed', exitCode: 3, reason: 'exit code 3', finishedAt, log: null, ...extra };
}

async function rejectsWith(promise: Promise<unknown>, type: new (...args: never[]) => Error): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof type, `expected ${type.name}, got ${String(error)}`);
    return true;
  });
}

export function storeConformanceSuite(name: string, makeStore: () => Promise<StoreHandle>): void {
  describe(`Store conformance: ${name}`, () => {
    let handle: StoreHandle;
    let store: Store;
    // Unique run ids and message ids across the suite's tests.
    let counter = 0;

    function newRun(job: string, options: Partial<Omit<NewRun, 'job'>> = {}): NewRun {
      counter += 1;
      return {
        id: options.id ?? `run-${String(counter).padStart(6, '0')}-${job}`,
        job,
        priority: options.priority ?? 0,
        maxAttempts: options.maxAttempts ?? 1,
        executor: options.executor ?? 'process',
      };
    }

    beforeEach(async () => {
      handle = await makeStore();
      store = handle.store;
    });
    afterEach(async () => {
      await handle.cleanup();
    });

    /** Accepts one message per job (receivedAt = at) and returns its single run. */
    async function queued(job: string, at: number = T0, options: Partial<Omit<NewRun, 'job'>> = {}): Promise<RunRecord> {
      const result = await store.acceptMessage(message(`m-${job}-${counter}-${at}`, { receivedAt: at }), [job], [
        newRun(job, options),
      ]);
      const run = result.runs[0];
      assert.ok(run);
      return run;
    }

    /** What a write returned is exactly what is stored (the store may compute it rather than read it). */
    async function assertStored(run: RunRecord): Promise<void> {
      assert.deepEqual(await store.getRun(run.id), run, `run ${run.id} as returned vs as stored`);
    }

    /** Claims exactly this run (it must be the only one claimable) and returns it. */
    async function claimOnly(id: string, now: number): Promise<RunRecord> {
      const claimed = await store.claimRuns({ now, limit: 10, excludeJobs: [] });
      assert.deepEqual(claimed.map((r) => r.id), [id]);
      const run = claimed[0];
      assert.ok(run);
      await assertStored(run);
      return run;
    }

    describe('acceptMessage and getMessage', () => {
      it('records the message and creates queued runs with exact fields', async () => {
        const runs = [newRun('build', { priority: 5, maxAttempts: 3 }), newRun('test', { executor: 'cluster' })];
        const result = await store.acceptMessage(message('m1'), ['build', 'test'], runs);
        assert.equal(result.duplicate, false);
        assert.equal(result.runs.length, 2);
        const [build, test] = result.runs;
        assert.ok(build && test);
        const { seq: buildSeq, ...buildRest } = build;
        assert.deepEqual(buildRest, {
          id: runs[0]?.id,
          job: 'build',
          messageId: 'm1',
          source: 'http',
          correlationId: 'corr-m1',
          status: 'queued',
          priority: 5,
          attempts: 0,
          maxAttempts: 3,
          exitCode: null,
          reason: null,
          executor: 'process',
          handle: null,
          createdAt: T0,
          availableAt: T0,
          startedAt: null,
          finishedAt: null,
          output: null,
          outputError: null,
          steps: null,
        });
        assert.equal(test.executor, 'cluster');
        assert.ok(test.seq > buildSeq, 'seq increases in insertion order');
        assert.deepEqual(await store.getRun(build.id), build);
        assert.equal(await store.getRun('no-such-run'), undefined);
      });

      it('round-trips the message: object, string, null and missing bodies, headers, CloudEvent', async () => {
        const cloudEvent = { id: 'ce-1', source: '/ci', type: 'sh.keptn.event.test.triggered', specversion: '1.0', subject: 's' };
        await store.acceptMessage(message('obj', { cloudEvent, body: { data: { a: [1, 'two', null] } } }), ['x'], []);
        await store.acceptMessage(message('str', { body: 'plain "text"\n$(touch /tmp/x)' }), [], []);
        await store.acceptMessage(message('undef', { body: undefined, headers: {} }), [], []);
        await store.acceptMessage(message('num', { body: 42, topic: '' }), [], []);

        assert.deepEqual(await store.getMessage('http', 'obj'), {
          ...message('obj', { cloudEvent, body: { data: { a: [1, 'two', null] } } }),
          matchedJobs: ['x'],
        });
        const str = await store.getMessage('http', 'str');
        assert.equal(str?.body, 'plain "text"\n$(touch /tmp/x)');
        assert.equal(str !== undefined && 'cloudEvent' in str, false, 'no cloudEvent key for a plain message');
        assert.deepEqual(str?.matchedJobs, []);
        const undef = await store.getMessage('http', 'undef');
        assert.equal(undef?.body, null);
        assert.deepEqual(undef?.headers, {});
        const num = await store.getMessage('http', 'num');
        assert.equal(num?.body, 42);
        assert.equal(num?.topic, '');
        assert.equal(await store.getMessage('http', 'missing'), undefined);
        assert.equal(await store.getMessage('amqp', 'obj'), undefined);
      });

      it('deduplicates by (source, id): a redelivery returns the original runs and creates nothing', async () => {
        const first = await store.acceptMessage(message('dup'), ['a', 'b'], [newRun('a'), newRun('b')]);
        const again = await store.acceptMessage(message('dup', { body: 'changed' }), ['c'], [newRun('c')]);
        assert.equal(again.duplicate, true);
        assert.deepEqual(again.runs, first.runs);
        const all = await store.listRuns({ limit: 100 });
        assert.deepEqual(all.runs.map((r) => r.job).sort(), ['a', 'b']);
        const stored = await store.getMessage('http', 'dup');
        assert.deepEqual(stored?.body, { n: 1 }, 'the first delivery is what is kept');
        assert.deepEqual(stored?.matchedJobs, ['a', 'b']);
      });

      it('deduplicates a message that matched nothing', async () => {
        assert.deepEqual(await store.acceptMessage(message('none'), [], []), { duplicate: false, runs: [] });
        assert.deepEqual(await store.acceptMessage(message('none'), ['a'], [newRun('a')]), { duplicate: true, runs: [] });
        assert.equal((await store.listRuns({ limit: 10 })).runs.length, 0);
      });

      it('treats the same id on another source as a new message', async () => {
        const http = await store.acceptMessage(message('same'), ['a'], [newRun('a')]);
        const amqp = await store.acceptMessage(message('same', { source: 'rabbit' }), ['a'], [newRun('a')]);
        assert.equal(amqp.duplicate, false);
        assert.equal(amqp.runs.length, 1);
        assert.notEqual(amqp.runs[0]?.id, http.runs[0]?.id);
        assert.equal(amqp.runs[0]?.source, 'rabbit');
        assert.equal((await store.listRuns({ limit: 10 })).runs.length, 2);
        assert.equal((await store.getMessage('rabbit', 'same'))?.source, 'rabbit');
      });
    });

    describe('claimRuns', () => {
      it('claims by priority, then arrival, and counts the attempt', async () => {
        const low1 = await queued('low1', T0, { priority: 0 });
        const high1 = await queued('high1', T0 + 1, { priority: 10 });
        const low2 = await queued('low2', T0 + 2, { priority: 0 });
        const high2 = await queued('high2', T0 + 3, { priority: 10 });
        const neg = await queued('neg', T0 + 4, { priority: -5 });
        const first = await store.claimRuns({ now: T0 + 10, limit: 3, excludeJobs: [] });
        assert.deepEqual(first.map((r) => r.id), [high1.id, high2.id, low1.id]);
        for (const run of first) {
          assert.equal(run.status, 'starting');
          assert.equal(run.attempts, 1);
          assert.equal(run.handle, null);
          assert.equal(run.startedAt, null);
          await assertStored(run);
        }
        const rest = await store.claimRuns({ now: T0 + 10, limit: 3, excludeJobs: [] });
        assert.deepEqual(rest.map((r) => r.id), [low2.id, neg.id]);
        assert.deepEqual(await store.claimRuns({ now: T0 + 10, limit: 3, excludeJobs: [] }), []);
        assert.equal((await store.getRun(low1.id))?.status, 'starting');
      });

      it('leaves runs of excluded jobs queued', async () => {
        const a = await queued('a', T0, { priority: 9 });
        const b = await queued('b', T0 + 1);
        const c = await queued('c', T0 + 2);
        const claimed = await store.claimRuns({ now: T0 + 10, limit: 10, excludeJobs: ['a', 'c'] });
        assert.deepEqual(claimed.map((r) => r.id), [b.id]);
        assert.equal((await store.getRun(a.id))?.status, 'queued');
        assert.equal((await store.getRun(c.id))?.status, 'queued');
        assert.deepEqual((await store.claimRuns({ now: T0 + 10, limit: 10, excludeJobs: [] })).map((r) => r.id), [a.id, c.id]);
      });

      it('honours availableAt and a zero limit', async () => {
        const later = await queued('later', T0 + 1000);
        assert.deepEqual(await store.claimRuns({ now: T0 + 999, limit: 10, excludeJobs: [] }), []);
        assert.deepEqual(await store.claimRuns({ now: T0 + 1000, limit: 0, excludeJobs: [] }), []);
        await claimOnly(later.id, T0 + 1000);
      });
    });

    describe('state machine', () => {
      it('walks queued → starting → running → succeeded with exact fields and a log', async () => {
        const run = await queued('ok');
        await claimOnly(run.id, T0 + 1);
        const running = await store.markRunning(run.id, 'pid:4242', T0 + 2);
        assert.equal(running.status, 'running');
        assert.equal(running.handle, 'pid:4242');
        assert.equal(running.startedAt, T0 + 2);
        await assertStored(running);
        const log = { attempt: 1, text: 'hello\n', droppedBytes: 0, totalBytes: 6 };
        const done = await store.finishAttempt(run.id, { status: 'succeeded', exitCode: 0, reason: 'exit code 0', finishedAt: T0 + 3, log });
        const { seq: _seq, ...rest } = done;
        const { seq: _seq0, ...original } = run;
        assert.deepEqual(rest, {
          ...original,
          status: 'succeeded',
          attempts: 1,
          exitCode: 0,
          reason: 'exit code 0',
          handle: 'pid:4242',
          startedAt: T0 + 2,
          finishedAt: T0 + 3,
        });
        assert.deepEqual(await store.getRun(run.id), done);
        assert.deepEqual(await store.getLogs(run.id), [{ runId: run.id, ...log }]);
      });

      it('lets a starting run finish directly (the executor could not start it)', async () => {
        const run = await queued('nostart');
        await claimOnly(run.id, T0 + 1);
        const done = await store.finishAttempt(run.id, { ...failed(T0 + 2), reason: 'spawn ENOENT', exitCode: null });
        assert.equal(done.status, 'failed');
        assert.equal(done.exitCode, null);
        assert.equal(done.reason, 'spawn ENOENT');
      });

      it('refuses illegal transitions with ConflictError and unknown runs with NotFoundError', async () => {
        const run = await queued('strict');
        await rejectsWith(store.markRunning(run.id, 'h', T0), ConflictError);
        await rejectsWith(store.finishAttempt(run.id, failed(T0)), ConflictError);
        await claimOnly(run.id, T0 + 1);
        await store.markRunning(run.id, 'h', T0 + 2);
        await rejectsWith(store.markRunning(run.id, 'h2', T0 + 3), ConflictError);
        await store.finishAttempt(run.id, { status: 'succeeded', exitCode: 0, reason: null, finishedAt: T0 + 4, log: null });
        await rejectsWith(store.markRunning(run.id, 'h', T0 + 5), ConflictError);
        await rejectsWith(store.finishAttempt(run.id, failed(T0 + 5)), ConflictError);
        assert.equal((await store.getRun(run.id))?.status, 'succeeded', 'a refused transition changes nothing');
        assert.equal((await store.getRun(run.id))?.handle, 'h');
        await rejectsWith(store.markRunning('ghost', 'h', T0), NotFoundError);
        await rejectsWith(store.finishAttempt('ghost', failed(T0)), NotFoundError);
        await rejectsWith(store.retryRun('ghost', T0), NotFoundError);
      });

      it('settles writes made together one by one: a refused or failing one changes nothing, the others are recorded', async () => {
        const [a, b, c] = [await queued('together-a'), await queued('together-b'), await queued('together-c')];
        assert.ok(a && b && c);
        await store.claimRuns({ now: T0 + 1, limit: 10, excludeJobs: [] });
        await store.markRunning(a.id, 'ha', T0 + 2);
        const clash = newRun('clash');
        // All issued in the same turn, as the dispatcher and inbox do under load.
        const outcomes = await Promise.allSettled([
          store.finishAttempt(a.id, { status: 'succeeded', exitCode: 0, reason: null, finishedAt: T0 + 3, log: { attempt: 1, text: 'a', droppedBytes: 0, totalBytes: 1 } }),
          store.markRunning(a.id, 'again', T0 + 3),
          // Its second run reuses the first one's id: the message must not be recorded either.
          store.acceptMessage(message('half'), ['clash'], [clash, { ...newRun('clash'), id: clash.id }]),
          store.markRunning(b.id, 'hb', T0 + 3),
          store.finishAttempt('ghost', failed(T0 + 3)),
          store.acceptMessage(message('whole'), ['whole'], [newRun('whole')]),
          store.finishAttempt(c.id, failed(T0 + 3)),
        ]);
        assert.deepEqual(outcomes.map((outcome) => outcome.status), ['fulfilled', 'rejected', 'rejected', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
        const reasons = outcomes.map((outcome) => (outcome.status === 'rejected' ? outcome.reason : undefined));
        assert.ok(reasons[1] instanceof ConflictError, String(reasons[1]));
        assert.ok(reasons[4] instanceof NotFoundError, String(reasons[4]));
        assert.equal((await store.getRun(a.id))?.status, 'succeeded');
        assert.equal((await store.getRun(a.id))?.handle, 'ha');
        assert.deepEqual((await store.getLogs(a.id)).map((log) => log.text), ['a']);
        assert.equal((await store.getRun(b.id))?.status, 'running');
        assert.equal((await store.getRun(c.id))?.status, 'failed');
        assert.equal(await store.getMessage('http', 'half'), undefined, 'a failed accept records neither the message nor a run');
        assert.equal(await store.getRun(clash.id), undefined);
        assert.equal((await store.listRuns({ job: 'whole', limit: 10 })).runs.length, 1);
      });

      it('records each final status', async () => {
        for (const status of ['succeeded', 'failed', 'timed_out', 'cancelled'] as const) {
          const run = await queued(`final-${status}`);
          await claimOnly(run.id, T0 + 1);
          await store.markRunning(run.id, 'h', T0 + 2);
          const done = await store.finishAttempt(run.id, { status, exitCode: 9, reason: status, finishedAt: T0 + 3, log: null });
          assert.equal(done.status, status);
          assert.equal(done.reason, status);
          await assertStored(done);
        }
      });
    });

    describe('retries', () => {
      it('requeues a failed attempt until retryAt, keeping why, and stops at maxAttempts', async () => {
        const run = await queued('flaky', T0, { maxAttempts: 3 });
        await claimOnly(run.id, T0 + 1);
        await store.markRunning(run.id, 'p1', T0 + 2);
        const waiting = await store.finishAttempt(run.id, failed(T0 + 3, { retryAt: T0 + 100 }));
        assert.equal(waiting.status, 'queued');
        assert.equal(waiting.attempts, 1);
        assert.equal(waiting.availableAt, T0 + 100);
        assert.equal(waiting.exitCode, 3, 'the failed attempt’s exit code stays visible while waiting');
        assert.equal(waiting.reason, 'exit code 3');
        assert.equal(waiting.finishedAt, null);
        await assertStored(waiting);
        assert.equal(await store.nextAvailableAt(), T0 + 100);
        assert.deepEqual(await store.claimRuns({ now: T0 + 99, limit: 10, excludeJobs: [] }), []);

        const second = await claimOnly(run.id, T0 + 100);
        assert.equal(second.attempts, 2);
        assert.equal(second.exitCode, null, 'a new attempt starts clean');
        assert.equal(second.reason, null);
        assert.equal(second.handle, null);
        await store.markRunning(run.id, 'p2', T0 + 101);
        const timedOut = await store.finishAttempt(run.id, { status: 'timed_out', exitCode: null, reason: 'timed out', finishedAt: T0 + 102, log: null, retryAt: T0 + 200 });
        assert.equal(timedOut.status, 'queued');
        assert.equal(timedOut.reason, 'timed out');
        await assertStored(timedOut);

        await claimOnly(run.id, T0 + 200);
        await store.markRunning(run.id, 'p3', T0 + 201);
        const last = await store.finishAttempt(run.id, failed(T0 + 202, { retryAt: T0 + 300 }));
        assert.equal(last.status, 'failed', 'no attempts left: final despite retryAt');
        assert.equal(last.attempts, 3);
        assert.equal(last.finishedAt, T0 + 202);
        await assertStored(last);
        assert.equal(await store.nextAvailableAt(), undefined);
      });

      it('ignores retryAt for succeeded and cancelled attempts', async () => {
        for (const status of ['succeeded', 'cancelled'] as const) {
          const run = await queued(`noretry-${status}`, T0, { maxAttempts: 5 });
          await claimOnly(run.id, T0 + 1);
          const done = await store.finishAttempt(run.id, { status, exitCode: null, reason: null, finishedAt: T0 + 2, log: null, retryAt: T0 + 50 });
          assert.equal(done.status, status);
          assert.equal(done.finishedAt, T0 + 2);
          await assertStored(done);
        }
      });

      it('retryRun allows exactly one more attempt from a final status', async () => {
        const run = await queued('manual', T0, { maxAttempts: 2 });
        await rejectsWith(store.retryRun(run.id, T0), ConflictError);
        await claimOnly(run.id, T0 + 1);
        await rejectsWith(store.retryRun(run.id, T0 + 1), ConflictError);
        await store.markRunning(run.id, 'h', T0 + 2);
        await rejectsWith(store.retryRun(run.id, T0 + 2), ConflictError);
        await store.finishAttempt(run.id, failed(T0 + 3));
        const again = await store.retryRun(run.id, T0 + 500);
        assert.equal(again.status, 'queued');
        assert.equal(again.attempts, 1);
        assert.equal(again.maxAttempts, 2);
        assert.equal(again.availableAt, T0 + 500);
        assert.equal(again.exitCode, null);
        assert.equal(again.reason, null);
        assert.equal(again.finishedAt, null);
        assert.deepEqual(await store.claimRuns({ now: T0 + 499, limit: 10, excludeJobs: [] }), []);
        const second = await claimOnly(run.id, T0 + 500);
        assert.equal(second.attempts, 2);
        const done = await store.finishAttempt(run.id, failed(T0 + 501, { retryAt: T0 + 600 }));
        assert.equal(done.status, 'failed', 'the manual retry granted one attempt, now used');

        const third = await store.retryRun(run.id, T0 + 700);
        assert.equal(third.maxAttempts, 3);
      });

      it('retryRun of a run cancelled before any attempt allows one attempt', async () => {
        const run = await queued('cancelled-early', T0, { maxAttempts: 4 });
        await store.cancelQueued(run.id, 'not needed', T0 + 1);
        const again = await store.retryRun(run.id, T0 + 2);
        assert.equal(again.attempts, 0);
        assert.equal(again.maxAttempts, 1);
        assert.equal(again.status, 'queued');
      });
    });

    describe('cancelQueued', () => {
      it('cancels only a queued run, atomically', async () => {
        const run = await queued('c1');
        const cancelled = await store.cancelQueued(run.id, 'cancelled by user', T0 + 5);
        assert.equal(cancelled?.status, 'cancelled');
        assert.equal(cancelled?.reason, 'cancelled by user');
        assert.equal(cancelled?.finishedAt, T0 + 5);
        assert.equal(await store.cancelQueued(run.id, 'again', T0 + 6), undefined);
        assert.equal((await store.getRun(run.id))?.reason, 'cancelled by user');
        assert.deepEqual(await store.claimRuns({ now: T0 + 10, limit: 10, excludeJobs: [] }), []);

        const started = await queued('c2');
        await claimOnly(started.id, T0 + 1);
        assert.equal(await store.cancelQueued(started.id, 'too late', T0 + 2), undefined);
        assert.equal((await store.getRun(started.id))?.status, 'starting');
        await rejectsWith(store.cancelQueued('ghost', 'x', T0), NotFoundError);
      });

      it("writes the cancellation's effects with it, and none when the run was not queued", async () => {
        const run = await queued('c3');
        const effects = (id: string) => ({ outbox: [{ target: 'sink:cancel', id, payload: '{"headers":{},"body":"x"}' }] });
        assert.equal((await store.cancelQueued(run.id, 'by user', T0 + 5, effects('first')))?.status, 'cancelled');
        assert.equal(await store.cancelQueued(run.id, 'again', T0 + 6, effects('second')), undefined);
        assert.deepEqual((await store.outboxBatch('sink:cancel', 10)).map((entry) => entry.id), ['first']);
      });
    });

    describe('listRuns', () => {
      const jobs = ['alpha', 'beta', 'gamma'];
      async function seed(): Promise<RunRecord[]> {
        const all: RunRecord[] = [];
        for (let i = 0; i < 23; i++) {
          const job = jobs[i % 3] ?? 'alpha';
          const result = await store.acceptMessage(
            message(`list-${i}`, { correlationId: i < 5 ? 'shared' : `c-${i}`, receivedAt: T0 + i }),
            [job],
            [newRun(job)],
          );
          all.push(...result.runs);
        }
        // A second run on one message, for the messageId filter.
        const extra = await store.acceptMessage(message('list-multi', { receivedAt: T0 + 50 }), ['alpha', 'beta'], [newRun('alpha'), newRun('beta')]);
        all.push(...extra.runs);
        // Put a few in other statuses.
        const claimed = await store.claimRuns({ now: T0 + 2, limit: 3, excludeJobs: [] });
        assert.equal(claimed.length, 3);
        return all.map((run) => claimed.find((c) => c.id === run.id) ?? run);
      }

      async function collect(filter: Omit<RunFilter, 'cursor' | 'limit'>, limit: number): Promise<string[]> {
        const ids: string[] = [];
        let cursor: string | undefined;
        for (let page = 0; page < 100; page++) {
          const result = await store.listRuns({ ...filter, limit, ...(cursor === undefined ? {} : { cursor }) });
          assert.ok(result.runs.length <= limit);
          ids.push(...result.runs.map((r) => r.id));
          if (result.nextCursor === null) return ids;
          assert.equal(result.runs.length, limit, 'only the last page may be short');
          cursor = result.nextCursor;
        }
        assert.fail('pagination did not end');
      }

      const newestFirst = (runs: RunRecord[]): string[] => [...runs].sort((a, b) => b.seq - a.seq).map((r) => r.id);

      it('pages through every run exactly once, newest first', async () => {
        const all = await seed();
        assert.equal(all.length, 25);
        for (const limit of [1, 7, 25, 26, 100]) {
          assert.deepEqual(await collect({}, limit), newestFirst(all), `limit ${limit}`);
        }
        const first = await store.listRuns({ limit: 25 });
        assert.equal(first.nextCursor, null, 'exactly limit rows left: no further page');
      });

      it('filters by job, status, correlationId and messageId, alone and combined', async () => {
        const all = await seed();
        const expect = (pred: (r: RunRecord) => boolean): string[] => newestFirst(all.filter(pred));
        assert.deepEqual(await collect({ job: 'beta' }, 4), expect((r) => r.job === 'beta'));
        assert.deepEqual(await collect({ status: 'starting' }, 2), expect((r) => r.status === 'starting'));
        assert.equal((await collect({ status: 'starting' }, 2)).length, 3);
        assert.deepEqual(await collect({ correlationId: 'shared' }, 2), expect((r) => r.correlationId === 'shared'));
        assert.equal((await collect({ correlationId: 'shared' }, 2)).length, 5);
        assert.deepEqual(await collect({ messageId: 'list-multi' }, 1), expect((r) => r.messageId === 'list-multi'));
        assert.equal((await collect({ messageId: 'list-multi' }, 1)).length, 2);
        assert.deepEqual(
          await collect({ job: 'alpha', status: 'queued', correlationId: 'shared' }, 1),
          expect((r) => r.job === 'alpha' && r.status === 'queued' && r.correlationId === 'shared'),
        );
        assert.deepEqual(await collect({ job: 'nope' }, 5), []);
        assert.deepEqual(await collect({ status: 'succeeded' }, 5), []);
      });

      it('rejects invalid cursors, limits and statuses with InvalidInputError', async () => {
        await seed();
        const valid = (await store.listRuns({ limit: 2 })).nextCursor;
        assert.ok(valid !== null);
        assert.equal((await store.listRuns({ limit: 2, cursor: valid })).runs.length, 2);
        const mangled = [`${valid}!!`, `${valid}==`, `x${valid}`, valid.slice(1)];
        for (const cursor of ['', 'not a cursor!', '%%%', Buffer.from('abc').toString('base64url'), Buffer.from('-1').toString('base64url'), ...mangled]) {
          await rejectsWith(store.listRuns({ limit: 5, cursor }), InvalidInputError);
        }
        await rejectsWith(store.listRuns({ limit: 0 }), InvalidInputError);
        await rejectsWith(store.listRuns({ limit: 1.5 }), InvalidInputError);
        await rejectsWith(store.listRuns({ limit: 5, status: 'bogus' as RunStatus }), InvalidInputError);
      });
    });

    describe('logs, activeRuns, nextAvailableAt, stats', () => {
      it('keeps one log per attempt; a log for an attempt already recorded replaces it', async () => {
        const run = await queued('logs', T0, { maxAttempts: 2 });
        await claimOnly(run.id, T0 + 1);
        await store.finishAttempt(run.id, failed(T0 + 2, { retryAt: T0 + 3, log: { attempt: 1, text: 'first', droppedBytes: 0, totalBytes: 5 } }));
        await claimOnly(run.id, T0 + 3);
        await store.finishAttempt(run.id, {
          status: 'succeeded', exitCode: 0, reason: null, finishedAt: T0 + 4,
          log: { attempt: 2, text: 'head…tail', droppedBytes: 1000, totalBytes: 1009 },
        });
        assert.deepEqual(await store.getLogs(run.id), [
          { runId: run.id, attempt: 1, text: 'first', droppedBytes: 0, totalBytes: 5 },
          { runId: run.id, attempt: 2, text: 'head…tail', droppedBytes: 1000, totalBytes: 1009 },
        ]);
        await store.retryRun(run.id, T0 + 5);
        await claimOnly(run.id, T0 + 5);
        await store.finishAttempt(run.id, { status: 'failed', exitCode: 1, reason: null, finishedAt: T0 + 6, log: { attempt: 2, text: 'rewritten', droppedBytes: 0, totalBytes: 9 } });
        assert.equal((await store.getLogs(run.id))[1]?.text, 'rewritten');
        assert.equal((await store.getLogs(run.id)).length, 2);
        assert.deepEqual(await store.getLogs('ghost'), []);
      });

      it('requeues a claimed run that never started, its attempt uncounted and its place kept', async () => {
        const first = await queued('unstarted-1', T0, { priority: 5 });
        const second = await queued('unstarted-2', T0 + 1, { priority: 5 });
        const [claimed] = await store.claimRuns({ now: T0 + 2, limit: 1, excludeJobs: [] });
        assert.equal(claimed?.id, first.id);
        assert.equal(claimed?.attempts, 1);
        const requeued = await store.requeueUnstarted(first.id);
        assert.equal(requeued.status, 'queued');
        assert.equal(requeued.attempts, 0);
        assert.equal(requeued.availableAt, T0);
        assert.equal(requeued.handle, null);
        assert.deepEqual((await store.claimRuns({ now: T0 + 3, limit: 2, excludeJobs: [] })).map((r) => [r.id, r.attempts]), [
          [first.id, 1],
          [second.id, 1],
        ]);
        await store.markRunning(first.id, 'pid:1', T0 + 4);
        await rejectsWith(store.requeueUnstarted(first.id), ConflictError);
        await rejectsWith(store.requeueUnstarted('ghost'), NotFoundError);
      });

      it('reports active runs, the next wake-up and counts', async () => {
        assert.deepEqual(await store.activeRuns(), []);
        assert.equal(await store.nextAvailableAt(), undefined);
        assert.deepEqual(await store.stats(), { queued: 0, active: 0 });

        const a = await queued('a', T0);
        const b = await queued('b', T0 + 1);
        const c = await queued('c', T0 + 2);
        const d = await queued('d', T0 + 3);
        const later = await queued('later', T0 + 5000);
        assert.equal(await store.nextAvailableAt(), T0);
        assert.deepEqual(await store.stats(), { queued: 5, active: 0 });

        const claimed = await store.claimRuns({ now: T0 + 2, limit: 3, excludeJobs: [] });
        assert.deepEqual(claimed.map((r) => r.id), [a.id, b.id, c.id]);
        await store.markRunning(b.id, 'pb', T0 + 3);
        await store.finishAttempt(c.id, { status: 'succeeded', exitCode: 0, reason: null, finishedAt: T0 + 4, log: null });
        assert.deepEqual((await store.activeRuns()).map((r) => [r.id, r.status]), [[a.id, 'starting'], [b.id, 'running']]);
        assert.equal(await store.nextAvailableAt(), T0 + 3);
        assert.deepEqual(await store.stats(), { queued: 2, active: 2 });

        await store.cancelQueued(d.id, 'x', T0 + 5);
        assert.equal(await store.nextAvailableAt(), T0 + 5000);
        await store.cancelQueued(later.id, 'x', T0 + 5);
        assert.equal(await store.nextAvailableAt(), undefined);
        assert.deepEqual(await store.stats(), { queued: 0, active: 2 });
      });
    });

    describe('outputs, steps and transition effects', () => {
      it('keeps an attempt output and steps, an invalid output as an error, and clears both on the next attempt', async () => {
        const run = await queued('out', T0, { maxAttempts: 2 });
        await claimOnly(run.id, T0 + 1);
        const steps = [
          { name: 'build', status: 'succeeded' as const, exitCode: 0, durationMs: 5, continueOnError: false },
          { name: 'test', status: 'failed' as const, exitCode: 2, durationMs: 7, continueOnError: false },
        ];
        const retried = await store.finishAttempt(run.id, {
          ...failed(T0 + 2, { retryAt: T0 + 3 }),
          output: { kind: 'invalid', error: 'output is not JSON' },
          steps,
        });
        assert.equal(retried.status, 'queued');
        assert.equal(retried.outputError, 'output is not JSON');
        assert.deepEqual(retried.steps, steps);
        await assertStored(retried);
        const second = await claimOnly(run.id, T0 + 3);
        assert.equal(second.output, null);
        assert.equal(second.outputError, null);
        assert.equal(second.steps, null);
        const done = await store.finishAttempt(run.id, {
          status: 'succeeded',
          exitCode: 0,
          reason: null,
          finishedAt: T0 + 4,
          log: null,
          output: { kind: 'json', value: { files: ['a', 'b'], n: 2 } },
        });
        assert.deepEqual(done.output, { files: ['a', 'b'], n: 2 });
        assert.equal(done.outputError, null);
        await assertStored(done);
        const listed = await store.listRuns({ job: 'out', limit: 5 });
        assert.deepEqual(listed.runs[0]?.output, { files: ['a', 'b'], n: 2 });
      });

      it('writes outbox entries with the transition that brings them, and none for a refused one', async () => {
        const run = await queued('events');
        await claimOnly(run.id, T0 + 1);
        await store.markRunning(run.id, 'h', T0 + 2, { outbox: [{ target: 'sink:a', id: 'e1', payload: '{"n":1}' }] });
        await store.finishAttempt(run.id, {
          status: 'succeeded',
          exitCode: 0,
          reason: null,
          finishedAt: T0 + 3,
          log: null,
          effects: { outbox: [{ target: 'sink:a', id: 'e2', payload: '{"n":2}' }, { target: 'sink:b', id: 'e3', payload: '{}' }] },
        });
        // Refused (already final): its entries are not written.
        await rejectsWith(
          store.finishAttempt(run.id, { ...failed(T0 + 4), effects: { outbox: [{ target: 'sink:a', id: 'never', payload: '{}' }] } }),
          ConflictError,
        );
        await rejectsWith(store.markRunning(run.id, 'h', T0 + 4, { outbox: [{ target: 'sink:a', id: 'never2', payload: '{}' }] }), ConflictError);
        assert.deepEqual([...(await store.outboxPending())].sort(), [['sink:a', 2], ['sink:b', 1]]);
        const batch = await store.outboxBatch('sink:a', 10);
        assert.deepEqual(batch.map((entry) => [entry.id, entry.payload, entry.attempts, entry.lastError]), [
          ['e1', '{"n":1}', 0, null],
          ['e2', '{"n":2}', 0, null],
        ]);
        assert.equal(batch[0]?.createdAt, T0 + 2);
        assert.ok((batch[0]?.seq ?? 0) < (batch[1]?.seq ?? 0), 'oldest first');
        const first = batch[0];
        assert.ok(first);
        await store.outboxFailed(first.seq, 'connection refused');
        await store.outboxFailed(first.seq, 'connection refused again');
        const again = await store.outboxBatch('sink:a', 1);
        assert.deepEqual(again.map((entry) => [entry.id, entry.attempts, entry.lastError]), [['e1', 2, 'connection refused again']]);
        await store.outboxDelete(batch.map((entry) => entry.seq));
        assert.deepEqual(await store.outboxBatch('sink:a', 10), []);
        assert.deepEqual([...(await store.outboxPending())], [['sink:b', 1]]);
      });

      it('trims a target to its newest entries', async () => {
        const run = await queued('trim');
        await claimOnly(run.id, T0 + 1);
        const outbox = Array.from({ length: 5 }, (_, i) => ({ target: 'sink:t', id: `t${i}`, payload: '{}' }));
        await store.markRunning(run.id, 'h', T0 + 2, { outbox: [...outbox, { target: 'sink:other', id: 'o', payload: '{}' }] });
        assert.equal(await store.outboxTrim('sink:t', 2), 3);
        assert.deepEqual((await store.outboxBatch('sink:t', 10)).map((entry) => entry.id), ['t3', 't4']);
        assert.equal(await store.outboxTrim('sink:t', 2), 0);
        assert.deepEqual((await store.outboxBatch('sink:other', 10)).map((entry) => entry.id), ['o']);
        await rejectsWith(store.outboxTrim('sink:t', 0), InvalidInputError);
      });

      it('records chained messages and their runs with the end of an attempt, once', async () => {
        const run = await queued('parent');
        await claimOnly(run.id, T0 + 1);
        const chained = message(`${run.id}.then.0`, { source: 'chain', topic: 'parent', body: { file: 'a' }, correlationId: 'corr-root', receivedAt: T0 + 3 });
        const child = newRun('child');
        await store.finishAttempt(run.id, {
          status: 'succeeded',
          exitCode: 0,
          reason: null,
          finishedAt: T0 + 3,
          log: null,
          effects: { messages: [{ message: chained, runs: [child] }] },
        });
        const stored = await store.getMessage('chain', chained.id);
        assert.deepEqual(stored?.body, { file: 'a' });
        assert.deepEqual(stored?.matchedJobs, ['child']);
        const created = await store.getRun(child.id);
        assert.equal(created?.status, 'queued');
        assert.equal(created?.correlationId, 'corr-root');
        assert.equal(created?.source, 'chain');
        assert.deepEqual(await store.stats(), { queued: 1, active: 0 });
        // The same chained message again (a second run of the chain's end): nothing new.
        const other = await queued('parent2');
        assert.deepEqual((await store.claimRuns({ now: T0 + 4, limit: 10, excludeJobs: ['child'] })).map((r) => r.id), [other.id]);
        await store.finishAttempt(other.id, {
          status: 'succeeded',
          exitCode: 0,
          reason: null,
          finishedAt: T0 + 5,
          log: null,
          effects: { messages: [{ message: chained, runs: [newRun('child')] }] },
        });
        assert.deepEqual(await store.stats(), { queued: 1, active: 0 });
        assert.deepEqual((await store.listRuns({ job: 'child', limit: 5 })).runs.map((r) => r.id), [child.id]);
      });
    });
  });
}
