/**
 * The three-stage pipeline of examples/pipeline end to end over RabbitMQ, with a real `jobwire
 * serve` killed with SIGKILL twice while the chain runs: N download messages → exactly N×4
 * post-processor runs and N reporter runs, every run succeeded, no side effect doubled, every
 * chained run carrying the correlation id of its download request.
 *
 * The example is used as shipped, with its queue names made unique for this test run.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';
import * as amqp from './support/amqp.js';
import { withBrokers } from './support/broker-lock.js';
import { eventually } from './support/eventually.js';
import { tempDir } from './support/harness.js';
import { startServe, type ServeProcess } from './support/serve-process.js';

const BATCHES = 30;
const FILES = 4;
const EXAMPLE = fileURLToPath(new URL('../../examples/pipeline/jobwire.yaml', import.meta.url));

function lines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter((line) => line !== '');
  } catch {
    return [];
  }
}

interface RunPage {
  runs: { id: string; job: string; status: string; correlationId: string; attempts: number }[];
  nextCursor: string | null;
}

async function allRuns(url: string): Promise<RunPage['runs']> {
  const runs: RunPage['runs'] = [];
  let cursor: string | null = null;
  do {
    const page = (await (await fetch(`${url}/v1/runs?limit=500${cursor === null ? '' : `&cursor=${cursor}`}`)).json()) as RunPage;
    runs.push(...page.runs);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return runs;
}

it('runs the examples/pipeline chain over RabbitMQ exactly once per step across two kill -9', { timeout: 600_000 }, () => withBrokers(['rabbitmq'], pipeline));

async function pipeline(): Promise<void> {
  await amqp.requireBroker();
  const prefix = amqp.uniqueName('pipeline');
  const dir = tempDir('jobwire-pipeline-');
  const out = path.join(dir, 'out');
  const file = path.join(dir, 'jobwire.yaml');
  writeFileSync(file, readFileSync(EXAMPLE, 'utf8').replaceAll('pipeline.', `${prefix}.`));
  const dataDir = path.join(dir, 'data');
  const env = { PIPELINE_DIR: out };
  const rabbit = await amqp.rawClient();
  const queues = ['download', 'postprocess', 'report'].map((stage) => `${prefix}.${stage}`);
  let serve: ServeProcess | undefined;
  try {
    serve = await startServe(file, dataDir, env);
    await rabbit.sendMany(
      `${prefix}.download`,
      Array.from({ length: BATCHES }, (_, i) => ({
        payload: JSON.stringify({ batch: `b${i}`, files: FILES }),
        options: { persistent: true, messageId: `download-${i}`, correlationId: `batch-${i}`, contentType: 'application/json' },
      })),
    );
    const processed = (): number => Array.from({ length: BATCHES }, (_, i) => lines(path.join(out, `processed-b${i}.txt`)).length).reduce((a, b) => a + b, 0);
    for (const threshold of [BATCHES, (BATCHES * FILES) / 2]) {
      const running = serve;
      await eventually(`${threshold} files processed before the kill`, () => (processed() >= threshold ? true : undefined), 60_000, 10);
      running.child.kill('SIGKILL');
      await running.exited;
      serve = await startServe(file, dataDir, env);
    }
    const last = serve;
    const runs = await eventually(
      'every stage ran and nothing is in flight',
      async () => {
        const found = await allRuns(last.url);
        const done = found.filter((run) => run.status === 'succeeded');
        return found.length === BATCHES * (FILES + 2) && done.length === found.length ? found : undefined;
      },
      90_000,
      200,
    );
    const count = (job: string): number => runs.filter((run) => run.job === job).length;
    assert.equal(count('downloader'), BATCHES);
    assert.equal(count('post-processor'), BATCHES * FILES, 'one post-processor run per file');
    assert.equal(count('reporter'), BATCHES, 'one report per batch');
    for (let i = 0; i < BATCHES; i++) {
      const processedFiles = lines(path.join(out, `processed-b${i}.txt`)).sort();
      assert.deepEqual(processedFiles, Array.from({ length: FILES }, (_, k) => `b${i}-part-${k + 1}.csv`), `batch b${i} processed once per file`);
      const chain = runs.filter((run) => run.correlationId === `batch-${i}`).map((run) => run.job).sort();
      assert.deepEqual(chain, ['downloader', ...Array<string>(FILES).fill('post-processor'), 'reporter'], `batch ${i}'s chain carries its correlation id`);
    }
    assert.deepEqual(lines(path.join(out, 'reports.txt')).sort(), Array.from({ length: BATCHES }, (_, i) => `b${i}: ${FILES} files`).sort());
    last.child.kill('SIGTERM');
    assert.equal(await last.exited, 0);
    serve = undefined;
  } finally {
    serve?.child.kill('SIGKILL');
    await rabbit.deleteQueues(...queues);
    await rabbit.close();
  }
}
