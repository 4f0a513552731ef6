import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from '../src/cli/main.js';
import { startHarness, tempDir } from './support/harness.js';

function capture(): { out: string[]; err: string[]; io: { stdout: (t: string) => void; stderr: (t: string) => void; env: NodeJS.ProcessEnv } } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { stdout: (t) => out.push(t), stderr: (t) => err.push(t), env: process.env } };
}

describe('jobwire send', () => {
  it('publishes a file to a jobwire HTTP API, with headers and message id', async () => {
    const h = await startHarness(`
jobs:
  - name: echo
    on: [{ source: http, topic: echo, if: 'message.headers["x-note"] == "hi"' }]
    env: { TEXT: '\${{ message.body.text }}' }
    script: printf '%s' "$TEXT"
`);
    try {
      const file = path.join(tempDir(), 'payload.json');
      writeFileSync(file, JSON.stringify({ text: 'from send' }));
      const { out, err, io } = capture();
      const code = await runCli(['node', 'jobwire', 'send', '--url', h.url, '--topic', 'echo', '-H', 'message-id=send-1', '-H', 'x-note=hi', file], io);
      assert.equal(code, 0, err.join(''));
      assert.match(out.join(''), /^sent 20 bytes to http:\/\/127\.0\.0\.1:\d+ topic echo\n$/);
      const runs = await h.get('/v1/runs?messageId=send-1');
      assert.equal(runs.json.runs.length, 1);
      const run = await h.waitForRun(runs.json.runs[0].id);
      assert.equal(run.status, 'succeeded');
      assert.equal((await h.get(`/v1/runs/${run.id}/logs?format=text`)).text, 'from send');
    } finally {
      await h.close();
    }
  });

  it('explains what is wrong with its arguments', async () => {
    const { err, io } = capture();
    assert.equal(await runCli(['node', 'jobwire', 'send', '--topic', 't', '-'], io), 1);
    assert.match(err.join(''), /give exactly one of --source NAME \(with -c FILE\) or --url URL/);
    const second = capture();
    assert.equal(await runCli(['node', 'jobwire', 'send', '--url', 'ftp://x', '--topic', 't', '-H', 'novalue', '-'], second.io), 1);
    assert.match(second.err.join(''), /--header wants name=value, got "novalue"/);
    const third = capture();
    assert.equal(await runCli(['node', 'jobwire', 'send', '--url', 'ftp://x', '--topic', 't', '/dev/null'], third.io), 1);
    assert.match(third.err.join(''), /unknown scheme ftp:/);
  });
});
