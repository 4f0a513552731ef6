/**
 * The container executor against a real podman and a real image (localhost/jobwire-test-busybox:1,
 * built from Debian's busybox-static by .ci/podman.sh, which this file runs first: it is fast
 * and idempotent when CI already ran it). Every test asserts what is left behind too: no
 * container with the run's label, no run folder.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { pino, type Logger } from 'pino';
import type { ContainerExecutorSettings } from '../src/config/types.js';
import { PermanentError } from '../src/core/errors.js';
import { newId } from '../src/core/ids.js';
import type { RunRecord } from '../src/core/run.js';
import type { AttemptResult, Executor, RunSpec } from '../src/executors/executor.js';
import { createContainerExecutor, type ContainerExecutorOptions } from '../src/executors/container/container-executor.js';
import { buildRunPlan } from '../src/executors/container/run-args.js';
import { bytesArgument, cpuSharesArgument, cpusArgument } from '../src/executors/container/quantity.js';
import { droppedMarker } from '../src/executors/log-capture.js';
import { eventually } from './support/eventually.js';
import { testSpec } from './support/run-spec.js';
import { inFlightRun } from './support/run-record.js';

const run = promisify(execFile);
const IMAGE = 'localhost/jobwire-test-busybox:1';
const REPO = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
const EXECUTOR_MODULE = new URL('../src/executors/container/container-executor.js', import.meta.url).href;
const root = mkdtempSync(path.join(tmpdir(), 'jobwire-container-'));
const runsDir = path.join(root, 'runs');
const executors: Executor[] = [];
const silent: Logger = pino({ level: 'silent' });
const SETTINGS: ContainerExecutorSettings = { engine: 'podman', network: 'none', workingDir: '/jobwire/work', defaults: {} };

before(async () => {
  await run('bash', [path.join(REPO, '.ci/podman.sh')], { timeout: 600_000 });
});

after(async () => {
  await Promise.all(executors.map((executor) => executor.close()));
  // Anything a failed test left: containers of this file's runs carry its job label.
  const { stdout } = await podman(['ps', '--all', '--filter', 'label=jobwire.dev/job=container-test', '--format', '{{.Names}}']);
  for (const name of stdout.split('\n').filter((line) => line !== '')) await podman(['rm', '--force', name]).catch(() => undefined);
  await rm(root, { recursive: true, force: true });
});

function podman(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run('podman', args, { maxBuffer: 16 * 1024 * 1024 });
}

/** A pino logger whose JSON lines land in `lines`. */
function capture(lines: string[]): Logger {
  return pino({ level: 'info' }, new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(chunk.toString()), done()) }));
}

function executor(options: Partial<ContainerExecutorOptions> = {}): Executor {
  const created = createContainerExecutor({ name: 'containers', settings: SETTINGS, runsDir, maxLogBytes: 1 << 20, logger: silent, ...options });
  executors.push(created);
  return created;
}

function spec(argv: string[], extra: Partial<RunSpec> = {}): RunSpec {
  return testSpec(argv, { job: 'container-test', image: IMAGE, ...extra });
}

async function runToEnd(argv: string[], extra: Partial<RunSpec> = {}, exec: Executor = executor()): Promise<AttemptResult> {
  const attempt = await exec.start(spec(argv, extra));
  return attempt.done;
}

/** Names of containers labelled with the run's id, whatever their state. */
async function containersOf(runId: string): Promise<string[]> {
  const { stdout } = await podman(['ps', '--all', '--filter', `label=jobwire.dev/run-id=${runId}`, '--format', '{{.Names}}']);
  return stdout.split('\n').filter((line) => line !== '');
}

async function assertNothingLeft(runId: string): Promise<void> {
  assert.deepEqual(await containersOf(runId), [], 'no container of the run is left');
  const left = existsSync(runsDir) ? (await readdir(runsDir)).filter((name) => name.startsWith(runId)) : [];
  assert.deepEqual(left, [], 'no run folder or env file is left');
}

function exitedWith(result: AttemptResult, code: number): string {
  assert.equal(result.kind, 'exited', `expected an exit, got ${JSON.stringify(result)}`);
  assert.equal(result.exitCode, code, `exit code (log: ${result.log.text})`);
  return result.log.text;
}

