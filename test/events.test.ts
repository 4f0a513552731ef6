/**
 * Lifecycle CloudEvents through a webhook sink, Keptn mode, and `then: run` chains, against a
 * real jobwire (real processes, real SQLite) and a real HTTP receiver.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eventually } from './support/eventually.js';
import { holdGate } from './support/hold-gate.js';
import { startHarness, type Harness } from './support/harness.js';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver.js';

function eventsOf(receiver: WebhookReceiver, type: string, runId?: string): Record<string, unknown>[] {
  return receiver.received
    .map((received) => received.event)
    .filter((event) => event['type'] === type && (runId === undefined || (event['data'] as Record<string, unknown>)['runId'] === runId));
}

const gate = holdGate();

describe('lifecycle events to a webhook sink', () => {
  let h: Harness;
  let receiver: WebhookReceiver;
  before(async () => {
    receiver = await startWebhookReceiver();
    h = await startHarness(`
events:
  source: urn:jobwire:test
  logTail: 64
  sinks:
    hook: { webhook: "${receiver.url}", headers: { x-token: secret-1 } }
jobs:
  - name: echo
    on: [{ source: http, topic: echo }]
    env: { TEXT: '\${{ string(message.body.text) }}' }
    script: |
      i=0; while [ $i -lt 50 ]; do echo "line $i of a long log"; i=$((i+1)); done
      echo "$TEXT"
      [ "$TEXT" != fail ] || exit 4
  - name: test-task
    on: [{ source: http, type: "sh.keptn.event.test.triggered" }]
    events: { keptn: true }
    script: echo "testing $JOBWIRE_EVENT_TYPE"; [ "$(cat "$JOBWIRE_MESSAGE" | grep -c '"verdict":"fail"')" = 0 ]
  - name: one-at-a-time
    on: [{ source: http, topic: held }]
    concurrency: 1
    command: ${gate.command}
`);
  });
  after(async () => {
    gate.release();
    await h.close();
    await receiver.close();
  });

  it('sends io.jobwire.run.started and .finished with the run, its correlation id and a bounded log tail', async () => {
    const posted = await h.post('/v1/messages', { id: 'ev-1', topic: 'echo', headers: { 'correlation-id': 'corr-ev-1' }, body: { text: 'fail' } });
    const runId = posted.json.runs[0].id as string;
    const run = await h.waitForRun(runId);
    assert.equal(run.status, 'failed');
    const finished = await eventually('the finished event', () => eventsOf(receiver, 'io.jobwire.run.finished', runId)[0]);
    const started = eventsOf(receiver, 'io.jobwire.run.started', runId)[0];
    assert.ok(started, 'a started event');
    assert.equal(started['specversion'], '1.0');
    assert.equal(started['source'], 'urn:jobwire:test');
    assert.equal(started['subject'], 'echo');
    assert.equal(started['correlationid'], 'corr-ev-1');
    assert.equal(finished['correlationid'], 'corr-ev-1');
    assert.notEqual(started['id'], finished['id']);
    const data = finished['data'] as Record<string, unknown>;
    assert.equal(data['job'], 'echo');
    assert.equal(data['runId'], runId);
    assert.equal(data['attempt'], 1);
    assert.equal(data['status'], 'failed');
    assert.equal(data['exitCode'], 4);
    assert.equal(data['reason'], 'exit code 4');
    assert.equal(data['correlationId'], 'corr-ev-1');
    assert.equal(typeof data['durationMs'], 'number');
    assert.equal(data['output'], null);
    assert.equal(data['logTruncated'], true);
    assert.equal(data['logUrl'], `/v1/runs/${runId}/logs`);
    const tail = String(data['logTail']);
    assert.ok(Buffer.byteLength(tail) <= 64, `the tail is bounded: ${tail.length}`);
    assert.ok(tail.endsWith('fail\n'), tail);
    const delivery = receiver.received.find((received) => received.event['id'] === finished['id']);
    assert.equal(delivery?.headers['content-type'], 'application/cloudevents+json');
    assert.equal(delivery?.headers['x-token'], 'secret-1');
    assert.equal(delivery?.headers['ce-id'], finished['id']);
    // Nothing left waiting.
    await eventually('an empty outbox', async () => {
      const outbox = await h.get('/v1/outbox');
      return outbox.json.targets[0].pending === 0 ? true : undefined;
    });
  });

  it('a queued run that is cancelled sends its .finished event (status cancelled) and no .started', async () => {
    gate.hold();
    const first = await h.post('/v1/messages', { topic: 'held', body: {} });
    await h.waitForRun(first.json.runs[0].id, ['running']);
    const second = await h.post('/v1/messages', { topic: 'held', headers: { 'correlation-id': 'corr-cancel' }, body: {} });
    const runId = second.json.runs[0].id as string;
    assert.equal((await h.post(`/v1/runs/${runId}/cancel`)).status, 202);
    gate.release();
    const finished = await eventually('the finished event of the cancelled run', () => eventsOf(receiver, 'io.jobwire.run.finished', runId)[0]);
    const data = finished['data'] as Record<string, unknown>;
    assert.equal(data['status'], 'cancelled');
    assert.equal(data['reason'], 'cancelled by request');
    assert.equal(finished['correlationid'], 'corr-cancel');
    assert.deepEqual(eventsOf(receiver, 'io.jobwire.run.started', runId), []);
    await h.waitForRun(first.json.runs[0].id);
  });

  it('answers a Keptn task trigger with .started then .finished carrying triggeredid, shkeptncontext and the result', async () => {
    const trigger = (id: string, verdict: string) => ({
      specversion: '1.0',
      id,
      source: 'shipyard-controller',
      type: 'sh.keptn.event.test.triggered',
      shkeptncontext: `ctx-${id}`,
      data: { project: 'sockshop', stage: 'dev', service: 'carts', labels: { team: 'a' }, verdict },
    });
    for (const [id, verdict, result, status] of [
      ['kt-pass', 'pass', 'pass', 'succeeded'],
      ['kt-fail', 'fail', 'fail', 'errored'],
    ] as const) {
      const posted = await h.post('/v1/messages', JSON.stringify(trigger(id, verdict)), { 'content-type': 'application/cloudevents+json' });
      assert.equal(posted.status, 202);
      await h.waitForRun(posted.json.runs[0].id as string);
      const finished = await eventually(`the Keptn .finished of ${id}`, () =>
        receiver.received.map((r) => r.event).find((event) => event['type'] === 'sh.keptn.event.test.finished' && event['triggeredid'] === id),
      );
      const startedIndex = receiver.received.findIndex((r) => r.event['type'] === 'sh.keptn.event.test.started' && r.event['triggeredid'] === id);
      const finishedIndex = receiver.received.findIndex((r) => r.event === finished);
      assert.ok(startedIndex !== -1 && startedIndex < finishedIndex, 'started before finished');
      assert.equal(finished['shkeptncontext'], `ctx-${id}`);
      const data = finished['data'] as Record<string, unknown>;
      assert.equal(data['project'], 'sockshop');
      assert.equal(data['stage'], 'dev');
      assert.equal(data['service'], 'carts');
      assert.deepEqual(data['labels'], { team: 'a' });
      assert.equal(data['result'], result);
      assert.equal(data['status'], status);
      assert.match(String(data['message']), /testing sh\.keptn\.event\.test\.triggered/);
    }
  });
});

describe('a webhook sink that is down', () => {
  it('holds no run back, and delivers every event exactly once after it is back', { timeout: 90_000 }, async () => {
    const receiver = await startWebhookReceiver();
    await receiver.down();
    const h = await startHarness(`
events:
  sinks:
    hook: { webhook: "${receiver.url}", timeout: 2s }
jobs:
  - name: quick
    on: [{ source: http, topic: quick }]
    script: echo ok
`);
    try {
      const began = Date.now();
      const runIds: string[] = [];
      for (let i = 0; i < 20; i++) {
        const posted = await h.post('/v1/messages', { id: `down-${i}`, topic: 'quick', body: {} });
        runIds.push(posted.json.runs[0].id as string);
      }
      for (const id of runIds) assert.equal((await h.waitForRun(id)).status, 'succeeded');
      const ranIn = Date.now() - began;
      const outbox = await h.get('/v1/outbox');
      assert.equal(outbox.json.targets[0].pending, 40, 'every event waits on disk');
      assert.match(String(outbox.json.targets[0].lastError), /POST failed/);
      // Down for 10 s from the first run.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 10_000 - ranIn)));
      await receiver.up();
      await eventually('40 events delivered', () => (new Set(receiver.received.map((r) => r.event['id'])).size === 40 ? true : undefined), 45_000, 100);
      await new Promise((resolve) => setTimeout(resolve, 500));
      const ids = receiver.received.map((r) => String(r.event['id']));
      assert.equal(ids.length, new Set(ids).size, 'none twice');
      for (const id of runIds) {
        assert.equal(eventsOf(receiver, 'io.jobwire.run.started', id).length, 1);
        assert.equal(eventsOf(receiver, 'io.jobwire.run.finished', id).length, 1);
      }
    } finally {
      await h.close();
      await receiver.close();
    }
  });
});

describe('then: run', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness(`
jobs:
  - name: split
    on: [{ source: http, topic: split }]
    script: printf '{"files":["a.csv","b.csv","c.csv"],"batch":"%s"}' "$BATCH" > "$JOBWIRE_OUTPUT"
    env: { BATCH: '\${{ string(message.body.batch) }}' }
    then:
      - forEach: \${{ run.output.files }}
        run: convert
        with: '\${{ {"file": item, "batch": run.output.batch} }}'
      - run: report
      - when: failed
        run: alarm
  - name: convert
    on: [{ source: http, topic: never }]
    env:
      FILE: \${{ message.body.file }}
      DEPTH: \${{ message.headers["jobwire-chain-depth"] }}
    script: echo "convert $FILE at depth $DEPTH"
  - name: report
    on: [{ source: http, topic: never }]
    script: cat "$JOBWIRE_MESSAGE"
  - name: alarm
    on: [{ source: http, topic: never }]
    script: echo alarm
`);
  });
  after(async () => {
    await h.close();
  });

  it('fans out over the output, runs the next jobs once each with the root correlation id, and skips when: failed', async () => {
    const posted = await h.post('/v1/messages', { id: 'chain-1', topic: 'split', headers: { 'correlation-id': 'root-7' }, body: { batch: 'b7' } });
    const split = await h.waitForRun(posted.json.runs[0].id as string);
    if (split.outputError !== null) assert.fail(`output error: ${split.outputError}`);
    const chained = await eventually('4 chained runs finished', async () => {
      const page = await h.get('/v1/runs?correlationId=root-7&limit=50');
      const runs = page.json.runs as { job: string; status: string; id: string }[];
      return runs.length === 5 && runs.every((run) => run.status === 'succeeded') ? runs : undefined;
    });
    assert.deepEqual(chained.map((run) => run.job).sort(), ['convert', 'convert', 'convert', 'report', 'split']);
    const logs = await Promise.all(
      chained.filter((run) => run.job === 'convert').map(async (run) => (await h.get(`/v1/runs/${run.id}/logs?format=text`)).text),
    );
    assert.deepEqual(logs.sort(), ['convert a.csv at depth 1\n', 'convert b.csv at depth 1\n', 'convert c.csv at depth 1\n']);
    const report = chained.find((run) => run.job === 'report');
    const message = JSON.parse((await h.get(`/v1/runs/${report?.id}/logs?format=text`)).text) as { body: unknown; source: string; correlationId: string };
    assert.deepEqual(message.body, { files: ['a.csv', 'b.csv', 'c.csv'], batch: 'b7' }, 'without `with`, the output is the body');
    assert.equal(message.source, 'chain');
    assert.equal(message.correlationId, 'root-7');
  });
});

describe('steps through the API and the finished event', () => {
  it('records each step, serves one step’s log, and reports the steps in .finished', async () => {
    const receiver = await startWebhookReceiver();
    const h = await startHarness(`
events:
  sinks:
    hook: { webhook: "${receiver.url}" }
jobs:
  - name: build
    on: [{ source: http, topic: build }]
    steps:
      - name: compile
        script: echo compiling
      - name: lint
        script: echo "lint found 2 problems"; exit 3
        continueOnError: true
      - name: test
        script: echo testing; exit 5
      - name: deploy
        script: echo deploying
`);
    try {
      const posted = await h.post('/v1/messages', { topic: 'build', body: {} });
      const run = await h.waitForRun(posted.json.runs[0].id as string);
      assert.equal(run.status, 'failed');
      assert.equal(run.exitCode, 5);
      assert.deepEqual(
        (run.steps as { name: string; status: string; exitCode: number | null }[]).map(({ name, status, exitCode }) => [name, status, exitCode]),
        [
          ['compile', 'succeeded', 0],
          ['lint', 'failed', 3],
          ['test', 'failed', 5],
          ['deploy', 'skipped', null],
        ],
      );
      const lint = await h.get(`/v1/runs/${run.id}/logs?step=lint&format=text`);
      assert.match(lint.text, /lint found 2 problems/);
      assert.doesNotMatch(lint.text, /compiling|testing/);
      assert.equal((await h.get(`/v1/runs/${run.id}/logs?step=nope`)).status, 404);
      const finished = await eventually('the finished event', () => eventsOf(receiver, 'io.jobwire.run.finished', run.id as string)[0]);
      const steps = (finished['data'] as { steps: { name: string; status: string }[] }).steps;
      assert.deepEqual(steps.map((step) => `${step.name}:${step.status}`), ['compile:succeeded', 'lint:failed', 'test:failed', 'deploy:skipped']);
    } finally {
      await h.close();
      await receiver.close();
    }
  });
});
