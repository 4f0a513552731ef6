import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { startHarness, type Harness } from './support/harness.js';

const CONFIG = `
sources:
  # Nothing listens on port 1: the source stays disconnected, which readiness must show, and
  # messages can still be replayed as if they came from it.
  umb: { type: stomp, url: "stomp://127.0.0.1:1" }
jobs:
  - name: countdown
    on:
      - source: http
        topic: countdown
        if: message.body.execute == "true"
    env:
      MESSAGE: "Liftoff!"
      INITIAL_VALUE: \${{ string(message.body["initial-value"]) }}
    script: |
      i="$INITIAL_VALUE"; while [ "$i" -ne 0 ]; do echo "$i"; i=$((i-1)); done; echo "$MESSAGE"
  - name: keptn-health
    on:
      - source: http
        type: "sh.keptn.event.*.triggered"
        jsonpath: { property: "$.data.test.teststrategy", match: health }
    env:
      HOST: { jsonpath: "$.data.deployment.uri" }
    files: [scripts/probe.sh]
    command: [sh, scripts/probe.sh]
  - name: echo
    on:
      - source: http
        topic: echo
    env:
      FROM_BODY: \${{ message.body.text }}
      FROM_HEADER: \${{ message.headers["x-note"] }}
      FROM_TOPIC: \${{ message.topic }}
      FROM_ID: \${{ message.id }}
    script: |
      printf 'body=[%s]\\n' "$FROM_BODY"
      printf 'header=[%s]\\n' "$FROM_HEADER"
      printf 'topic=[%s]\\n' "$FROM_TOPIC"
      printf 'id=[%s]\\n' "$FROM_ID"
      printf 'corr=[%s]\\n' "$JOBWIRE_CORRELATION_ID"
      cat "$JOBWIRE_MESSAGE"
  - name: replayed
    on:
      - source: umb
        topic: /queue/Consumer.jobwire.VirtualTopic.countdown
    command: ["true"]
`;

const PROBE = `#!/bin/sh\necho "probing $HOST"\n`;

