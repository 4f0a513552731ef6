import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PermanentError } from '../src/core/errors.js';
import { newId } from '../src/core/ids.js';
import type { Executor } from '../src/executors/executor.js';
import { createProcessExecutor } from '../src/executors/process.js';
import { SpawnerClient } from '../src/executors/spawner/client.js';
import { SpawnerError } from '../src/executors/spawner/errors.js';
import { encode, parseReply, ProtocolError, type Reply } from '../src/executors/spawner/protocol.js';
import { isRunning } from './support/processes.js';
import { testSpec } from './support/run-spec.js';
import { inFlightRun } from './support/run-record.js';

const root = mkdtempSync(path.join(tmpdir(), 'jobwire-spawner-'));
const runsDir = path.join(root, 'runs');
const helperEntry = fileURLToPath(new URL('../src/executors/spawner/main.js', import.meta.url));
const closers: Array<() => Promise<void>> = [];
const strays = new Set<number>();

after(async () => {
  await Promise.all(closers.map((close) => close()));
  for (const pid of strays) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await rm(root, { recursive: true, force: true });
});

function executor(): Executor {
  const created = createProcessExecutor({ name: 'local', runsDir, maxLogBytes: 1 << 16, killGraceMs: 200 });
  closers.push(() => created.close());
  return created;
}


function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

async function waitUntil(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function pidOf(handle: string): number {
  const pid = Number(/^pid:(\d+)$/.exec(handle)?.[1]);
  strays.add(pid);
  return pid;
}

describe('spawner: runs through a helper process', () => {
  it('spawns jobs as children of the spawner, not of jobwire', async () => {
    const attempt = await executor().start(testSpec(['sleep', '100']));
    const pid = pidOf(attempt.handle);
    const helper = parentOf(pid);
    assert.notEqual(helper, process.pid);
    assert.match(readFileSync(`/proc/${helper}/cmdline`, 'utf8'), /spawner\/main\.js/);
    attempt.stop('cancel');
    assert.equal((await attempt.done).kind, 'stopped');
  });

  it('resolves 200 concurrent runs, each with its own output and exit code', async () => {
    const exec = executor();
    const count = 200;
    const results = await Promise.all(
      Array.from({ length: count }, async (_, n) => {
        const attempt = await exec.start(testSpec(['sh', '-c', 'echo "$N"; exit $((N % 7))'], { env: { N: String(n) } }));
        return attempt.done;
      }),
    );
    results.forEach((result, n) => {
      assert.equal(result.kind, 'exited', `run ${n}`);
      assert.equal(result.kind === 'exited' && result.exitCode, n % 7, `run ${n}`);
      assert.equal(result.log.text, `${n}\n`, `run ${n}`);
    });
  });
});

describe('spawner: failures', { timeout: 30_000 }, () => {
  it('fails in-flight attempts when the spawner dies, kills their groups, and restarts on the next start', async () => {
    const exec = executor();
    const specs = [1, 2, 3].map(() => testSpec(['sleep', '100']));
    const attempts = await Promise.all(specs.map((one) => exec.start(one)));
    const pids = attempts.map((attempt) => pidOf(attempt.handle));
    const helper = parentOf(pids[0] ?? 0);
    assert.ok(pids.every((pid) => parentOf(pid) === helper));
    process.kill(helper, 'SIGKILL');
    for (const attempt of attempts) {
      const result = await attempt.done;
      assert.equal(result.kind, 'error');
      assert.ok(result.kind === 'error' && result.error instanceof SpawnerError, String(result.kind === 'error' && result.error));
      assert.match(result.kind === 'error' ? result.error.message : '', /process spawner \(pid \d+\) exited unexpectedly \(signal SIGKILL\)/);
    }
    await waitUntil(() => pids.every((pid) => !isRunning(pid)), 'the orphaned jobs are killed');
    // The spawner could not remove their folders; jobwire did, before `done` resolved.
    const left = await readdir(runsDir);
    assert.deepEqual(left.filter((name) => specs.some((one) => name.startsWith(one.runId))), []);

    // The next start brings up a new spawner: the job's parent is another process.
    const next = await exec.start(testSpec(['sh', '-c', 'echo "$PPID"']));
    const result = await next.done;
    assert.equal(result.kind, 'exited');
    const newHelper = Number(result.log.text.trim());
    assert.ok(newHelper > 1 && newHelper !== helper && newHelper !== process.pid, result.log.text);
  });

  it('reports a run folder that cannot be prepared as PermanentError, leaving nothing behind', async () => {
    const missing = path.join(root, 'no-such-dir');
    const one = testSpec(['true']);
    const error = await executor()
      .start({ ...one, workingDir: missing })
      .then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof PermanentError, String(error));
    assert.equal(error.message, `workingDir ${missing} does not exist`);
    assert.deepEqual((await readdir(runsDir)).filter((name) => name.startsWith(one.runId)), []);
  });

  it('exits at once on EOF of its control channel, leaving running jobs alone', async () => {
    const helper = spawn(process.execPath, [helperEntry], { stdio: ['pipe', 'pipe', 'inherit'] });
    const exited = new Promise<number | null>((resolve) => helper.once('exit', (code) => resolve(code)));
    helper.stdout.setEncoding('utf8');
    const replies: Reply[] = [];
    let buffered = '';
    helper.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      replies.push(...lines.map(parseReply));
    });
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
    helper.stdin.write(encode({ type: 'spawn', id: 1, argv: ['sleep', '100'], cwd: root, env, maxLogBytes: 1024, record: null }));
    await waitUntil(() => replies.length > 0, 'the spawner answered');
    const reply = replies[0];
    assert.equal(reply?.type, 'spawned');
    const job = reply?.type === 'spawned' ? reply.pid : 0;
    strays.add(job);
    const began = Date.now();
    helper.stdin.end();
    assert.equal(await exited, 0);
    assert.ok(Date.now() - began < 2000, 'the spawner did not wait for its job');
    assert.ok(isRunning(job), 'the job survives its spawner');
    process.kill(-job, 'SIGKILL');
  });

  it('exits with an error on a request line that breaks the protocol', async () => {
    const helper = spawn(process.execPath, [helperEntry], { stdio: ['pipe', 'pipe', 'pipe'] });
    helper.stdout.resume();
    let stderr = '';
    helper.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => helper.once('close', (code) => resolve(code)));
    helper.stdin.write('{"type":"spawn","id":1,"argv":"sh -c evil"}\n');
    assert.equal(await exited, 70);
    assert.match(stderr, /ProtocolError: invalid spawn\.argv/);
  });

  it('rejects replies that do not match the protocol', () => {
    for (const line of ['', 'nope', '[]', '{"type":"spawned","id":1}', '{"type":"exited","id":1,"code":0,"signal":null,"error":null}', '{"type":"what","id":1}']) {
      assert.throws(() => parseReply(line), ProtocolError, line);
    }
  });
});