function runRecord(id: string, attempts = 1): RunRecord {
  return inFlightRun({ id, job: 'container-test', executor: 'containers', handle: `jobwire-${id}-${attempts}`, attempts });
}

describe('container executor: command line', () => {
  const plan = (extra: Partial<RunSpec>, settings: ContainerExecutorSettings = SETTINGS) =>
    buildRunPlan({ spec: spec(['sh', '-c', 'true'], extra), settings, engine: 'podman', hostDir: '/data/runs/r-1', envFilePath: '/data/runs/r-1.env', init: true }, 'message.json');

  it('never puts env values on the command line', () => {
    const value = '$(touch /tmp/pwned) `id` --privileged';
    const built = plan({ env: { TOKEN: value, PATH: `/bin:${value}` } });
    assert.ok(!built.args.some((arg) => arg.includes('touch')), built.args.join(' '));
    assert.ok(built.args.includes('--env=TOKEN'));
    assert.equal(built.env['TOKEN'], value);
    assert.equal(built.env['PATH'], undefined, 'PATH is the engine\'s own: it goes to the env file');
    assert.match(built.envFile ?? '', /^PATH=\/bin:\$\(touch/m);
    assert.ok(built.args.includes('--env-file=/data/runs/r-1.env'));
  });

  it('names output.json in the mounted working directory as JOBWIRE_OUTPUT', () => {
    assert.equal(plan({}).env['JOBWIRE_OUTPUT'], '/jobwire/work/output.json');
    assert.equal(plan({ workingDir: '/srv/job' }).env['JOBWIRE_OUTPUT'], '/srv/job/output.json');
  });

  it('converts Kubernetes quantities', () => {
    assert.equal(cpusArgument('500m'), '0.5');
    assert.equal(cpusArgument('2'), '2');
    assert.equal(cpusArgument('1.5'), '1.5');
    assert.equal(bytesArgument('256Mi'), String(256 * 1024 ** 2));
    assert.equal(bytesArgument('1G'), '1000000000');
    assert.equal(bytesArgument('1.5Ki'), '1536');
    assert.equal(bytesArgument('1e3'), '1000');
    assert.equal(cpuSharesArgument('100m'), '102');
    assert.throws(() => bytesArgument('12 parsecs'), PermanentError);
  });

  it('maps resources and pull policy, and refuses what an engine cannot enforce', () => {
    const built = plan({ runtime: { imagePullPolicy: 'Never', resources: { requests: { cpu: '250m', memory: '64Mi' }, limits: { cpu: '1' } } } });
    for (const arg of ['--pull=never', '--cpus=1', '--cpu-shares=256', `--memory-reservation=${64 * 1024 ** 2}`]) assert.ok(built.args.includes(arg), arg);
    assert.throws(() => plan({ runtime: { resources: { limits: { 'nvidia.com/gpu': '1' } } } }), /only limit cpu and memory, not resources.limits.nvidia.com\/gpu/);
    assert.throws(() => plan({ secretEnv: [{ name: 'TOKEN', secret: 's', key: 'k' }] }), PermanentError);
  });
});

describe('container executor: runs', () => {
  it('runs the argv in the image and captures stdout and stderr', async () => {
    const s = spec(['sh', '-c', 'echo hello; echo oops >&2']);
    const result = await (await executor().start(s)).done;
    assert.equal(exitedWith(result, 0), 'hello\noops\n');
    await assertNothingLeft(s.runId);
  });

  it('reports a non-zero exit code', async () => {
    const s = spec(['sh', '-c', 'echo failing; exit 42']);
    const result = await (await executor().start(s)).done;
    assert.equal(exitedWith(result, 42), 'failing\n');
    await assertNothingLeft(s.runId);
  });

  it('passes hostile env values byte for byte and never executes them', async () => {
    const marker = path.join(root, `pwned-${newId()}`);
    const hostile = {
      SUBSHELL: `$(touch ${marker}) $(touch /tmp/pwned)`,
      BACKTICKS: '`touch /tmp/pwned` `id`',
      QUOTES: `"double" 'single' \\"escaped\\" ; touch /tmp/pwned &&`,
      NEWLINES: 'line one\nline two\r\n\nlast; touch /tmp/pwned',
      SPACES: '  leading and trailing  ',
      EQUALS: 'a=b=c --env=X -e Y',
      UNICODE: 'Grüße ✓ 日本',
      EMPTY: '',
      // Read by the engine itself: travels through the env file, still verbatim.
      HTTP_PROXY: `$(touch ${marker}) \`id\` "q" 'r'`,
      PATH: '/bin:/usr/bin:$(touch /tmp/pwned)',
    };
    const names = Object.keys(hostile);
    // Each value framed by <<< >>>, so trailing spaces and newlines are visible.
    const script = `for n in ${names.join(' ')}; do eval "v=\\$$n"; printf '%s=<<<%s>>>\\n' "$n" "$v"; done; ls /tmp`;
    const result = await runToEnd(['sh', '-c', script], { env: hostile });
    const expected = names.map((name) => `${name}=<<<${hostile[name as keyof typeof hostile]}>>>\n`).join('');
    assert.equal(exitedWith(result, 0), expected, 'values arrive unchanged and /tmp in the container stays empty');
    assert.equal(existsSync(marker), false, 'nothing ran on the host');
  });

  it('refuses a line break in a variable the engine reads itself', async () => {
    const s = spec(['true'], { env: { LD_PRELOAD: 'a\nb' } });
    await assert.rejects(executor().start(s), (error: unknown) => {
      assert.ok(error instanceof PermanentError);
      assert.match(error.message, /LD_PRELOAD cannot hold a line break/);
      return true;
    });
    await assertNothingLeft(s.runId);
  });

  it('mounts files and message.json at the working directory, with JOBWIRE_MESSAGE pointing there', async () => {
    const source = path.join(root, 'script.sh');
    await writeFile(source, 'echo "from a file: $1"\n', { mode: 0o644 });
    const message = JSON.stringify({ body: { text: 'hi $(id) `id`' } });
    const script = 'pwd; echo "$JOBWIRE_MESSAGE $JOBWIRE_WORKDIR"; cat "$JOBWIRE_MESSAGE"; echo; cat conf/settings.ini; sh tools/script.sh ok; echo written > out.txt && cat out.txt';
    const files = [
      { path: 'conf/settings.ini', content: 'level=debug\n' },
      { path: 'tools/script.sh', from: source },
    ];
    const result = await runToEnd(['sh', '-c', script], { files, messageJson: message });
    assert.equal(
      exitedWith(result, 0),
      `/jobwire/work\n/jobwire/work/message.json /jobwire/work\n${message}\nlevel=debug\nfrom a file: ok\nwritten\n`,
    );
  });

  it('reports the JSON object the container wrote to $JOBWIRE_OUTPUT, read on the host, and leaves nothing behind', async () => {
    const s = spec(['sh', '-c', 'echo "$JOBWIRE_OUTPUT"; echo \'{"image":"busybox","ok":true}\' > "$JOBWIRE_OUTPUT"; exit 2']);
    const result = await (await executor().start(s)).done;
    assert.equal(exitedWith(result, 2), '/jobwire/work/output.json\n');
    assert.deepEqual(result.output, { kind: 'json', value: { image: 'busybox', ok: true } });
    await assertNothingLeft(s.runId);
  });

  it('reports no output, or an invalid one with its reason, the same way as the process executor', async () => {
    const none = await runToEnd(['sh', '-c', 'true']);
    assert.deepEqual(none.output, { kind: 'none' });
    const array = await runToEnd(['sh', '-c', 'echo "[1]" > "$JOBWIRE_OUTPUT"']);
    assert.deepEqual(array.output, { kind: 'invalid', error: 'output must be a JSON object, got array' });
    const large = await runToEnd(['sh', '-c', 'echo \'{"a":"0123456789"}\' > "$JOBWIRE_OUTPUT"'], { maxOutputBytes: 10 });
    assert.deepEqual(large.output, { kind: 'invalid', error: 'output is 19 bytes, over limits.maxOutputSize 10' });
    // A link the container makes to a host path must not make jobwire read that host file.
    const link = await runToEnd(['sh', '-c', `ln -s ${path.join(root, 'secret.json')} "$JOBWIRE_OUTPUT"`]);
    assert.deepEqual(link.output, { kind: 'invalid', error: 'output is a symbolic link; write the JSON to the file itself' });
  });

  it("uses the job's own workingDir as the path in the container", async () => {
    const result = await runToEnd(['sh', '-c', 'pwd; cat "$JOBWIRE_MESSAGE"'], { workingDir: '/srv/job', messageJson: '{"n":1}' });
    assert.equal(exitedWith(result, 0), '/srv/job\n{"n":1}');
  });

  it('applies cpu and memory limits (Kubernetes quantities) to the container', async () => {
    const script =
      'cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes; ' +
      '(cat /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) | cut -d" " -f1';
    const settings: ContainerExecutorSettings = { ...SETTINGS, defaults: { resources: { limits: { cpu: '2', memory: '1Gi' } } } };
    // The job's cpu wins over the executor default; the default memory is replaced too.
    const runtime = { resources: { limits: { cpu: '500m', memory: '64Mi' } } };
    const result = await runToEnd(['sh', '-c', script], { runtime }, executor({ settings }));
    assert.equal(exitedWith(result, 0), `${64 * 1024 * 1024}\n50000\n`);
  });

  it('keeps head and tail of a large output and counts the dropped bytes exactly', async () => {
    const maxLogBytes = 64 * 1024;
    const lines = 100_000;
    const full = Array.from({ length: lines }, (_, i) => `${i + 1}\n`).join('');
    const result = await runToEnd(['seq', '1', String(lines)], {}, executor({ maxLogBytes }));
    assert.equal(result.kind, 'exited');
    assert.equal(result.log.totalBytes, full.length);
    assert.equal(result.log.droppedBytes, full.length - maxLogBytes);
    const half = maxLogBytes / 2;
    assert.equal(result.log.text, full.slice(0, half) + droppedMarker(full.length - maxLogBytes) + full.slice(full.length - half));
  });

  it('fails permanently, with the engine\'s words, when the image is missing and pulls are off', async () => {
    const s = spec(['true'], { image: 'localhost/jobwire-no-such-image:1', runtime: { imagePullPolicy: 'Never' } });
    await assert.rejects(executor().start(s), (error: unknown) => {
      assert.ok(error instanceof PermanentError);
      assert.match(error.message, /localhost\/jobwire-no-such-image:1/);
      assert.match(error.message, /image not known/);
      return true;
    });
    await assertNothingLeft(s.runId);
  });

  it('fails permanently when the command does not exist in the image', async () => {
    const s = spec(['/no/such/program']);
    // With --init the container starts and its init fails to exec; without, the start fails.
    const failure = await executor()
      .start(s)
      .then(
        async (attempt) => {
          const result = await attempt.done;
          assert.equal(result.kind, 'error', `expected an error, got ${JSON.stringify(result)}`);
          return result.kind === 'error' ? result.error : undefined;
        },
        (error: unknown) => error,
      );
    assert.ok(failure instanceof PermanentError, String(failure));
    assert.match(failure.message, /\/no\/such\/program/);
    assert.match(failure.message, /image localhost\/jobwire-test-busybox:1/);
    assert.match(failure.message, /no such file or directory/i);
    await assertNothingLeft(s.runId);
  });
});

describe('container executor: stop', () => {
  it('stops a sleeping container on cancel and leaves nothing behind', async () => {
    const s = spec(['sh', '-c', 'echo sleeping; sleep 600']);
    const attempt = await executor().start(s);
    assert.deepEqual(await containersOf(s.runId), [attempt.handle]);
    await eventually('the container to print', async () => ((await attempt.readLog()).text === 'sleeping\n' ? true : undefined), 20_000, 200);
    attempt.stop('cancel');
    const result = await attempt.done;
    assert.equal(result.kind, 'stopped');
    assert.equal(result.log.text, 'sleeping\n');
    await assertNothingLeft(s.runId);
  });

  it('kills a container that ignores SIGTERM once the grace is over (timeout)', async () => {
    const s = spec(['sh', '-c', "trap '' TERM; echo stubborn; while true; do sleep 1; done"]);
    const attempt = await executor({ stopGraceMs: 1000 }).start(s);
    await eventually('the container to print', async () => ((await attempt.readLog()).text === 'stubborn\n' ? true : undefined), 20_000, 200);
    attempt.stop('timeout');
    attempt.stop('timeout');
    const result = await attempt.done;
    assert.equal(result.kind, 'stopped');
    await assertNothingLeft(s.runId);
  });

  it('stops running containers when the executor closes', async () => {
    const exec = executor();
    const s = spec(['sleep', '600']);
    const attempt = await exec.start(s);
    await exec.close();
    assert.equal((await attempt.done).kind, 'stopped');
    await assertNothingLeft(s.runId);
    await assert.rejects(exec.start(spec(['true'])), /closed/);
  });
});

describe('container executor: recovery after a crash', () => {
  /**
   * Starts the spec from a separate jobwire-like process and SIGKILLs that process once the
   * container runs: what a crash leaves behind. The container waits for a `go` file in its
   * working directory, so the test decides when it ends.
   */
  async function startThenCrash(s: RunSpec): Promise<void> {
    const script = `
      const { createContainerExecutor } = await import(process.argv[1]);
      const logger = { info() {}, warn() {}, error() {}, debug() {}, child() { return logger; } };
      const executor = createContainerExecutor({ ...JSON.parse(process.argv[2]), logger });
      const attempt = await executor.start(JSON.parse(process.argv[3]));
      process.stdout.write('started ' + attempt.handle + '\\n');
      setInterval(() => {}, 60_000);`;
    const options = { name: 'containers', settings: SETTINGS, runsDir, maxLogBytes: 1 << 20 };
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, EXECUTOR_MODULE, JSON.stringify(options), JSON.stringify(s)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    let out = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('\n')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`the crashing process exited early (${code}): ${out}`)));
    });
    assert.equal(out, `started jobwire-${s.runId}-1\n`);
    child.kill('SIGKILL');
    await exited;
  }

  const waitForGo = ['sh', '-c', 'echo before; while [ ! -e go ]; do sleep 0.1; done; echo after; echo \'{"after":"crash"}\' > "$JOBWIRE_OUTPUT"; exit 7'];
  const go = (s: RunSpec): Promise<void> => writeFile(path.join(runsDir, `${s.runId}-1`, 'go'), '');

  it('adopts a container that is still running and reports its end', async () => {
    const s = spec(waitForGo);
    await startThenCrash(s);
    assert.deepEqual(await containersOf(s.runId), [`jobwire-${s.runId}-1`], 'the container outlived the crash');
    const recovered = await executor().recover(runRecord(s.runId));
    assert.equal(recovered.kind, 'adopted');
    assert.equal(recovered.attempt.handle, `jobwire-${s.runId}-1`);
    await eventually('the adopted log', async () => ((await recovered.attempt.readLog()).text === 'before\n' ? true : undefined), 20_000, 200);
    await go(s);
    const result = await recovered.attempt.done;
    assert.equal(exitedWith(result, 7), 'before\nafter\n');
    assert.deepEqual(result.output, { kind: 'json', value: { after: 'crash' } });
    await assertNothingLeft(s.runId);
  });

  it('adopts a container that exited while jobwire was down, with its exit code and log', async () => {
    const s = spec(waitForGo);
    await startThenCrash(s);
    await go(s);
    const name = `jobwire-${s.runId}-1`;
    await eventually('the container to exit', async () => {
      const { stdout } = await podman(['inspect', '--format', '{{.State.Status}}', name]);
      return stdout.trim() === 'exited' ? true : undefined;
    }, 20_000, 200);
    const recovered = await executor().recover(runRecord(s.runId));
    assert.equal(recovered.kind, 'adopted');
    const result = await recovered.attempt.done;
    assert.equal(exitedWith(result, 7), 'before\nafter\n');
    assert.deepEqual(result.output, { kind: 'json', value: { after: 'crash' } }, 'the output written while jobwire was down');
    await assertNothingLeft(s.runId);
  });

  it('reports a run whose container is gone as lost', async () => {
    const runId = newId();
    const recovered = await executor().recover(runRecord(runId));
    assert.equal(recovered.kind, 'lost');
    assert.match(recovered.kind === 'lost' ? recovered.reason : '', /no podman container of it was found/);
  });

  it('removes a container that was created but never started, and reports the run not started', async () => {
    const runId = newId();
    const name = `jobwire-${runId}-1`;
    await podman(['create', '--name', name, '--label', `jobwire.dev/run-id=${runId}`, '--label', 'jobwire.dev/job=container-test', IMAGE, 'true']);
    const recovered = await executor().recover(runRecord(runId));
    assert.equal(recovered.kind, 'not-started');
    assert.match(recovered.kind === 'not-started' ? recovered.reason : '', /never ran/);
    await assertNothingLeft(runId);
  });
});