describe('HTTP API end to end', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness(CONFIG, { files: { 'scripts/probe.sh': PROBE } });
  });
  after(async () => {
    await h.close();
  });

  it('runs a matching job with message data in env and shows its logs', async () => {
    const posted = await h.post('/v1/messages', { id: 'cd-1', topic: 'countdown', body: { execute: 'true', 'initial-value': 3 } });
    assert.equal(posted.status, 202);
    assert.equal(posted.json.messageId, 'cd-1');
    assert.equal(posted.json.correlationId, 'cd-1');
    assert.deepEqual(posted.json.runs.map((run: { job: string }) => run.job), ['countdown']);
    const run = await h.waitForRun(posted.json.runs[0].id);
    assert.equal(run.status, 'succeeded');
    assert.equal(run.exitCode, 0);
    assert.equal(run.attempts, 1);
    assert.equal(run.messageId, 'cd-1');
    const logs = await h.get(`/v1/runs/${run.id}/logs`);
    assert.equal(logs.status, 200);
    assert.equal(logs.json.attempts[0].text, '3\n2\n1\nLiftoff!\n');
    const text = await h.get(`/v1/runs/${run.id}/logs?format=text`);
    assert.equal(text.text, '3\n2\n1\nLiftoff!\n');
  });

  it('does not run a job whose filter is false, and says why in a dry run', async () => {
    const posted = await h.post('/v1/messages', { topic: 'countdown', body: { execute: 'false', 'initial-value': 3 } });
    assert.equal(posted.status, 202);
    assert.deepEqual(posted.json.runs, []);
    const dry = await h.post('/v1/messages?dryRun=true', { topic: 'countdown', body: { execute: 'false', 'initial-value': 3 } });
    assert.equal(dry.status, 200);
    assert.deepEqual(dry.json.matches, []);
    const countdown = dry.json.unmatched.find((entry: { job: string }) => entry.job === 'countdown');
    assert.match(countdown.reasons[0], /filter `message.body.execute == "true"` is false/);
  });

  it('answers a dry run with the exact argv and env, and starts nothing', async () => {
    const before = await h.get('/v1/runs?job=countdown&limit=500');
    const dry = await h.post('/v1/messages?dryRun=true', { id: 'dry-1', topic: 'countdown', body: { execute: 'true', 'initial-value': 7 } });
    assert.equal(dry.status, 200);
    assert.equal(dry.json.matches.length, 1);
    const match = dry.json.matches[0];
    assert.equal(match.job, 'countdown');
    assert.equal(match.argv[0], 'bash');
    assert.equal(match.argv[1], '-c');
    assert.equal(match.env.INITIAL_VALUE, '7');
    assert.equal(match.env.MESSAGE, 'Liftoff!');
    assert.equal(match.env.JOBWIRE_MESSAGE_ID, 'dry-1');
    const afterRuns = await h.get('/v1/runs?job=countdown&limit=500');
    assert.equal(afterRuns.json.runs.length, before.json.runs.length);
  });

  it('runs a message posted twice with the same id once', async () => {
    const first = await h.post('/v1/messages', { id: 'dup-1', topic: 'echo', body: { text: 'x' } });
    const second = await h.post('/v1/messages', { id: 'dup-1', topic: 'echo', body: { text: 'x' } });
    assert.equal(first.status, 202);
    assert.equal(second.status, 202);
    assert.equal(first.json.duplicate, false);
    assert.equal(second.json.duplicate, true);
    assert.deepEqual(second.json.runs, first.json.runs);
    const runs = await h.get('/v1/runs?messageId=dup-1');
    assert.equal(runs.json.runs.length, 1);
  });

  it('matches a structured CloudEvent by type glob and JSONPath, with files in the workdir', async () => {
    const event = {
      specversion: '1.0',
      id: 'ce-1',
      source: 'keptn',
      type: 'sh.keptn.event.test.triggered',
      data: { test: { teststrategy: 'health' }, deployment: { uri: 'http://svc:8080' } },
    };
    const posted = await h.post('/v1/messages', JSON.stringify(event), { 'content-type': 'application/cloudevents+json' });
    assert.equal(posted.status, 202);
    assert.equal(posted.json.messageId, 'ce-1');
    assert.equal(posted.json.correlationId, 'ce-1');
    assert.deepEqual(posted.json.runs.map((run: { job: string }) => run.job), ['keptn-health']);
    const run = await h.waitForRun(posted.json.runs[0].id);
    assert.equal(run.status, 'succeeded');
    const logs = await h.get(`/v1/runs/${run.id}/logs?format=text`);
    assert.equal(logs.text, 'probing http://svc:8080\n');

    const other = await h.post('/v1/messages', JSON.stringify({ ...event, id: 'ce-2', data: { test: { teststrategy: 'performance' } } }), {
      'content-type': 'application/cloudevents+json',
    });
    assert.deepEqual(other.json.runs, []);
  });

  it('matches a binary CloudEvent (ce-* headers) the same way', async () => {
    const posted = await h.post('/v1/messages', JSON.stringify({ test: { teststrategy: 'health' }, deployment: { uri: 'u' } }), {
      'content-type': 'application/json',
      'ce-specversion': '1.0',
      'ce-id': 'ce-bin-1',
      'ce-source': 'keptn',
      'ce-type': 'sh.keptn.event.evaluation.triggered',
    });
    assert.equal(posted.status, 202);
    assert.deepEqual(posted.json.runs.map((run: { job: string }) => run.job), ['keptn-health']);
    const run = await h.waitForRun(posted.json.runs[0].id);
    assert.equal(run.status, 'succeeded');
  });

  it('passes hostile message data byte for byte, never as code', async () => {
    const marker = `/tmp/jobwire-injected-${process.pid}`;
    rmSync(marker, { force: true });
    const evil = `$(touch ${marker}) \`touch ${marker}\` "; touch ${marker}; echo '" && touch ${marker}\nline2 $HOME \${PATH}`;
    const posted = await h.post('/v1/messages', {
      id: `id-${evil}`,
      topic: 'echo',
      headers: { 'x-note': evil, 'correlation-id': `corr-${evil}` },
      body: { text: evil },
    });
    assert.equal(posted.status, 202);
    assert.equal(posted.json.runs.length, 1);
    const run = await h.waitForRun(posted.json.runs[0].id);
    assert.equal(run.status, 'succeeded');
    assert.equal(run.correlationId, `corr-${evil}`);
    const logs = await h.get(`/v1/runs/${run.id}/logs?format=text`);
    const [head, messageJson] = splitOnce(logs.text, `corr=[corr-${evil}]\n`);
    assert.equal(head, `body=[${evil}]\nheader=[${evil}]\ntopic=[echo]\nid=[id-${evil}]\n`);
    const message = JSON.parse(messageJson);
    assert.equal(message.body.text, evil);
    assert.equal(message.headers['x-note'], evil);
    assert.equal(existsSync(marker), false, 'message data was executed');
  });

  it('logs every line about a message with its correlation id', async () => {
    const posted = await h.post('/v1/messages', { id: 'log-1', topic: 'echo', body: { text: 'hi' }, headers: { 'correlation-id': 'corr-log-1' } });
    await h.waitForRun(posted.json.runs[0].id);
    const lines = h.logs.filter((line) => line['messageId'] === 'log-1' || line['runId'] === posted.json.runs[0].id);
    assert.ok(lines.length >= 3, `expected accept, start and finish lines, got ${lines.length}`);
    for (const line of lines) assert.equal(line['correlationId'], 'corr-log-1');
  });

  it('replays a message as if it arrived on a configured source', async () => {
    const envelope = { id: 'umb-1', source: 'umb', topic: '/queue/Consumer.jobwire.VirtualTopic.countdown', body: { execute: 'true' } };
    const posted = await h.post('/v1/messages', envelope);
    assert.equal(posted.status, 202);
    assert.deepEqual(posted.json.runs.map((run: { job: string }) => run.job), ['replayed']);
    const run = await h.waitForRun(posted.json.runs[0].id);
    assert.equal(run.source, 'umb');
    assert.equal(run.status, 'succeeded');
    // The same message on the http source is a different message and triggers nothing here.
    const onHttp = await h.post('/v1/messages', { ...envelope, source: 'http' });
    assert.equal(onHttp.json.duplicate, false);
    assert.deepEqual(onHttp.json.runs, []);
  });

  it('lists, filters and pages runs, and lists jobs', async () => {
    for (let i = 0; i < 5; i++) await h.post('/v1/messages', { id: `page-${i}`, topic: 'echo', body: { text: String(i) }, headers: { 'correlation-id': 'paging' } });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { json: { runs: { id: string; correlationId: string }[]; nextCursor: string | null } } = await h.get(
        `/v1/runs?correlationId=paging&limit=2${cursor === null ? '' : `&cursor=${cursor}`}`,
      );
      for (const run of page.json.runs) {
        assert.equal(run.correlationId, 'paging');
        seen.push(run.id);
      }
      cursor = page.json.nextCursor;
    } while (cursor !== null);
    assert.equal(seen.length, 5);
    assert.equal(new Set(seen).size, 5);
    const jobs = await h.get('/v1/jobs');
    assert.deepEqual(jobs.json.jobs.map((job: { name: string }) => job.name), ['countdown', 'keptn-health', 'echo', 'replayed']);
  });

  it('answers the caller\'s mistakes with JSON 4xx errors', async () => {
    const badJson = await h.post('/v1/messages', '{"topic":', { 'content-type': 'application/json' });
    assert.equal(badJson.status, 400);
    assert.equal(badJson.json.error, 'InvalidInputError');
    const wrongType = await h.post('/v1/messages', 'hello', { 'content-type': 'text/plain' });
    assert.equal(wrongType.status, 415);
    assert.equal(wrongType.json.error, 'UnsupportedMediaTypeError');
    const unknownKey = await h.post('/v1/messages', { topic: 'echo', bdy: {} });
    assert.equal(unknownKey.status, 400);
    assert.match(unknownKey.json.message, /unknown envelope key "bdy"; allowed: id, source, topic, headers, body/);
    const unknownSource = await h.post('/v1/messages', { source: 'nope', body: {} });
    assert.equal(unknownSource.status, 400);
    assert.match(unknownSource.json.message, /unknown source "nope"/);
    const tooBig = await h.post('/v1/messages', { topic: 'echo', body: { text: 'x'.repeat(2 * 1024 * 1024) } });
    assert.equal(tooBig.status, 413);
    assert.equal(tooBig.json.error, 'PayloadTooLarge');
    const missing = await h.get('/v1/runs/nope');
    assert.equal(missing.status, 404);
    assert.equal(missing.json.error, 'NotFoundError');
    const badStatus = await h.get('/v1/runs?status=bogus');
    assert.equal(badStatus.status, 400);
    const badCursor = await h.get('/v1/runs?cursor=!!!');
    assert.equal(badCursor.status, 400);
    const noRoute = await h.get('/v2/nothing');
    assert.equal(noRoute.status, 404);
    assert.equal(noRoute.json.error, 'NotFound');
    const done = await h.post('/v1/messages', { id: 'fin-1', topic: 'echo', body: { text: 'x' } });
    await h.waitForRun(done.json.runs[0].id);
    const cancelDone = await h.post(`/v1/runs/${done.json.runs[0].id}/cancel`);
    assert.equal(cancelDone.status, 409);
    assert.equal(cancelDone.json.error, 'ConflictError');
    for (const body of [badJson, wrongType, unknownKey, tooBig, missing, cancelDone]) {
      assert.deepEqual(Object.keys(body.json).sort(), ['error', 'message']);
    }
  });

  it('reports health, and readiness with each check', async () => {
    assert.equal((await h.get('/healthz')).status, 200);
    const ready = await h.get('/readyz');
    assert.equal(ready.status, 503);
    assert.equal(ready.json.status, 'not ready');
    assert.equal(ready.json.checks.dispatcher, 'running');
    assert.equal(ready.json.checks.store, 'open');
    assert.equal(ready.json.checks['source:umb'], 'reconnecting');
    const sources = await h.get('/v1/sources');
    assert.equal(sources.json.sources[0].name, 'umb');
    assert.equal(sources.json.sources[0].status.state, 'reconnecting');
    assert.match(sources.json.sources[0].status.lastError, /ECONNREFUSED/);
  });
});

function splitOnce(text: string, separator: string): [string, string] {
  const index = text.indexOf(separator);
  assert.notEqual(index, -1, `expected ${JSON.stringify(separator)} in ${JSON.stringify(text)}`);
  return [text.slice(0, index), text.slice(index + separator.length)];
}
