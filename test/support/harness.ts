/**
 * Starts a real jobwire in-process for a test: a config written to a temp folder, a real SQLite
 * file, the real process executor, the API on an ephemeral port. Logs are captured as parsed
 * JSON lines so tests can check what was logged.
 */
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createJobwire, type Jobwire, type JobwireOptions } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import type { RunStatus } from '../../src/core/run.js';
import { createLogger } from '../../src/log.js';

export interface Harness {
  readonly url: string;
  readonly dir: string;
  readonly jobwire: Jobwire;
  readonly logs: Record<string, unknown>[];
  post(pathname: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; json: any }>;
  get(pathname: string): Promise<{ status: number; json: any; text: string }>;
  waitForRun(id: string, statuses?: readonly RunStatus[], timeoutMs?: number): Promise<any>;
  close(): Promise<void>;
}

export const FINAL: readonly RunStatus[] = ['succeeded', 'failed', 'timed_out', 'cancelled'];

export function tempDir(prefix = 'jobwire-test-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface HarnessOptions {
  readonly files?: Record<string, string>;
  readonly env?: NodeJS.ProcessEnv;
  readonly dataDir?: string;
  readonly extra?: Partial<Pick<JobwireOptions, 'concurrency' | 'onRunEvent' | 'extraExecutors'>>;
}

export async function startHarness(yaml: string, options: HarnessOptions = {}): Promise<Harness> {
  const dir = tempDir();
  for (const [name, content] of Object.entries(options.files ?? {})) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), content, { mode: 0o755 });
  }
  const configFile = path.join(dir, 'jobwire.yaml');
  writeFileSync(configFile, yaml);
  const env = { ...process.env, ...options.env };
  const config = await loadConfig(configFile, env);
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  const logger = createLogger('debug', sink);
  const jobwire = createJobwire({ config, dataDir: options.dataDir ?? path.join(dir, 'data'), logger, processEnv: env, ...options.extra });
  await jobwire.start();
  const url = await jobwire.listen(0, '127.0.0.1');

  const harness: Harness = {
    url,
    dir,
    jobwire,
    logs,
    async post(pathname, body, headers = {}) {
      const hasContentType = Object.keys(headers).some((key) => key.toLowerCase() === 'content-type');
      const response = await fetch(url + pathname, {
        method: 'POST',
        headers: body === undefined || hasContentType ? headers : { 'content-type': 'application/json', ...headers },
        ...(body === undefined ? {} : { body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body) }),
      });
      const text = await response.text();
      return { status: response.status, json: text === '' ? undefined : JSON.parse(text) };
    },
    async get(pathname) {
      const response = await fetch(url + pathname);
      const text = await response.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: response.status, json, text };
    },
    async waitForRun(id, statuses = FINAL, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { json } = await harness.get(`/v1/runs/${id}`);
        if (json !== undefined && statuses.includes(json.status)) return json;
        if (Date.now() > deadline) throw new Error(`run ${id} did not reach ${statuses.join('/')} in ${timeoutMs} ms; last: ${JSON.stringify(json)}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    async close() {
      await jobwire.stop(2000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return harness;
}