describe('container executor: engines', () => {
  it('runs without --init when the engine has no init binary, and says so once', async () => {
    // A podman config like the CI one, but whose init binary does not exist.
    const ciConfig = await readFile('/etc/containers/containers.conf.d/jobwire-ci.conf', 'utf8');
    const ulimits = /^default_ulimits = .*$/m.exec(ciConfig)?.[0] ?? '';
    const config = path.join(root, 'no-init.conf');
    await writeFile(config, `[containers]\n${ulimits}\ninit_path = "/nonexistent/catatonit"\n[engine]\nruntime = "runc"\n`);
    const lines: string[] = [];
    const exec = executor({ baseEnv: { ...process.env, CONTAINERS_CONF: config }, logger: capture(lines) });
    assert.equal(exitedWith(await runToEnd(['echo', 'no init'], {}, exec), 0), 'no init\n');
    assert.equal(exitedWith(await runToEnd(['echo', 'still none'], {}, exec), 0), 'still none\n');
    const warnings = lines.filter((line) => line.includes('no init binary'));
    assert.equal(warnings.length, 1, 'the fallback is logged once');
    assert.match(warnings[0] ?? '', /catatonit/);
  });

  it('replaces a leftover container that has the attempt\'s name', async () => {
    const s = spec(['echo', 'fresh']);
    await podman(['create', '--name', `jobwire-${s.runId}-1`, '--label', `jobwire.dev/run-id=${s.runId}`, IMAGE, 'echo', 'stale']);
    assert.equal(exitedWith(await runToEnd(s.argv as string[], { runId: s.runId, env: s.env }), 0), 'fresh\n');
    await assertNothingLeft(s.runId);
  });

  it('names the engine and its error when the configured engine does not work', async () => {
    const settings: ContainerExecutorSettings = { ...SETTINGS, engine: 'docker' };
    const lines: string[] = [];
    const exec = executor({ settings, logger: capture(lines) });
    exec.prepare?.();
    const s = spec(['true']);
    await assert.rejects(exec.start(s), (error: unknown) => {
      assert.ok(error instanceof PermanentError);
      assert.match(error.message, /^container engine docker does not work: docker \(docker version: exit code 1\): Cannot connect to the Docker daemon/);
      assert.match(error.message, /docs\/container\.md/);
      return true;
    });
    await exec.start(spec(['true'])).catch(() => undefined);
    const logged = lines.map((line) => JSON.parse(line) as { level: number; msg: string });
    const errors = logged.filter((line) => line.level >= 50);
    assert.equal(errors.length, 1, 'prepare() logs the problem once');
    assert.match(errors[0]?.msg ?? '', /Cannot connect to the Docker daemon/);
    await assertNothingLeft(s.runId);
  });

  it('lists every engine it tried when none works', async () => {
    const exec = executor({ settings: { ...SETTINGS, engine: 'auto' }, commands: { podman: '/nonexistent/podman' } });
    await assert.rejects(exec.start(spec(['true'])), (error: unknown) => {
      assert.ok(error instanceof PermanentError);
      assert.match(error.message, /^no container engine works: tried \/nonexistent\/podman: not found in PATH; docker .*Cannot connect to the Docker daemon/);
      return true;
    });
  });

  it('picks podman when auto finds it', async () => {
    const exec = executor({ settings: { ...SETTINGS, engine: 'auto' } });
    assert.equal(exitedWith(await runToEnd(['echo', 'auto'], {}, exec), 0), 'auto\n');
  });
});