describe('spawner: client lifecycle', { timeout: 30_000 }, () => {
  it('reports a spawn the helper could not answer as SpawnerError, then recovers', async () => {
    const client = new SpawnerClient({ maxLogBytes: 1024 });
    closers.push(() => client.close());
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
    const first = await client.spawn({ argv: ['true'], cwd: root, env, maxLogBytes: 1024 });
    assert.equal((await first.ended).kind, 'exited');
    const helper = client.helperPid;
    assert.ok(helper !== undefined);
    // Stop the helper so it cannot answer, queue a spawn, then kill it.
    process.kill(helper, 'SIGSTOP');
    const pending = client.spawn({ argv: ['true'], cwd: root, env, maxLogBytes: 1024 });
    process.kill(helper, 'SIGKILL');
    await assert.rejects(pending, (error: unknown) => error instanceof SpawnerError && /cannot tell whether true/.test(error.message));
    const again = await client.spawn({ argv: ['true'], cwd: root, env, maxLogBytes: 1024 });
    assert.equal((await again.ended).kind, 'exited');
    assert.notEqual(client.helperPid, helper);
  });

  it('does not keep jobwire alive while idle, and the spawner follows jobwire out', async () => {
    const script = path.join(root, 'idle.mjs');
    const processModule = new URL('../src/executors/process.js', import.meta.url).href;
    writeFileSync(
      script,
      `import { createProcessExecutor } from ${JSON.stringify(processModule)};
const exec = createProcessExecutor({ name: 'x', runsDir: ${JSON.stringify(runsDir)}, maxLogBytes: 1024 });
const attempt = await exec.start({ runId: 'idle-1', job: 'j', attempt: 1, messageId: 'm', source: 'http', correlationId: 'c',
  argv: ['sh', '-c', 'echo $PPID'], env: {}, files: [], messageJson: '{}' });
const result = await attempt.done;
process.stdout.write(result.log.text);
// no close(): the process must still end on its own
`,
    );
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    assert.equal(code, 0);
    const helper = Number(out.trim());
    assert.ok(helper > 1);
    await waitUntil(() => !isRunning(helper), 'the spawner exits after jobwire');
  });
});

