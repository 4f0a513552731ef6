import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from './support/harness.js';
import { BIN, startServe } from './support/serve-process.js';
import { isRunning } from './support/processes.js';

async function post(url: string, body: unknown): Promise<any> {
  const response = await fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(response.status, 202);
  return response.json();
}

async function waitFor(url: string, runId: string, statuses: string[], timeoutMs = 20_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = (await (await fetch(`${url}/v1/runs/${runId}`)).json()) as any;
    if (statuses.includes(run.status)) return run;
    if (Date.now() > deadline) throw new Error(`run ${runId}: still ${run.status}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}


describe('jobwire serve (the real binary)', () => {
  it('drains on SIGTERM: a running run finishes before the process exits', async () => {
    const dir = tempDir();
    const config = path.join(dir, 'jobwire.yaml');
    writeFileSync(config, `jobs:\n  - name: short\n    on: [{ source: http }]\n    script: sleep 0.5; echo done\n`);
    const serve = await startServe(config, path.join(dir, 'data'));
    const accepted = await post(serve.url, { body: {} });
    await waitFor(serve.url, accepted.runs[0].id, ['running']);
    serve.child.kill('SIGTERM');
    assert.equal(await serve.exited, 0);
    const again = await startServe(config, path.join(dir, 'data'));
    try {
      const run = await waitFor(again.url, accepted.runs[0].id, ['succeeded', 'failed']);
      assert.equal(run.status, 'succeeded');
      const logs = await (await fetch(`${again.url}/v1/runs/${run.id}/logs?format=text`)).text();
      assert.equal(logs, 'done\n');
    } finally {
      again.child.kill('SIGTERM');
      await again.exited;
    }
  });

  it('after kill -9, kills the orphaned process group and retries or fails the run per its policy', async () => {
    const dir = tempDir();
    const config = path.join(dir, 'jobwire.yaml');
    const pids = path.join(dir, 'pids');
    writeFileSync(
      config,
      `jobs:
  - name: once
    on: [{ source: http, topic: once }]
    env: { PIDS: { fromEnv: PIDS_FILE } }
    script: echo $$ >> "$PIDS"; sleep 60
  - name: again
    on: [{ source: http, topic: again }]
    retries: 1
    script: |
      [ "$JOBWIRE_ATTEMPT" -ge 2 ] && { echo second; exit 0; }
      sleep 60
`,
    );
    const env = { PIDS_FILE: pids };
    const first = await startServe(config, path.join(dir, 'data'), env);
    const once = await post(first.url, { topic: 'once', body: {} });
    const again = await post(first.url, { topic: 'again', body: {} });
    await waitFor(first.url, once.runs[0].id, ['running']);
    await waitFor(first.url, again.runs[0].id, ['running']);
    first.child.kill('SIGKILL');
    await first.exited;
    const orphan = Number(readFileSync(pids, 'utf8').trim());
    assert.equal(isRunning(orphan), true, 'the orphan should outlive a kill -9 of jobwire');

    const second = await startServe(config, path.join(dir, 'data'), env);
    try {
      const failed = await waitFor(second.url, once.runs[0].id, ['failed']);
      assert.match(failed.reason, /jobwire restarted while the process was running/);
      assert.equal(failed.attempts, 1);
      const retried = await waitFor(second.url, again.runs[0].id, ['succeeded']);
      assert.equal(retried.attempts, 2);
      assert.equal(isRunning(orphan), false, 'the orphaned process was not killed');
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  });
});

describe('jobwire validate and test', () => {
  it('validate exits 0 for the example config and 1 with FILE:LINE:COL errors', () => {
    const ok = spawnSync(process.execPath, [BIN, 'validate', '-c', 'examples/jobwire.yaml'], { encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /^examples\/jobwire.yaml: valid \(\d+ jobs, \d+ triggers\)\n$/);
    const dir = tempDir();
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, 'jobs:\n  - name: x\n    on: [{ source: http }]\n    comand: ["true"]\n');
    const result = spawnSync(process.execPath, [BIN, 'validate', '-c', bad], { encoding: 'utf8' });
    assert.equal(result.status, 1);
    assert.match(result.stderr, new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4:5: .*"comand".*did you mean "command"`, 'm'));
  });

  it('test prints which jobs match and the exact env, without running anything', () => {
    const dir = tempDir();
    const message = path.join(dir, 'msg.json');
    writeFileSync(message, JSON.stringify({ execute: 'true', 'initial-value': 4 }));
    const result = spawnSync(process.execPath, [BIN, 'test', '-c', 'examples/jobwire.yaml', '--message', message, '--topic', 'countdown', '--json'], {
      encoding: 'utf8',
    });
    assert.equal(result.status, 0, result.stderr);
    const parsed = JSON.parse(result.stdout);
    const countdown = parsed.matches.find((match: { job: string }) => match.job === 'countdown');
    assert.ok(countdown, result.stdout);
    assert.equal(countdown.env.INITIAL_VALUE, '4');
    const text = spawnSync(process.execPath, [BIN, 'test', '-c', 'examples/jobwire.yaml', '-m', message, '-t', 'countdown'], { encoding: 'utf8' });
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /job countdown \(executor process\)/);
    assert.match(text.stdout, /INITIAL_VALUE=4/);
  });
});
