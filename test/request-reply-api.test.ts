/**
 * Request/reply over the HTTP API: `POST /v1/messages?wait=`, `GET /v1/runs/:id?wait=`, the
 * 429 of a full backlog and the `GET /v1/events` stream, against a real jobwire (process
 * executor, SQLite) on an ephemeral port.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { holdGate } from './support/hold-gate.js';
import { startHarness, type Harness } from './support/harness.js';
import { openEvents } from './support/sse.js';

const gate = holdGate();

const CONFIG = `
dispatcher: { maxQueuedRuns: 3 }
jobs:
  - name: answer
    on: [{ source: http, topic: answer }]
    env: { N: "\${{ string(message.body.n) }}" }
    script: |
      echo "computing $N"
      printf '{"double": %s}' "$((N * 2))" > "$JOBWIRE_OUTPUT"
  - name: audit
    on: [{ source: http, topic: answer }]
    command: ["true"]
  - name: slow
    on: [{ source: http, topic: slow }]
    concurrency: 1
    command: ${gate.command}
  - name: broken
    on: [{ source: http, topic: broken }]
    script: echo nope; exit 3
`;

describe('request/reply over the HTTP API', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness(CONFIG);
  });
  after(async () => {
    gate.release();
    await h.close();
  });

  it('?wait= answers 200 with every run result once all are final', async () => {
    const { status, json } = await h.post('/v1/messages?wait=20s', { topic: 'answer', body: { n: 21 } });
    assert.equal(status, 200);
    assert.equal(json.complete, true);
    const byJob = Object.fromEntries(json.runs.map((run: { job: string }) => [run.job, run]));
    assert.equal(byJob.answer.status, 'succeeded');
    assert.equal(byJob.answer.exitCode, 0);
    assert.deepEqual(byJob.answer.output, { double: 42 });
    assert.equal(byJob.audit.status, 'succeeded');
  });

  it('a failed run is a result too: 200 with its exit code', async () => {
    const { status, json } = await h.post('/v1/messages?wait=20s', { topic: 'broken', body: {} });
    assert.equal(status, 200);
    assert.equal(json.runs[0].status, 'failed');
    assert.equal(json.runs[0].exitCode, 3);
  });

  it('a message that matches no job answers 200 at once with no runs', async () => {
    const { status, json } = await h.post('/v1/messages?wait=20s', { topic: 'nothing-here', body: {} });
    assert.equal(status, 200);
    assert.deepEqual(json.runs, []);
    assert.equal(json.complete, true);
  });

  it('a wait that runs out answers 202 with Location; GET ?wait= then long-polls the run to its end', async () => {
    gate.hold();
    const response = await fetch(`${h.url}/v1/messages?wait=300ms`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ topic: 'slow', body: {} }),
    });
    assert.equal(response.status, 202);
    const json = (await response.json()) as { complete: boolean; runs: { id: string; status: string }[] };
    assert.equal(json.complete, false);
    const run = json.runs[0];
    assert.ok(run !== undefined);
    assert.ok(['queued', 'starting', 'running'].includes(run.status));
    assert.equal(response.headers.get('location'), `/v1/runs/${run.id}`);
    assert.match(response.headers.get('link') ?? '', new RegExp(`</v1/runs/${run.id}>; rel="run"`));

    const stillRunning = await h.get(`/v1/runs/${run.id}?wait=200ms`);
    assert.equal(stillRunning.status, 200);
    assert.ok(!['succeeded', 'failed'].includes(stillRunning.json.status));
    const polled = h.get(`/v1/runs/${run.id}?wait=20s`);
    gate.release();
    const done = await polled;
    assert.equal(done.json.status, 'succeeded');
  });

  it('a waiter on a queued run that is cancelled wakes with the cancellation', async () => {
    gate.hold();
    const first = await h.post('/v1/messages', { topic: 'slow', body: { i: 1 } });
    await h.waitForRun(first.json.runs[0].id, ['running']);
    const waiting = h.post('/v1/messages?wait=30s', { topic: 'slow', body: { i: 2 } });
    const queued = await h.jobwire.store.listRuns({ job: 'slow', status: 'queued', limit: 10 });
    const second = queued.runs[0] ?? (await waitQueued(h));
    await h.post(`/v1/runs/${second.id}/cancel`);
    const answer = await waiting;
    assert.equal(answer.status, 200);
    assert.equal(answer.json.runs[0].status, 'cancelled');
    gate.release();
    await h.waitForRun(first.json.runs[0].id);
  });

  it('a full backlog answers 429 with Retry-After instead of holding the request', async () => {
    gate.hold();
    const first = await h.post('/v1/messages', { topic: 'slow', body: { n: 0 } });
    await h.waitForRun(first.json.runs[0].id, ['running']);
    for (let n = 1; n <= 3; n++) assert.equal((await h.post('/v1/messages', { topic: 'slow', body: { n } })).status, 202);
    const response = await fetch(`${h.url}/v1/messages?wait=10s`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ topic: 'slow', body: { n: 4 } }),
    });
    assert.equal(response.status, 429);
    const retryAfter = Number(response.headers.get('retry-after'));
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    const body = (await response.json()) as { error: string; message: string };
    assert.equal(body.error, 'BackpressureError');
    assert.match(body.message, /maxQueuedRuns is 3/);
    gate.release();
    const runs = await h.jobwire.store.listRuns({ job: 'slow', limit: 50 });
    for (const run of runs.runs) await h.waitForRun(run.id);
    assert.equal((await h.post('/v1/messages', { topic: 'slow', body: { n: 5 } })).status, 202);
  });

  it('two thousand callers long-polling one run are all answered when it ends, and leave nothing behind', async () => {
    gate.hold();
    const posted = await h.post('/v1/messages', { topic: 'slow', body: { many: true } });
    const id = posted.json.runs[0].id as string;
    const callers = Array.from({ length: 2000 }, () => h.get(`/v1/runs/${id}?wait=60s`));
    // Every caller is waiting (its watcher registered) before the run may end.
    await eventuallyTrue(() => h.jobwire.feed.listeners.runs === 1 && waitingCallers(h) >= 2000);
    gate.release();
    const answers = await Promise.all(callers);
    assert.ok(answers.every((answer) => answer.status === 200 && answer.json.status === 'succeeded'));
    assert.deepEqual(h.jobwire.feed.listeners, { runs: 0, watchers: 0, streams: 0 });
  });

  it('rejects a bad wait as JSON 400', async () => {
    for (const wait of ['soon', '6m']) {
      const { status, json } = await h.post(`/v1/messages?wait=${wait}`, { topic: 'answer', body: { n: 1 } });
      assert.equal(status, 400);
      assert.equal(json.error, 'InvalidInputError');
      assert.match(json.message, /wait/);
    }
    const run = await h.get('/v1/runs/nope?wait=xyz');
    assert.equal(run.status, 400);
  });

  it('GET /v1/events streams a run queued, started and finished, filtered by job', async () => {
    const events = await openEvents(`${h.url}/v1/events?job=answer`);
    try {
      assert.equal(events.status, 200);
      const posted = await h.post('/v1/messages', { topic: 'answer', body: { n: 2 } });
      const answerRun = posted.json.runs.find((run: { job: string }) => run.job === 'answer').id;
      const seen: string[] = [];
      while (seen.at(-1) !== 'run.finished') {
        const event = await events.next();
        assert.ok(event !== undefined, 'the stream ended early');
        const data = JSON.parse(event.data) as { type: string; run: { id: string; job: string; output: unknown } };
        assert.equal(data.type, event.event);
        assert.equal(data.run.job, 'answer', 'the filter lets only job answer through');
        assert.equal(data.run.id, answerRun);
        if (event.event === 'run.finished') assert.deepEqual(data.run.output, { double: 4 });
        seen.push(event.event);
      }
      assert.deepEqual(seen, ['run.queued', 'run.started', 'run.finished']);
    } finally {
      events.close();
    }
  });

  it('GET /v1/events: types filter, and unknown types or jobs are a 400', async () => {
    const events = await openEvents(`${h.url}/v1/events?types=run.finished&correlationId=corr-sse-1`);
    try {
      await h.post('/v1/messages', { topic: 'answer', headers: { 'correlation-id': 'other' }, body: { n: 5 } });
      await h.post('/v1/messages', { topic: 'answer', headers: { 'correlation-id': 'corr-sse-1' }, body: { n: 3 } });
      const finished = [await events.next(), await events.next()];
      for (const event of finished) {
        assert.equal(event?.event, 'run.finished');
        assert.equal((JSON.parse(event.data) as { run: { correlationId: string } }).run.correlationId, 'corr-sse-1');
      }
    } finally {
      events.close();
    }
    assert.equal((await h.get('/v1/events?types=run.exploded')).status, 400);
    assert.equal((await h.get('/v1/events?job=ghost')).status, 400);
  });
});

describe('held requests and shutdown', () => {
  it('a stop answers waiting callers and ends event streams instead of hanging on them', async () => {
    const h = await startHarness(CONFIG);
    gate.hold();
    try {
      const events = await openEvents(`${h.url}/v1/events`);
      const waiting = h.post('/v1/messages?wait=60s', { topic: 'slow', body: {} });
      await events.next();
      const started = Date.now();
      const stopping = h.jobwire.stop(200);
      const answer = await waiting;
      assert.equal(answer.status, 202);
      assert.equal(answer.json.complete, false);
      for (let event = await events.next(); event !== undefined; event = await events.next());
      await stopping;
      assert.ok(Date.now() - started < 30_000);
    } finally {
      gate.release();
    }
  });
});

async function eventuallyTrue(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met within 30 s');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function waitingCallers(h: Harness): number {
  return h.jobwire.feed.listeners.watchers;
}

async function waitQueued(h: Harness): Promise<{ id: string }> {
  for (;;) {
    const queued = await h.jobwire.store.listRuns({ job: 'slow', status: 'queued', limit: 10 });
    const run = queued.runs[0];
    if (run !== undefined) return run;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
