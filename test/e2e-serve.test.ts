import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from './support/harness.js';
import { BIN, startServe } from './support/serve-process.js';
import { isRunning } from './support/processes.js';
import { eventually } from './support/eventually.js';

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

  it('after kill -9, runs go on: still running ones are adopted (live log, timeout, cancel), ones that ended meanwhile keep their exit code and output', async () => {
    const dir = tempDir();
    const config = path.join(dir, 'jobwire.yaml');
    const gate = path.join(dir, 'gate');
    const pids = path.join(dir, 'pids');
    writeFileSync(
      config,
      `jobs:
  - name: ticker
    on: [{ source: http, topic: ticker }]
    env: { PIDS: { fromEnv: PIDS_FILE } }
    timeout: 5s
    script: echo $$ >> "$PIDS"; while :; do echo tick; sleep 0.1; done
  - name: cancelme
    on: [{ source: http, topic: cancelme }]
    script: while :; do sleep 0.1; done
  - name: exit3
    on: [{ source: http, topic: exit3 }]
    env: { GATE: { fromEnv: GATE_FILE } }
    script: echo before; while [ ! -e "$GATE" ]; do sleep 0.05; done; echo after; exit 3
`,
    );
    const env = { PIDS_FILE: pids, GATE_FILE: gate };
    const first = await startServe(config, path.join(dir, 'data'), env);
    const ticker = (await post(first.url, { topic: 'ticker', body: {} })).runs[0].id;
    const cancelme = (await post(first.url, { topic: 'cancelme', body: {} })).runs[0].id;
    const exit3 = (await post(first.url, { topic: 'exit3', body: {} })).runs[0].id;
    const before = await waitFor(first.url, ticker, ['running']);
    await waitFor(first.url, cancelme, ['running']);
    await waitFor(first.url, exit3, ['running']);
    first.child.kill('SIGKILL');
    await first.exited;
    const pid = Number(readFileSync(pids, 'utf8').trim());
    assert.equal(isRunning(pid), true, 'the run outlives a kill -9 of jobwire');
    // Ends while no jobwire is there to see it.
    writeFileSync(gate, '');

    const second = await startServe(config, path.join(dir, 'data'), env);
    try {
      const ended = await waitFor(second.url, exit3, ['failed']);
      assert.equal(ended.exitCode, 3);
      assert.equal(ended.attempts, 1);
      assert.equal(await logText(second.url, exit3), 'before\nafter\n');

      const adopted = await waitFor(second.url, ticker, ['running']);
      assert.equal(adopted.handle, before.handle, 'the same process, adopted');
      assert.equal(adopted.attempts, 1);
      const seen = (await logText(second.url, ticker)).length;
      await eventually('the live log keeps growing', async () => (await logText(second.url, ticker)).length > seen || undefined);

      const cancel = await fetch(`${second.url}/v1/runs/${cancelme}/cancel`, { method: 'POST' });
      assert.ok(cancel.ok, `cancel answered ${cancel.status}`);
      assert.equal((await waitFor(second.url, cancelme, ['cancelled'])).status, 'cancelled');

      // The timeout counts from the run's real start, before the crash.
      const timedOut = await waitFor(second.url, ticker, ['timed_out']);
      assert.match(timedOut.reason, /timed out after 5s/);
      const ranMs = Date.parse(timedOut.finishedAt) - Date.parse(timedOut.startedAt);
      assert.ok(ranMs >= 5000 && ranMs < 7000, `timed out ${ranMs} ms after its start`);
      assert.equal(isRunning(pid), false);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  });

  it('with dispatcher.onShutdown: leave, SIGTERM leaves a run running and the next start adopts it', async () => {
    const dir = tempDir();
    const config = path.join(dir, 'jobwire.yaml');
    const gate = path.join(dir, 'gate');
    writeFileSync(
      config,
      `dispatcher: { onShutdown: leave, shutdownGrace: 0s }
jobs:
  - name: gated
    on: [{ source: http, topic: gated }]
    env: { GATE: { fromEnv: GATE_FILE } }
    script: echo waiting; while [ ! -e "$GATE" ]; do sleep 0.05; done; echo done
`,
    );
    const env = { GATE_FILE: gate };
    const first = await startServe(config, path.join(dir, 'data'), env);
    const runId = (await post(first.url, { topic: 'gated', body: {} })).runs[0].id;
    await waitFor(first.url, runId, ['running']);
    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 0);
    const second = await startServe(config, path.join(dir, 'data'), env);
    try {
      assert.equal((await waitFor(second.url, runId, ['running'])).attempts, 1);
      writeFileSync(gate, '');
      const run = await waitFor(second.url, runId, ['succeeded']);
      assert.equal(run.attempts, 1);
      assert.equal(await logText(second.url, runId), 'waiting\ndone\n');
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  });
});

async function logText(url: string, runId: string): Promise<string> {
  return (await fetch(`${url}/v1/runs/${runId}/logs?format=text`)).text();
}

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
