import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { PermanentError } from '../src/core/errors.js';
import { newId } from '../src/core/ids.js';
import type { RunRecord } from '../src/core/run.js';
import type { AttemptResult, Executor, RunSpec } from '../src/executors/executor.js';
import { droppedMarker } from '../src/executors/log-capture.js';
import { createProcessExecutor } from '../src/executors/process.js';
import { isRunning } from './support/processes.js';
import { testSpec } from './support/run-spec.js';
import { inFlightRun } from './support/run-record.js';

const root = mkdtempSync(path.join(tmpdir(), 'jobwire-process-'));
const runsDir = path.join(root, 'runs');
const executors: Executor[] = [];
/** Pids a test must kill itself if it fails half way (escaped processes, fake orphans). */
const strays = new Set<number>();

after(async () => {
  await Promise.all(executors.map((executor) => executor.close()));
  for (const pid of strays) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await rm(root, { recursive: true, force: true });
});

function executor(options: { maxLogBytes?: number; killGraceMs?: number; baseEnv?: NodeJS.ProcessEnv } = {}): Executor {
  const created = createProcessExecutor({ name: 'local', runsDir, maxLogBytes: options.maxLogBytes ?? 1 << 20, ...options });
  executors.push(created);
  return created;
}


const bash = (script: string): string[] => ['bash', '-c', script];

async function run(argv: string[], extra: Partial<RunSpec> = {}, exec: Executor = executor()): Promise<AttemptResult> {
  const attempt = await exec.start(testSpec(argv, extra));
  return attempt.done;
}

function output(result: AttemptResult): string {
  return result.log.text;
}

async function waitUntil(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function waitUntilAsync(condition: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The session id of a process (field 6 of /proc/<pid>/stat), or undefined when it is gone. */
function sessionOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
  } catch {
    return undefined;
  }
}

/** Reads the pid a script printed first ("echo $!"), from the live log. */
async function firstPrintedPid(read: () => Promise<{ text: string }>): Promise<number> {
  const deadline = Date.now() + 10_000;
  let text = (await read()).text;
  while (!/^\d+\n/.test(text)) {
    if (Date.now() > deadline) assert.fail('timed out waiting until the script printed a pid');
    await new Promise((resolve) => setTimeout(resolve, 20));
    text = (await read()).text;
  }
  const pid = Number(/^(\d+)\n/.exec(text)?.[1]);
  strays.add(pid);
  return pid;
}

describe('process executor: exits', () => {
  it('reports exit 0 with output, a pid handle, and removes its run folder', async () => {
    const attempt = await executor().start(testSpec(bash('echo hello; echo oops >&2')));
    assert.match(attempt.handle, /^pid:\d+$/);
    const result = await attempt.done;
    assert.equal(result.kind, 'exited');
    assert.equal(result.kind === 'exited' && result.exitCode, 0);
    assert.equal(output(result), 'hello\noops\n');
    assert.deepEqual(await readdir(runsDir), []);
  });

  it('reports a non-zero exit code', async () => {
    const result = await run(bash('exit 3'));
    assert.deepEqual([result.kind, result.kind === 'exited' && result.exitCode], ['exited', 3]);
  });

  it('reports death by signal', async () => {
    const result = await run(bash('kill -KILL $$'));
    assert.deepEqual([result.kind, result.kind === 'signaled' && result.signal], ['signaled', 'SIGKILL']);
  });

  it('rejects a command that does not exist with PermanentError', async () => {
    const error = await executor()
      .start(testSpec(['jobwire-no-such-command-xyz']))
      .then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof PermanentError, String(error));
    assert.equal(error.name, 'PermanentError');
    assert.match(error.message, /command not found/);
    assert.equal((error.cause as NodeJS.ErrnoException).code, 'ENOENT');
    assert.deepEqual(await readdir(runsDir), []);
  });

  it('rejects a missing file to copy with PermanentError', async () => {
    const files = [{ path: 'a.txt', from: path.join(root, 'does-not-exist') }];
    await assert.rejects(executor().start(testSpec(['true'], { files })), PermanentError);
  });

  it('rejects a file path that climbs out of the working directory', async () => {
    const files = [{ path: '../escape.txt', content: 'x' }];
    await assert.rejects(executor().start(testSpec(['true'], { files })), PermanentError);
    assert.equal(existsSync(path.join(runsDir, 'escape.txt')), false);
  });
});

