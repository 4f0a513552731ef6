import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { stepLogSection } from '../src/executors/step-markers.js';
import { startHarness } from './support/harness.js';

describe('steps through a whole jobwire', () => {
  it('fails the run with the failing step\'s exit code, succeeds past continueOnError, and serves each step\'s section in the log', async () => {
    const h = await startHarness(`
jobs:
  - name: pipeline
    on: [{ source: http, topic: pipeline }]
    env: { REF: '\${{ message.body.ref }}' }
    steps:
      - name: checkout
        script: echo "checking out $REF"
      - name: lint
        command: [sh, -c, 'echo lint found problems; exit 1']
        continueOnError: true
      - name: test
        script: echo "testing with $MODE"; exit "$CODE"
        env: { MODE: fast, CODE: '\${{ string(message.body.code) }}' }
      - name: publish
        script: echo published
`);
    try {
      const failing = await h.post('/v1/messages', { topic: 'pipeline', body: { ref: 'main', code: 4 } });
      const failed = await h.waitForRun(failing.json.runs[0].id);
      assert.equal(failed.status, 'failed');
      assert.equal(failed.exitCode, 4);
      const logs = await h.get(`/v1/runs/${failed.id}/logs?format=text`);
      assert.match(stepLogSection(logs.text, 'checkout') ?? '', /^::step checkout\nchecking out main\n::step-end checkout exit=0 ms=\d+\n$/);
      assert.match(stepLogSection(logs.text, 'lint') ?? '', /\nlint found problems\n::step-end lint exit=1 /);
      assert.match(stepLogSection(logs.text, 'test') ?? '', /\ntesting with fast\n::step-end test exit=4 /);
      assert.equal(stepLogSection(logs.text, 'publish'), undefined, 'a step after the failure ran');
      assert.match(logs.text, /\n::steps-end checkout=0\/\d+ms lint=1\/\d+ms test=4\/\d+ms publish=skipped\n$/);

      const passing = await h.post('/v1/messages', { topic: 'pipeline', body: { ref: 'v2', code: 0 } });
      const succeeded = await h.waitForRun(passing.json.runs[0].id);
      assert.equal(succeeded.status, 'succeeded', 'a continueOnError failure failed the run');
      assert.equal(succeeded.exitCode, 0);
      const passed = await h.get(`/v1/runs/${succeeded.id}/logs?format=text`);
      assert.match(stepLogSection(passed.text, 'publish') ?? '', /\npublished\n/);
    } finally {
      await h.close();
    }
  });
});
