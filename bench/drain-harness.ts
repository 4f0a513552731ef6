/**
 * The one definition every broker drain benchmark (amqp-drain, stomp-drain, nats-drain) measures:
 *
 *   raw      N messages pre-loaded on a fresh destination; the broker's ordinary Node client
 *            (one connection, the same prefetch) consumes and acks them all. The clock runs from
 *            the first consume to one broker round trip after the last ack.
 *   jobwire  N messages pre-loaded the same way on another fresh destination; an in-process
 *            jobwire (real SQLite store in a temp folder, jobwire's default dispatcher settings,
 *            one job every message triggers, run by the benchmark's NoopExecutor) is started.
 *            The clock runs from `start()` until every message has its run FINISHED — the run's
 *            final state committed, which comes after the message and its run were committed,
 *            which comes before the message's ack — and the broker confirms every ack (NATS:
 *            nothing pending or unacked; RabbitMQ: the queue empty one round trip later; STOMP
 *            cannot report unacked messages, so only the check below covers it).
 *   Both rates are N / seconds, measured in the same process run; the LAST LINE prints jobwire's
 *   rate, the raw rate and jobwire/raw (target ≥ 0.5).
 *
 * After jobwire stops — when anything left unacked returns to the broker — the destination must
 * be empty, or the bench fails. The line before the last gives, for diagnosis, the same
 * measurement with a trigger filter nothing passes (each message matched, committed and acked,
 * no run created): the intake path alone.
 *
 * Only the broker side (pre-loading, the raw drain, the ack checks) differs per bench: it is
 * the `DrainBroker` each bench passes to `runDrainBench`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { createJobwire } from '../src/app.js';
import { loadConfig } from '../src/config/load.js';
import type { RunEvent } from '../src/dispatch/dispatcher.js';
import { createLogger } from '../src/log.js';
import { NoopExecutor } from './noop-executor.js';

/** The body every drain bench publishes: small JSON, as a typical event. */
export const PAYLOAD_JSON = JSON.stringify({ event: 'order.created', order: { id: 42, items: 3 } });

/** A trigger filter no message passes: matched, committed and acked, no run created. */
const MATCH_NOTHING = ', if: "message.body.event == \'never\'"';

export type DrainMode = 'runs' | 'intake';

/** The broker side of one drain bench. */
export interface DrainBroker {
  /** E.g. `amqp`; names the bench, the source and its temp folder. */
  readonly name: string;
  /** E.g. `raw amqplib consume+ack`. */
  readonly rawLabel: string;
  /** A fresh destination named after `label`, holding `count` messages; returns the trigger topic. */
  preload(label: string, count: number): Promise<string>;
  /** The raw client drains `topic` (consume + ack every message); returns the seconds it took, as defined above. */
  rawDrain(topic: string, count: number): Promise<number>;
  /** The jobwire source's settings for `topic`, as a YAML flow map. */
  sourceSettings(topic: string, mode: DrainMode): string;
  /** Polled once every message is committed: true when the broker confirms all of them acked. */
  allAcked(topic: string, mode: DrainMode): Promise<boolean>;
  /** After jobwire stopped: how many messages are still on `topic` (must be 0). */
  leftAfterStop(topic: string, mode: DrainMode): Promise<number>;
  /** Deletes what the bench created. */
  cleanup(): Promise<void>;
}

export interface DrainOptions {
  readonly messages: number;
  readonly prefetch: number;
}

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function configYaml(broker: DrainBroker, topic: string, mode: DrainMode): string {
  return `sources:
  bench: ${broker.sourceSettings(topic, mode)}
executors:
  noop: { type: process }  # replaced by the benchmark's NoopExecutor of the same name
jobs:
  - name: drain
    on: [{ source: bench, topic: "${topic}"${mode === 'intake' ? MATCH_NOTHING : ''} }]
    executor: noop
    command: ["true"]
`;
}

/**
 * Messages committed so far, read through a second connection (WAL: it never blocks jobwire).
 * MAX(rowid) rather than COUNT(*): one b-tree descent instead of a scan, polled every 2 ms; the
 * bench deletes nothing, so the highest rowid is the count.
 */