describe('process executor: environment and files', () => {
  it('passes only the allow-listed part of jobwire’s environment, plus the job’s env', async () => {
    process.env.JOBWIRE_TEST_SECRET = 'hunter2';
    try {
      const result = await run(['env'], { env: { GREETING: 'hi', JOBWIRE_JOB: 'test' } });
      const names = output(result)
        .split('\n')
        .filter((line) => line.includes('='))
        .map((line) => line.slice(0, line.indexOf('=')));
      assert.ok(!names.includes('JOBWIRE_TEST_SECRET'));
      assert.ok(!output(result).includes('hunter2'));
      assert.ok(output(result).includes(`PATH=${process.env.PATH}\n`));
      const allowed = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'USER', 'SHELL'];
      const expected = ['GREETING', 'JOBWIRE_JOB', 'JOBWIRE_MESSAGE', 'JOBWIRE_OUTPUT', 'JOBWIRE_RUN_ID', 'JOBWIRE_WORKDIR'];
      for (const name of names) assert.ok(allowed.includes(name) || expected.includes(name), `unexpected ${name}`);
      for (const name of expected) assert.ok(names.includes(name), `missing ${name}`);
    } finally {
      delete process.env.JOBWIRE_TEST_SECRET;
    }
  });

  it('copies files with their relative paths and exposes the message via $JOBWIRE_MESSAGE', async () => {
    const source = path.join(root, 'src-script.sh');
    await writeFile(source, '#!/bin/sh\necho from-script\n', { mode: 0o755 });
    const files = [
      { path: 'tools/bin/run.sh', from: source },
      { path: 'data/input.txt', content: 'inline content' },
    ];
    const messageJson = JSON.stringify({ body: { hello: 'world' } });
    const result = await run(
      bash('./tools/bin/run.sh; cat data/input.txt; echo; cat "$JOBWIRE_MESSAGE"; echo; [ "$PWD" = "$JOBWIRE_WORKDIR" ] && echo same'),
      { files, messageJson },
    );
    assert.equal(output(result), `from-script\ninline content\n${messageJson}\nsame\n`);
    assert.deepEqual(await readdir(runsDir), []);
  });

  it('runs in a given workingDir, keeps it, and never shares message.json between concurrent runs', async () => {
    const workingDir = path.join(root, 'shared-workdir');
    await mkdir(workingDir);
    const exec = executor();
    const script = bash('sleep 0.2; printf "%s|%s" "$PWD" "$(cat "$JOBWIRE_MESSAGE")"');
    const messages = ['{"n":1}', '{"n":2}', '{"n":3}'];
    const results = await Promise.all(messages.map((messageJson) => run(script, { workingDir, messageJson }, exec)));
    results.forEach((result, i) => assert.equal(output(result), `${workingDir}|${messages[i]}`));
    assert.deepEqual(await readdir(workingDir), []);
    assert.deepEqual(await readdir(runsDir), []);
  });
});

describe('process executor: outputs through $JOBWIRE_OUTPUT', () => {
  it('reports the JSON object the job wrote, and keeps the folder holding it until the end is released', async () => {
    const spec = testSpec(bash('printf \'{"version":"1.2.3","passed":true}\' > "$JOBWIRE_OUTPUT"; echo done'));
    const attempt = await executor().start(spec);
    const result = await attempt.done;
    assert.equal(output(result), 'done\n');
    assert.deepEqual(result.output, { kind: 'json', value: { version: '1.2.3', passed: true } });
    const folder = path.join(runsDir, `${spec.runId}-1`);
    assert.equal(existsSync(path.join(folder, 'output.json')), true, 'a crash before the store has the end must not lose the output');
    attempt.release?.();
    await waitUntil(() => !existsSync(folder), 'the folder goes once the end is released');
  });

  it('reports no output when the job wrote none, and removes the folder before done resolves', async () => {
    const result = await run(bash('echo "$JOBWIRE_OUTPUT"'));
    assert.deepEqual(result.output, { kind: 'none' });
    assert.match(output(result), new RegExp(`^${runsDir}/[^/]+-1/output\\.json\n$`));
    assert.deepEqual(await readdir(runsDir), []);
  });

  it('reports an output it cannot take as invalid, whatever the exit code, with the reason', async () => {
    const exec = executor();
    const cases: Array<[string[], Partial<RunSpec>, string | RegExp]> = [
      [bash('echo "version=1" > "$JOBWIRE_OUTPUT"'), {}, /^output is not JSON: /],
      [bash('echo "[1,2]" > "$JOBWIRE_OUTPUT"; exit 4'), {}, 'output must be a JSON object, got array'],
      [bash('printf \'{"a":"0123456789"}\' > "$JOBWIRE_OUTPUT"'), { maxOutputBytes: 10 }, 'output is 18 bytes, over limits.maxOutputSize 10'],
    ];
    for (const [argv, extra, error] of cases) {
      const attempt = await exec.start(testSpec(argv, extra));
      const result = await attempt.done;
      attempt.release?.();
      assert.equal(result.output?.kind, 'invalid', JSON.stringify(result.output));
      const message = result.output?.kind === 'invalid' ? result.output.error : '';
      if (typeof error === 'string') assert.equal(message, error);
      else assert.match(message, error);
    }
  });

  it('keeps the output in the run folder when the job has its own workingDir, which stays clean', async () => {
    const workingDir = path.join(root, 'output-workdir');
    await mkdir(workingDir);
    const attempt = await executor().start(testSpec(bash('echo \'{"where":"run folder"}\' > "$JOBWIRE_OUTPUT"; dirname "$JOBWIRE_OUTPUT"'), { workingDir }));
    const result = await attempt.done;
    attempt.release?.();
    assert.deepEqual(result.output, { kind: 'json', value: { where: 'run folder' } });
    assert.notEqual(output(result).trim(), workingDir);
    assert.deepEqual(await readdir(workingDir), []);
  });

  it('reports the output of an attempt that was stopped', async () => {
    const attempt = await executor({ killGraceMs: 200 }).start(testSpec(bash('echo \'{"partial":true}\' > "$JOBWIRE_OUTPUT"; echo ready; sleep 100')));
    await waitUntilAsync(async () => (await attempt.readLog()).text === 'ready\n', 'the job wrote its output');
    attempt.stop('cancel');
    const result = await attempt.done;
    attempt.release?.();
    assert.equal(result.kind, 'stopped');
    assert.deepEqual(result.output, { kind: 'json', value: { partial: true } });
  });
});

