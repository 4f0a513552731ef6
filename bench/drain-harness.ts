/**
 * The jobwire side of the broker drain benchmarks (amqp, nats, stomp): the same config shape,
 * an in-process jobwire with a real SQLite store in a temp folder, the benchmark's NoopExecutor
 * standing in for `noop`, and a count of finished runs. Only the broker side (pre-loading, the
 * raw client's drain, the "everything acked" check) differs per bench, so it stays in each.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createJobwire, type Jobwire } from '../src/app.js';
import { loadConfig } from '../src/config/load.js';
import type { RunEvent } from '../src/dispatch/dispatcher.js';
import { createLogger } from '../src/log.js';
import { NoopExecutor } from './noop-executor.js';

/** The body every drain bench publishes: small JSON, as a typical event. */
export const PAYLOAD_JSON = JSON.stringify({ event: 'order.created', order: { id: 42, items: 3 } });

/**
 * A trigger filter no message passes: the message is matched (no job wants it), committed and
 * acked, no run is created — the consume → commit → ack path alone, without the run lifecycle's
 * writes.
 */
export const MATCH_NOTHING = ', if: "message.body.event == \'never\'"';

/** One source `name` (its settings as a YAML flow map) feeding one job `drain` on `topic`, run by `noop`. */
export function drainConfig(source: { name: string; settings: string }, topic: string, maxQueuedRuns: number, filter = ''): string {
  // maxQueuedRuns ≥ N: the intake is measured, not held back by the backlog of runs waiting.
  return `dispatcher: { concurrency: 16, maxQueuedRuns: ${maxQueuedRuns} }
sources:
  ${source.name}: ${source.settings}
executors:
  noop: { type: process }  # replaced by the benchmark's NoopExecutor of the same name
jobs:
  - name: drain
    on: [{ source: ${source.name}, topic: "${topic}"${filter} }]
    executor: noop
    command: ["true"]
`;
}

export interface DrainJobwire {
  readonly jobwire: Jobwire;
  /** Resolves once `expectedRuns` runs have finished; at once when it is undefined (no run expected). */
  readonly runsFinished: Promise<void>;
  /** Stops jobwire and deletes its temp folder. */
  stop(): Promise<void>;
}

/** A jobwire (not started) on `configYaml`, in a fresh temp folder named after `broker`. */
export async function drainJobwire(broker: string, configYaml: string, expectedRuns: number | undefined): Promise<DrainJobwire> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `jobwire-${broker}-bench-`));
  const configFile = path.join(dir, 'jobwire.yaml');
  writeFileSync(configFile, configYaml);
  const config = await loadConfig(configFile);
  let finished = 0;
  let onFinished = (): void => undefined;
  const onRunEvent = (event: RunEvent): void => {
    if (event.type === 'run.finished') {
      finished++;
      onFinished();
    }
  };
  const jobwire = createJobwire({ config, dataDir: path.join(dir, 'data'), logger: createLogger('silent'), extraExecutors: [new NoopExecutor('noop')], onRunEvent });
  const runsFinished =
    expectedRuns === undefined
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          onFinished = () => {
            if (finished >= expectedRuns) resolve();
          };
        });
  return {
    jobwire,
    runsFinished,
    async stop() {
      await jobwire.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