function messageCounter(dbFile: string): { count(): number; close(): void } {
  let db: Database.Database | undefined;
  let statement: Database.Statement<[], number | null> | undefined;
  return {
    count() {
      db ??= new Database(dbFile, { readonly: true, fileMustExist: true });
      statement ??= db.prepare<[], number | null>('SELECT MAX(rowid) FROM messages').pluck();
      return statement.get() ?? 0;
    },
    close: () => db?.close(),
  };
}

/**
 * jobwire drains `topic` (`count` messages); returns the seconds, as defined at the top.
 * `onRunFinished` (runs mode) is told how many runs have finished, after each one.
 */
export async function jobwireDrain(
  broker: DrainBroker,
  topic: string,
  count: number,
  mode: DrainMode,
  onRunFinished?: (finished: number) => void,
): Promise<number> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `jobwire-${broker.name}-bench-`));
  try {
    const configFile = path.join(dir, 'jobwire.yaml');
    writeFileSync(configFile, configYaml(broker, topic, mode));
    const config = await loadConfig(configFile);
    let finished = 0;
    let allFinished!: () => void;
    const runsFinished = new Promise<void>((resolve) => {
      allFinished = resolve;
    });
    const onRunEvent = (event: RunEvent): void => {
      if (event.type !== 'run.finished') return;
      finished++;
      onRunFinished?.(finished);
      if (finished === count) allFinished();
    };
    const dataDir = path.join(dir, 'data');
    const extraExecutors = [new NoopExecutor('noop')];
    const jobwire = createJobwire({ config, dataDir, logger: createLogger('silent'), extraExecutors, onRunEvent });
    const committed = messageCounter(path.join(dataDir, 'jobwire.db'));
    let seconds: number;
    try {
      const begin = performance.now();
      await jobwire.start();
      if (mode === 'runs') await runsFinished;
      else while (committed.count() < count) await tick(2);
      while (!(await broker.allAcked(topic, mode))) await tick(2);
      seconds = (performance.now() - begin) / 1000;
    } finally {
      committed.close();
      await jobwire.stop();
    }
    if (mode === 'runs' && finished !== count) throw new Error(`${finished} runs finished, expected ${count}`);
    const left = await broker.leftAfterStop(topic, mode);
    if (left !== 0) throw new Error(`${mode}: ${left} messages were left on the broker after jobwire stopped: not every message was acked`);
    return seconds;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs one drain bench as defined at the top and prints its figures; the last line is the result. */
export async function runDrainBench(broker: DrainBroker, options: DrainOptions): Promise<void> {
  const { messages } = options;
  try {
    const topics = { raw: await broker.preload('raw', messages), intake: await broker.preload('intake', messages), runs: await broker.preload('runs', messages) };
    const raw = messages / (await broker.rawDrain(topics.raw, messages));
    const intake = messages / (await jobwireDrain(broker, topics.intake, messages, 'intake'));
    const runs = messages / (await jobwireDrain(broker, topics.runs, messages, 'runs'));
    const params = `[messages=${messages} prefetch=${options.prefetch}]`;
    const ratio = (rate: number): string => (rate / raw).toFixed(2);
    console.log(
      `${broker.name} drain ${params}: intake alone (matched, committed, acked, no run) ${intake.toFixed(0)} msgs/s = ${ratio(intake)} of raw`,
    );
    console.log(
      `${broker.name} drain: jobwire ${runs.toFixed(0)} msgs/s consumed until every run finished (committed) and every message acked, ` +
        `vs ${broker.rawLabel} ${raw.toFixed(0)} msgs/s = ${ratio(runs)} of raw (target ≥ 0.5) ${params}`,
    );
  } finally {
    await broker.cleanup();
  }
}

/** `[messages] [prefetch]` from the command line. */
export function drainOptions(defaultPrefetch: number): DrainOptions {
  const messages = Number(process.argv[2] ?? 20_000);
  const prefetch = Number(process.argv[3] ?? defaultPrefetch);
  if (!Number.isSafeInteger(messages) || messages < 1) throw new Error(`messages must be a positive integer, not ${process.argv[2]}`);
  if (!Number.isSafeInteger(prefetch) || prefetch < 1) throw new Error(`prefetch must be a positive integer, not ${process.argv[3]}`);
  return { messages, prefetch };
}