describe('process executor: message data never becomes code', () => {
  const marker = (name: string): string => path.join(root, `pwned-${name}`);
  const nasty = [
    `$(touch ${marker('subst')})`,
    `\`touch ${marker('backtick')}\``,
    `; touch ${marker('semicolon')}`,
    `&& touch ${marker('and')} || touch ${marker('or')} | touch ${marker('pipe')}`,
    `'"'"' "; touch ${marker('quote')}; echo "`,
    `line1\nline2\r\n\ttab`,
    `\x01\x02\x1b[31mred\x7f é ☃ 😀 ${'\\'}n %s %d $HOME \${PATH}`,
  ].join(' ');

  it('delivers env values byte for byte without executing them', async () => {
    const result = await run(bash('printf "%s" "$NASTY"'), { env: { NASTY: nasty } });
    assert.equal(output(result), nasty);
    assert.deepEqual(
      (await readdir(root)).filter((name) => name.startsWith('pwned-')),
      [],
    );
  });

  it('delivers the message JSON byte for byte without executing it', async () => {
    const messageJson = JSON.stringify({ id: nasty, topic: nasty, headers: { [nasty]: nasty }, body: { text: nasty } });
    const result = await run(bash('cat "$JOBWIRE_MESSAGE"'), { messageJson });
    const printed = output(result);
    assert.equal(printed, messageJson);
    assert.deepEqual(JSON.parse(printed), JSON.parse(messageJson));
    assert.deepEqual(
      (await readdir(root)).filter((name) => name.startsWith('pwned-')),
      [],
    );
  });

  it('rejects a NUL byte in an env value with PermanentError instead of truncating it', async () => {
    await assert.rejects(executor().start(testSpec(['true'], { env: { BAD: 'a\0b' } })), PermanentError);
  });
});

describe('process executor: stopping', { timeout: 60_000 }, () => {
  it('stop("timeout") kills the whole group with SIGTERM, grandchildren included', async () => {
    const attempt = await executor({ killGraceMs: 60_000 }).start(testSpec(bash('sleep 100 & echo $!; sleep 100; wait')));
    const grandchild = await firstPrintedPid(() => attempt.readLog());
    const began = Date.now();
    attempt.stop('timeout');
    attempt.stop('timeout');
    const result = await attempt.done;
    assert.equal(result.kind, 'stopped');
    // Far below the 60 s grace: SIGTERM alone did it, SIGKILL was not needed.
    assert.ok(Date.now() - began < 30_000);
    await waitUntil(() => !isRunning(grandchild), 'the grandchild is gone');
  });

  it('takes the SIGKILL path when the group ignores SIGTERM', async () => {
    const killGraceMs = 300;
    const attempt = await executor({ killGraceMs }).start(testSpec(bash('trap "" TERM; sleep 100 & echo $!; sleep 100; wait')));
    const grandchild = await firstPrintedPid(() => attempt.readLog());
    const began = Date.now();
    attempt.stop('timeout');
    const result = await attempt.done;
    assert.equal(result.kind, 'stopped');
    // SIGKILL is only sent when the grace timer fires, so this bound is exact, not a guess.
    assert.ok(Date.now() - began >= killGraceMs - 5);
    await waitUntil(() => !isRunning(grandchild), 'the grandchild is gone');
  });

  it('does not hang when a process that left the group keeps the pipes open', async () => {
    const attempt = await executor({ killGraceMs: 200 }).start(testSpec(bash('setsid sleep 100 & echo $!; sleep 100')));
    const escaped = await firstPrintedPid(() => attempt.readLog());
    // `setsid` may not have run yet when the pid is printed: stop only once it left our group.
    await waitUntil(() => sessionOf(escaped) === escaped, 'the background process has its own session');
    attempt.stop('cancel');
    assert.equal((await attempt.done).kind, 'stopped');
    assert.ok(isRunning(escaped), 'the escaped process is outside our group, so it survives');
    process.kill(escaped, 'SIGKILL');
  });

  it('stop() after the leader exited ends a run whose background child holds the pipes', async () => {
    const attempt = await executor({ killGraceMs: 60_000 }).start(testSpec(bash('sleep 100 & echo $!')));
    const grandchild = await firstPrintedPid(() => attempt.readLog());
    attempt.stop('timeout');
    assert.equal((await attempt.done).kind, 'stopped');
    await waitUntil(() => !isRunning(grandchild), 'the grandchild is gone');
  });

  it('kills background processes a finished run left in its group', async () => {
    const result = await run(bash('sleep 100 >/dev/null 2>&1 & echo $!'));
    assert.equal(result.kind, 'exited');
    const leftover = Number(output(result).trim());
    strays.add(leftover);
    await waitUntil(() => !isRunning(leftover), 'the leftover is gone');
  });

  it('close() stops live attempts and waits for them', async () => {
    const exec = createProcessExecutor({ name: 'local', runsDir, maxLogBytes: 1024, killGraceMs: 200 });
    const attempt = await exec.start(testSpec(['sleep', '100']));
    await exec.close();
    assert.equal((await attempt.done).kind, 'stopped');
    await assert.rejects(exec.start(testSpec(['true'])));
  });
});

