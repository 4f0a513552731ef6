/**
 * The dispatcher's slot and ordering rules (see the notes at the top of dispatch/dispatcher.ts),
 * on a real SQLite store whose writes a test can hold back, with an executor whose attempts end
 * when the test says so.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { compileConfig } from '../src/config/load.js';
import type { CompiledConfig } from '../src/config/types.js';
import type { RunRecord } from '../src/core/run.js';
import { Backlog } from '../src/dispatch/backlog.js';
import { Dispatcher } from '../src/dispatch/dispatcher.js';
import type { Attempt, AttemptResult, Executor, RecoveredAttempt, RunSpec, StopReason } from '../src/executors/executor.js';
import { createLogger } from '../src/log.js';
import { openSqliteStore, type SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { AttemptEnd, ClaimRequest, Store } from '../src/store/store.js';
import { eventually } from './support/eventually.js';
import { tempDir } from './support/harness.js';

const EMPTY_LOG = { text: '', droppedBytes: 0, totalBytes: 0 };

/** An open gate lets calls through; a closed one holds them until it opens. */
class Gate {
  private waiters: (() => void)[] = [];
  private open = true;
  close(): void {
    this.open = false;
  }
  release(): void {
    this.open = true;
    for (const waiter of this.waiters.splice(0)) waiter();
  }
  pass(): Promise<void> {
    return this.open ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }
  get held(): number {
    return this.waiters.length;
  }
}

/** The real store, with claims and finishes that wait for their gate before they are written. */
function gatedStore(store: SqliteStore, gates: { claim: Gate; finish: Gate }): Store {
  return {
    acceptMessage: (message, matchedJobs, runs) => store.acceptMessage(message, matchedJobs, runs),
    getMessage: (source, id) => store.getMessage(source, id),
    getRun: (id) => store.getRun(id),
    listRuns: (filter) => store.listRuns(filter),
    claimRuns: async (request: ClaimRequest): Promise<RunRecord[]> => {
      await gates.claim.pass();
      return store.claimRuns(request);
    },
    markRunning: (id, handle, startedAt, effects) => store.markRunning(id, handle, startedAt, effects),
    finishAttempt: async (id: string, end: AttemptEnd): Promise<RunRecord> => {
      await gates.finish.pass();
      return store.finishAttempt(id, end);
    },
    cancelQueued: (id, reason, now, effects) => store.cancelQueued(id, reason, now, effects),
    retryRun: (id, now) => store.retryRun(id, now),
    requeueUnstarted: (id) => store.requeueUnstarted(id),
    activeRuns: () => store.activeRuns(),
    nextAvailableAt: () => store.nextAvailableAt(),
    getLogs: (runId) => store.getLogs(runId),
    outboxBatch: (target, limit) => store.outboxBatch(target, limit),
    outboxDelete: (seqs) => store.outboxDelete(seqs),
    outboxFailed: (seq, error) => store.outboxFailed(seq, error),
    outboxPending: () => store.outboxPending(),
    outboxTrim: (target, keep) => store.outboxTrim(target, keep),
    stats: () => store.stats(),
    close: () => store.close(),
  };
}

/** Retries `assertion` until it passes (or 10 s are over). */
function until(what: string, assertion: () => Promise<void> | void): Promise<true> {
  return eventually(what, async () => {
    await assertion();
    return true as const;
  }, 10_000);
}

interface ControlledAttempt {
  readonly spec: RunSpec;
  readonly stops: StopReason[];
  end(result?: AttemptResult): void;
}

/** Attempts that run until the test ends them. */
class ControlledExecutor implements Executor {
  readonly type = 'controlled';
  readonly started: ControlledAttempt[] = [];
  private running = 0;
  maxRunning = 0;

  constructor(readonly name: string) {}

  async start(spec: RunSpec): Promise<Attempt> {
    let finish!: (result: AttemptResult) => void;
    const done = new Promise<AttemptResult>((resolve) => (finish = resolve));
    const stops: StopReason[] = [];
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    const end = (result: AttemptResult = { kind: 'exited', exitCode: 0, log: EMPTY_LOG }): void => {
      this.running--;
      finish(result);
    };
    this.started.push({ spec, stops, end });
    return { handle: `controlled:${spec.runId}`, done, stop: (reason) => stops.push(reason), readLog: async () => EMPTY_LOG };
  }

  async recover(): Promise<RecoveredAttempt> {
    return { kind: 'lost', reason: 'controlled attempts do not survive' };
  }

  async close(): Promise<void> {}
}