describe('spawner: attempts outlive the jobwire that started them', { timeout: 60_000 }, () => {
  /** A process executor on its own persistent spawner, as one jobwire process has it. */
  function jobwireSide(stateDir: string): { spawner: SpawnerClient; exec: Executor } {
    const spawner = new SpawnerClient({ maxLogBytes: 1 << 16, stateDir });
    const exec = createProcessExecutor({ name: 'local', runsDir: path.join(stateDir, 'runs'), maxLogBytes: 1 << 16, spawner, killGraceMs: 200 });
    closers.push(async () => {
      await exec.close();
      await spawner.close();
    });
    return { spawner, exec };
  }

  /** Waits in the job until `gate` exists, so the test decides when the job ends; then writes its output. */
  const gated = (gate: string, exitCode: number): string[] => [
    'sh',
    '-c',
    `echo started; while [ ! -e "$1" ]; do sleep 0.02; done; echo finished; echo '{"exitCode":${exitCode}}' > "$JOBWIRE_OUTPUT"; exit ${exitCode}`,
    'job',
    gate,
  ];

  it('a second jobwire adopts an attempt still running: live log, then its true exit code and output', async () => {
    const stateDir = mkdtempSync(path.join(root, 'state-'));
    const gate = path.join(stateDir, 'gate');
    const first = jobwireSide(stateDir);
    const spec = testSpec(gated(gate, 3));
    const attempt = await first.exec.start(spec);
    await waitUntil(() => existsSync(path.join(stateDir, 'spawner.sock')), 'the spawner listens');
    const helper = first.spawner.helperPid;
    attempt.leave?.();
    await first.spawner.close({ leaveRunning: true });

    const second = jobwireSide(stateDir);
    const recovered = await second.exec.recover(inFlightRun({ id: spec.runId, job: 'test', executor: 'local', handle: attempt.handle }));
    assert.equal(recovered.kind, 'adopted');
    if (recovered.kind !== 'adopted') return;
    assert.equal(second.spawner.helperPid, helper);
    assert.equal(recovered.attempt.handle, attempt.handle);
    await waitUntilAsync(async () => (await recovered.attempt.readLog()).text === 'started\n', 'the live log shows the output so far');
    writeFileSync(gate, '');
    const result = await recovered.attempt.done;
    assert.equal(result.kind, 'exited');
    assert.equal(result.kind === 'exited' ? result.exitCode : undefined, 3);
    assert.equal(result.log.text, 'started\nfinished\n');
    assert.deepEqual(result.output, { kind: 'json', value: { exitCode: 3 } });
    recovered.attempt.release?.();
  });

  it('an attempt that ended while no jobwire was attached is read back from its exit record', async () => {
    const stateDir = mkdtempSync(path.join(root, 'state-'));
    const gate = path.join(stateDir, 'gate');
    const first = jobwireSide(stateDir);
    const spec = testSpec(gated(gate, 3));
    const attempt = await first.exec.start(spec);
    const helper = first.spawner.helperPid;
    assert.ok(helper !== undefined);
    attempt.leave?.();
    await first.spawner.close({ leaveRunning: true });
    writeFileSync(gate, '');
    const folder = path.join(stateDir, 'runs', `${spec.runId}-1`);
    await waitUntil(() => existsSync(path.join(folder, 'exit.json')), 'the spawner recorded the end');
    // With nothing left to supervise it leaves, and takes its socket with it.
    await waitUntil(() => !isRunning(helper), 'the orphaned spawner exits');
    assert.equal(existsSync(path.join(stateDir, 'spawner.sock')), false);

    const second = jobwireSide(stateDir);
    const recovered = await second.exec.recover(inFlightRun({ id: spec.runId, job: 'test', executor: 'local', handle: attempt.handle }));
    assert.equal(recovered.kind, 'adopted');
    if (recovered.kind !== 'adopted') return;
    const result = await recovered.attempt.done;
    assert.equal(result.kind === 'exited' ? result.exitCode : undefined, 3);
    assert.equal(result.log.text, 'started\nfinished\n');
    assert.ok(result.endedAt !== undefined && result.endedAt <= Date.now());
    assert.deepEqual(result.output, { kind: 'json', value: { exitCode: 3 } });
    assert.equal(existsSync(path.join(folder, 'exit.json')), true, 'the record stays until the end is recorded');
    recovered.attempt.release?.();
    await waitUntil(() => !existsSync(folder), 'the folder goes once the end is recorded');
  });

  it('an end jobwire saw but had not recorded when it died is adopted again with its output', async () => {
    const stateDir = mkdtempSync(path.join(root, 'state-'));
    const first = jobwireSide(stateDir);
    const spec = testSpec(['sh', '-c', 'echo \'{"artifact":"report.html"}\' > "$JOBWIRE_OUTPUT"; exit 0']);
    const attempt = await first.exec.start(spec);
    const seen = await attempt.done;
    assert.deepEqual(seen.output, { kind: 'json', value: { artifact: 'report.html' } });
    // jobwire dies before the store has the end (no release): the spawner keeps it.
    await first.spawner.close({ leaveRunning: true });

    const second = jobwireSide(stateDir);
    const recovered = await second.exec.recover(inFlightRun({ id: spec.runId, job: 'test', executor: 'local', handle: attempt.handle }));
    assert.equal(recovered.kind, 'adopted');
    if (recovered.kind !== 'adopted') return;
    const result = await recovered.attempt.done;
    assert.equal(result.kind === 'exited' ? result.exitCode : undefined, 0);
    assert.deepEqual(result.output, { kind: 'json', value: { artifact: 'report.html' } });
    recovered.attempt.release?.();
    const folder = path.join(stateDir, 'runs', `${spec.runId}-1`);
    await waitUntil(() => !existsSync(folder), 'the folder goes once the end is recorded');
  });

  it('an output folder whose end was recorded just before a crash is removed at the next start', async () => {
    const stateDir = mkdtempSync(path.join(root, 'state-'));
    const first = jobwireSide(stateDir);
    const spec = testSpec(['sh', '-c', 'echo \'{"n":1}\' > "$JOBWIRE_OUTPUT"']);
    const attempt = await first.exec.start(spec);
    await attempt.done;
    // The store had the end, then jobwire died before release: no run will claim this folder.
    await first.spawner.close({ leaveRunning: true });
    const folder = path.join(stateDir, 'runs', `${spec.runId}-1`);
    assert.equal(existsSync(folder), true);

    const second = jobwireSide(stateDir);
    await second.exec.recovered?.();
    assert.equal(existsSync(folder), false);
  });

  it('a run claimed but never spawned is not started; attempts no run claims are killed or forgotten', async () => {
    const stateDir = mkdtempSync(path.join(root, 'state-'));
    const first = jobwireSide(stateDir);
    const orphanSpec = testSpec(['sleep', '100']);
    const orphan = await first.exec.start(orphanSpec);
    const orphanPid = pidOf(orphan.handle);
    orphan.leave?.();
    await first.spawner.close({ leaveRunning: true });

    const second = jobwireSide(stateDir);
    const never = await second.exec.recover(inFlightRun({ id: newId(), job: 'test', executor: 'local', handle: null, status: 'starting', startedAt: null }));
    assert.equal(never.kind, 'not-started');
    await second.exec.recovered?.();
    await waitUntil(() => !isRunning(orphanPid), 'the unclaimed attempt is killed');
  });

  it('refuses a second jobwire on the same data dir while one is attached', async () => {
    const stateDir = mkdtempSync(path.join(root, 'state-'));
    const first = jobwireSide(stateDir);
    const attempt = await first.exec.start(testSpec(['true']));
    await attempt.done;
    attempt.release?.();
    const second = jobwireSide(stateDir);
    await assert.rejects(second.spawner.spawn({ argv: ['true'], cwd: root, env: {}, maxLogBytes: 1024 }), (error: unknown) =>
      error instanceof SpawnerError && /another jobwire is attached/.test(error.message),
    );
  });
});

async function waitUntilAsync(condition: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
