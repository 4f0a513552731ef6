import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { RetryableError } from '../src/core/errors.js';
import type { Executor } from '../src/executors/executor.js';
import { startHarness, tempDir } from './support/harness.js';
import { isRunning } from './support/processes.js';


describe('dispatching runs', () => {
  it('times out a run and kills its whole process group', async () => {
    const pids = path.join(tempDir(), 'pids');
    const h = await startHarness(
      `
jobs:
  - name: slow
    on: [{ source: http }]
    timeout: 500ms
    env: { PIDS: { fromEnv: PIDS_FILE } }
    script: |
      sleep 60 & echo $! > "$PIDS"
      wait
`,
      { env: { PIDS_FILE: pids } },
    );
    try {
      const posted = await h.post('/v1/messages', { body: {} });
      const run = await h.waitForRun(posted.json.runs[0].id);
      assert.equal(run.status, 'timed_out');
      assert.equal(run.reason, 'timed out after 500ms');
      const grandchild = Number(readFileSync(pids, 'utf8').trim());
      assert.ok(grandchild > 0);
      assert.equal(isRunning(grandchild), false, 'the background sleep survived the timeout');
    } finally {
      await h.close();
    }
  });

  it('cancels a running run, and a queued one', async () => {
    const h = await startHarness(`
dispatcher: { concurrency: 1 }
jobs:
  - name: sleepy
    on: [{ source: http }]
    script: sleep 60
`);
    try {
      const first = await h.post('/v1/messages', { id: 'a', body: {} });
      const second = await h.post('/v1/messages', { id: 'b', body: {} });
      await h.waitForRun(first.json.runs[0].id, ['running']);
      const queued = await h.post(`/v1/runs/${second.json.runs[0].id}/cancel`);
      assert.equal(queued.status, 202);
      assert.equal(queued.json.status, 'cancelled');
      const running = await h.post(`/v1/runs/${first.json.runs[0].id}/cancel`);
      assert.equal(running.status, 202);
      assert.equal(running.json.status, 'cancelled');
      assert.equal(running.json.reason, 'cancelled by request');
    } finally {
      await h.close();
    }
  });

  it('shows the output of a running attempt, live', async () => {
    const h = await startHarness(`
jobs:
  - name: talker
    on: [{ source: http }]
    script: echo hello; sleep 60
`);
    try {
      const posted = await h.post('/v1/messages', { body: {} });
      const id = posted.json.runs[0].id;
      await h.waitForRun(id, ['running']);
      const deadline = Date.now() + 10_000;
      let logs = await h.get(`/v1/runs/${id}/logs`);
      while (logs.json.attempts[0]?.text !== 'hello\n' && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        logs = await h.get(`/v1/runs/${id}/logs`);
      }
      assert.deepEqual(logs.json.attempts, [{ attempt: 1, text: 'hello\n', droppedBytes: 0, totalBytes: 6, live: true }]);
      assert.equal(logs.json.status, 'running');
      await h.post(`/v1/runs/${id}/cancel`);
    } finally {
      await h.close();
    }
  });

  it('retries a failing run with backoff until it succeeds, and gives up after the limit', async () => {
    const counter = path.join(tempDir(), 'count');
    const h = await startHarness(
      `
jobs:
  - name: flaky
    on: [{ source: http, topic: flaky }]
    retries: { limit: 3, backoff: 50ms, maxBackoff: 200ms }
    env: { COUNTER: { fromEnv: COUNTER_FILE } }
    script: |
      n=$(cat "$COUNTER" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$COUNTER"
      echo "attempt $JOBWIRE_ATTEMPT"
      [ "$n" -ge 3 ]
  - name: broken
    on: [{ source: http, topic: broken }]
    retries: { limit: 2, backoff: 20ms }
    script: exit 7
`,
      { env: { COUNTER_FILE: counter } },
    );
    try {
      const flaky = await h.post('/v1/messages', { topic: 'flaky', body: {} });
      const run = await h.waitForRun(flaky.json.runs[0].id);
      assert.equal(run.status, 'succeeded');
      assert.equal(run.attempts, 3);
      const logs = await h.get(`/v1/runs/${run.id}/logs`);
      assert.deepEqual(logs.json.attempts.map((a: { attempt: number; text: string }) => [a.attempt, a.text]), [
        [1, 'attempt 1\n'],
        [2, 'attempt 2\n'],
        [3, 'attempt 3\n'],
      ]);
      const broken = await h.post('/v1/messages', { topic: 'broken', body: {} });
      const failed = await h.waitForRun(broken.json.runs[0].id);
      assert.equal(failed.status, 'failed');
      assert.equal(failed.attempts, 3);
      assert.equal(failed.exitCode, 7);
      assert.equal(failed.reason, 'exit code 7');
      const retried = await h.post(`/v1/runs/${failed.id}/retry`);
      assert.equal(retried.status, 202);
      assert.equal(retried.json.status, 'queued');
      const again = await h.waitForRun(failed.id);
      assert.equal(again.attempts, 4);
      assert.equal(again.status, 'failed');
    } finally {
      await h.close();
    }
  });

  it('never runs more than a job\'s concurrency at once', async () => {
    const journal = path.join(tempDir(), 'journal');
    const h = await startHarness(
      `
dispatcher: { concurrency: 8 }
jobs:
  - name: serial
    on: [{ source: http }]
    concurrency: 2
    env: { JOURNAL: { fromEnv: JOURNAL_FILE } }
    script: |
      echo "start $JOBWIRE_RUN_ID" >> "$JOURNAL"; sleep 0.1; echo "end $JOBWIRE_RUN_ID" >> "$JOURNAL"
`,
      { env: { JOURNAL_FILE: journal } },
    );
    try {
      const ids: string[] = [];
      for (let i = 0; i < 8; i++) ids.push((await h.post('/v1/messages', { body: { i } })).json.runs[0].id);
      for (const id of ids) assert.equal((await h.waitForRun(id)).status, 'succeeded');
      let running = 0;
      let peak = 0;
      for (const line of readFileSync(journal, 'utf8').trim().split('\n')) {
        running += line.startsWith('start') ? 1 : -1;
        peak = Math.max(peak, running);
      }
      assert.equal(peak, 2);
    } finally {
      await h.close();
    }
  });

  it('starts higher priority runs first, then oldest', async () => {
    const journal = path.join(tempDir(), 'journal');
    const h = await startHarness(
      `
dispatcher: { concurrency: 1 }
jobs:
  - name: blocker
    on: [{ source: http, topic: block }]
    script: sleep 0.5
  - name: low
    on: [{ source: http, topic: work }]
    priority: 1
    env: { JOURNAL: { fromEnv: JOURNAL_FILE } }
    script: echo "low $JOBWIRE_MESSAGE_ID" >> "$JOURNAL"
  - name: high
    on: [{ source: http, topic: urgent }]
    priority: 10
    env: { JOURNAL: { fromEnv: JOURNAL_FILE } }
    script: echo "high $JOBWIRE_MESSAGE_ID" >> "$JOURNAL"
`,
      { env: { JOURNAL_FILE: journal } },
    );
    try {
      const blocker = await h.post('/v1/messages', { topic: 'block', body: {} });
      await h.waitForRun(blocker.json.runs[0].id, ['running']);
      const ids: string[] = [];
      for (const [id, topic] of [['l1', 'work'], ['h1', 'urgent'], ['l2', 'work'], ['h2', 'urgent']] as const) {
        ids.push((await h.post('/v1/messages', { id, topic, body: {} })).json.runs[0].id);
      }
      for (const id of ids) await h.waitForRun(id);
      assert.deepEqual(readFileSync(journal, 'utf8').trim().split('\n'), ['high h1', 'high h2', 'low l1', 'low l2']);
    } finally {
      await h.close();
    }
  });

  it('fails a run whose env cannot be resolved, without retrying, and says why', async () => {
    const h = await startHarness(`
jobs:
  - name: needs-host
    on: [{ source: http }]
    retries: 3
    env: { HOST: { jsonpath: "$.deployment.uri" } }
    command: ["true"]
`);
    try {
      const posted = await h.post('/v1/messages', { body: { other: 1 } });
      const run = await h.waitForRun(posted.json.runs[0].id);
      assert.equal(run.status, 'failed');
      assert.equal(run.attempts, 1);
      assert.equal(run.reason, 'env HOST: $.deployment.uri matched nothing in the message');
    } finally {
      await h.close();
    }
  });

  it('leaves retries to a runtime that retries by itself, but retries a start that never reached it', async () => {
    const starts: number[] = [];
    const runtime: Executor = {
      name: 'runtime',
      type: 'test-runtime',
      retriesInRuntime: true,
      async start(spec) {
        starts.push(spec.attempt);
        if (starts.length === 1) throw new RetryableError('API server unavailable');
        const log = { text: 'pod 3 of 3 failed\n', droppedBytes: 0, totalBytes: 18 };
        return { handle: `ns/${spec.job}`, done: Promise.resolve({ kind: 'exited', exitCode: 3, log }), stop: () => undefined, readLog: async () => log };
      },
      async recover() {
        return { kind: 'lost', reason: 'gone' };
      },
      async close() {},
    };
    const h = await startHarness(
      `
executors:
  runtime: { type: process }   # replaced by the test's executor of the same name
jobs:
  - name: in-runtime
    on: [{ source: http }]
    executor: runtime
    retries: { limit: 3, backoff: 10ms }
    command: ["true"]
`,
      { extra: { extraExecutors: [runtime] } },
    );
    try {
      const posted = await h.post('/v1/messages', { body: {} });
      const run = await h.waitForRun(posted.json.runs[0].id);
      assert.equal(run.status, 'failed');
      assert.equal(run.exitCode, 3);
      assert.deepEqual(starts, [1, 2], 'the start that threw RetryableError is retried, the failed attempt is not');
    } finally {
      await h.close();
    }
  });
});