interface Setup {
  readonly dispatcher: Dispatcher;
  readonly store: SqliteStore;
  readonly executor: ControlledExecutor;
  readonly gates: { claim: Gate; finish: Gate };
  /** Records `count` messages for `job` and wakes the dispatcher; returns their run ids. */
  enqueue(job: string, count: number): Promise<string[]>;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(yaml: string): Promise<Setup> {
  const dir = tempDir();
  const config: CompiledConfig = compileConfig(yaml, path.join(dir, 'jobwire.yaml'), {});
  const store = openSqliteStore({ path: path.join(dir, 'jobwire.db') });
  const executor = new ControlledExecutor('controlled');
  const gates = { claim: new Gate(), finish: new Gate() };
  const dispatcher = new Dispatcher({
    store: gatedStore(store, gates),
    jobs: new Map(config.jobs.map((job) => [job.name, job])),
    executors: new Map([['controlled', executor]]),
    concurrency: config.dispatcher.concurrency,
    backlog: new Backlog(config.dispatcher.maxQueuedRuns),
    logger: createLogger('silent'),
    processEnv: {},
  });
  cleanups.push(async () => {
    gates.claim.release();
    gates.finish.release();
    for (const attempt of executor.started) attempt.end();
    await dispatcher.drain(1000);
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await dispatcher.start();
  let counter = 0;
  return {
    dispatcher,
    store,
    executor,
    gates,
    async enqueue(job, count) {
      const ids: string[] = [];
      for (let i = 0; i < count; i++) {
        const n = counter++;
        const id = `run-${String(n).padStart(4, '0')}`;
        const message = { id: `m-${n}`, source: 'http', topic: 't', headers: {}, body: {}, correlationId: `c-${n}`, receivedAt: Date.now() };
        await store.acceptMessage(message, [job], [{ id, job, priority: 0, maxAttempts: 1, executor: 'controlled' }]);
        ids.push(id);
      }
      dispatcher.enqueued(count);
      return ids;
    },
  };
}

const CONFIG = (concurrency: number, jobConcurrency = ''): string => `
dispatcher: { concurrency: ${concurrency} }
executors:
  controlled: { type: process }
jobs:
  - name: work
    on: [{ source: http }]
    executor: controlled
    command: ["true"]
${jobConcurrency}
`;

describe('dispatcher slots', () => {
  it('gives the slot to the next run when an attempt ends, before its end is recorded', async () => {
    const { executor, gates, store, enqueue } = await setup(CONFIG(1));
    const [first, second] = await enqueue('work', 2);
    await until('the first attempt', () => assert.equal(executor.started.length, 1));
    gates.finish.close();
    executor.started[0]?.end();
    // The second run starts while the first one's end waits to be written.
    await until('the second attempt', () => assert.equal(executor.started.length, 2));
    assert.equal(executor.started[1]?.spec.runId, second);
    assert.equal(gates.finish.held, 1);
    assert.equal((await store.getRun(first ?? ''))?.status, 'running');
    assert.equal(executor.maxRunning, 1, 'never two attempts executing at once');
    gates.finish.release();
    await until('the first run recorded', async () => assert.equal((await store.getRun(first ?? ''))?.status, 'succeeded'));
  });

  it('records how an attempt really ended when a cancel comes after its end', async () => {
    const { dispatcher, executor, gates, enqueue } = await setup(CONFIG(1));
    const [id] = await enqueue('work', 1);
    await until('the first attempt', () => assert.equal(executor.started.length, 1));
    gates.finish.close();
    executor.started[0]?.end({ kind: 'exited', exitCode: 3, log: EMPTY_LOG });
    await until('the end waiting to be written', () => assert.equal(gates.finish.held, 1));
    const cancelled = dispatcher.cancel(id ?? '');
    gates.finish.release();
    const run = await cancelled;
    assert.equal(run.status, 'failed');
    assert.equal(run.exitCode, 3);
    assert.deepEqual(executor.started[0]?.stops, [], 'nothing was left to stop');
  });

  it('writes running before the end even when the attempt is over at once', async () => {
    const { executor, store, enqueue } = await setup(CONFIG(4));
    const [id] = await enqueue('work', 1);
    await until('the first attempt', () => assert.equal(executor.started.length, 1));
    executor.started[0]?.end();
    await until('the run recorded', async () => assert.equal((await store.getRun(id ?? ''))?.status, 'succeeded'));
    const run = await store.getRun(id ?? '');
    assert.equal(run?.handle, `controlled:${id}`);
    assert.ok(run?.startedAt !== null && run?.finishedAt !== null && (run?.startedAt ?? 0) <= (run?.finishedAt ?? 0));
  });

  it("never starts more of a job's runs than its limit, while claims overlap", async () => {
    const { executor, gates, enqueue } = await setup(CONFIG(10, '    concurrency: 2'));
    gates.claim.close();
    // Several wakes while claims are held: each may send a claim for the slots left.
    for (let i = 0; i < 4; i++) await enqueue('work', 3);
    gates.claim.release();
    const ended = new Set<ControlledAttempt>();
    await until('all twelve runs', () => {
        // End whatever runs, a few at a time, until all twelve ran.
        for (const attempt of executor.started) {
          if (!ended.has(attempt)) {
            ended.add(attempt);
            attempt.end();
          }
        }
        assert.equal(executor.started.length, 12);
    });
    assert.equal(executor.maxRunning, 2);
  });
});