describe('process executor: bounded logs', () => {
  it('keeps head and tail of 5 MiB of output and counts the dropped bytes exactly', async () => {
    const total = 5 * 1024 * 1024;
    const maxLogBytes = 64 * 1024;
    const filler = total - 'START'.length - 'END'.length;
    const result = await run(bash(`printf START; head -c ${filler} /dev/zero | tr '\\0' x; printf END`), {}, executor({ maxLogBytes }));
    assert.equal(result.kind, 'exited');
    assert.equal(result.log.totalBytes, total);
    assert.equal(result.log.droppedBytes, total - maxLogBytes);
    const marker = droppedMarker(total - maxLogBytes);
    assert.equal(result.log.text, `START${'x'.repeat(maxLogBytes / 2 - 5)}${marker}${'x'.repeat(maxLogBytes / 2 - 3)}END`);
  });
});

describe('process executor: recovery after a crash', () => {
  function runRecord(id: string, handle: string | null): RunRecord {
    return inFlightRun({ id, job: 'test', executor: 'local', handle });
  }

  /** Stands in for a process a crashed jobwire left behind. */
  function orphan(runId: string): { pid: number; exited: Promise<NodeJS.Signals | null> } {
    const child = spawn('sleep', ['100'], {
      detached: true,
      stdio: 'ignore',
      env: { PATH: process.env.PATH, JOBWIRE_RUN_ID: runId },
    });
    assert.ok(child.pid !== undefined);
    strays.add(child.pid);
    return { pid: child.pid, exited: new Promise((resolve) => child.once('exit', (_code, signal) => resolve(signal))) };
  }

  it('kills a live orphan whose environment names the run', async () => {
    const runId = newId();
    const { pid, exited } = orphan(runId);
    await waitUntil(() => readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sleep'), 'the orphan exec’d');
    const recovered = await executor().recover(runRecord(runId, `pid:${pid}`));
    assert.deepEqual(recovered, {
      kind: 'lost',
      reason: `the process spawner that supervised the run is gone (pid ${pid} was still running and was killed)`,
    });
    assert.equal(await exited, 'SIGKILL');
  });

  it('leaves alone a live process whose environment names another run (a reused pid)', async () => {
    const { pid } = orphan(newId());
    await waitUntil(() => readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sleep'), 'the process exec’d');
    const recovered = await executor().recover(runRecord(newId(), `pid:${pid}`));
    assert.deepEqual(recovered, { kind: 'lost', reason: 'the process is gone and so is its supervisor (the machine restarted, or the spawner was killed)' });
    assert.ok(isRunning(pid));
    process.kill(pid, 'SIGKILL');
  });

  it('reports a missing or unparsable handle as gone', async () => {
    for (const handle of [null, 'job:abc', 'pid:', 'pid:0']) {
      const recovered = await executor().recover(runRecord(newId(), handle));
      assert.equal(recovered.kind, 'lost');
    }
  });

  it('reports a run that was claimed but never spawned as not started', async () => {
    const recovered = await executor().recover(inFlightRun({ id: newId(), job: 'test', executor: 'local', handle: null, status: 'starting', startedAt: null }));
    assert.equal(recovered.kind, 'not-started');
  });
});
