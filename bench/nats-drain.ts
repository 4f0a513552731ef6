/**
 * NATS JetStream drain benchmark: N messages (each with its own Nats-Msg-Id) are pre-loaded into
 * a fresh file-backed stream and jobwire (in-process, real SQLite store) drains them through a
 * durable pull consumer — each message matched against the job definitions, committed with its
 * run, acknowledged, and its run executed by the benchmark's no-op executor — compared with the
 * raw consume+ack rate of the same server from Node (@nats-io/jetstream `consume()`, one
 * connection, the same pull size), measured in the same run on another subject of the stream
 * pre-loaded the same way.
 *
 * jobwire's clock stops when every message's run has finished (so every message was matched,
 * committed and acked before it); the consumer is checked to have nothing pending or unacked
 * after jobwire stops.
 *
 * Usage: node dist/bench/nats-drain.js [messages=20000] [prefetch=256]
 * Needs NATS with JetStream at JOBWIRE_BENCH_NATS_URL (default nats://127.0.0.1:4222).
 * The last line holds the figures.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { AckPolicy, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager, type PubAck } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { MATCH_NOTHING, PAYLOAD_JSON, drainConfig, drainJobwire } from './drain-harness.js';

const messages = Number(process.argv[2] ?? 20_000);
const prefetch = Number(process.argv[3] ?? 256);
const url = process.env['JOBWIRE_BENCH_NATS_URL'] ?? 'nats://127.0.0.1:4222';
const PAYLOAD = new TextEncoder().encode(PAYLOAD_JSON);
/** Publishes in flight while pre-loading. */
const PUBLISH_WINDOW = 1000;
/** The pull request lifetime jobwire's source uses, so both sides pull alike. */
const PULL_EXPIRES_MS = 3000;

async function preload(js: JetStreamClient, subject: string, count: number): Promise<void> {
  for (let from = 0; from < count; from += PUBLISH_WINDOW) {
    const acks: Promise<PubAck>[] = [];
    for (let i = from; i < Math.min(count, from + PUBLISH_WINDOW); i++) acks.push(js.publish(subject, PAYLOAD, { msgID: `${subject}-${i}` }));
    await Promise.all(acks);
  }
}

/** Raw client: a durable pull consumer, consume and ack every message, one connection. */
async function rawDrain(jsm: JetStreamManager, stream: string, subject: string, count: number): Promise<number> {
  const connection = await connect({ servers: url });
  await jsm.consumers.add(stream, { durable_name: 'raw', ack_policy: AckPolicy.Explicit, filter_subject: subject, max_ack_pending: Math.max(1000, prefetch) });
  const consumer = await jetstream(connection).consumers.get(stream, 'raw');
  const begin = performance.now();
  const iterator = await consumer.consume({ max_messages: prefetch, expires: PULL_EXPIRES_MS });
  let acked = 0;
  for await (const message of iterator) {
    message.ack();
    if (++acked === count) break;
  }
  // One round trip after the last ack, so the server has processed them all.
  await connection.flush();
  const seconds = (performance.now() - begin) / 1000;
  await connection.close();
  return count / seconds;
}

type Mode = 'run' | 'match-nothing';

function benchConfig(stream: string, subject: string, count: number, mode: Mode): string {
  const settings = `{ type: nats, url: "${url}", stream: "${stream}", durable: "bench-${mode}", prefetch: ${prefetch}, maxAckPending: ${Math.max(1000, prefetch)} }`;
  return drainConfig({ name: 'bus', settings }, subject, count, mode === 'run' ? '' : MATCH_NOTHING);
}

async function settled(jsm: JetStreamManager, stream: string, durable: string): Promise<boolean> {
  const info = await jsm.consumers.info(stream, durable);
  return info.num_pending === 0 && info.num_ack_pending === 0;
}

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Messages/s until the consumer is empty and every message acked, and until every run finished. */
async function jobwireDrain(jsm: JetStreamManager, stream: string, subject: string, count: number, mode: Mode): Promise<{ acked: number; finished: number }> {
  const durable = `bench-${mode}`;
  const drain = await drainJobwire('nats', benchConfig(stream, subject, count, mode), mode === 'match-nothing' ? undefined : count);
  const { jobwire } = drain;
  const lastId = `${subject}-${count - 1}`;
  const begin = performance.now();
  await jobwire.start();
  // The last message committed (a cheap local read, polled often), then the consumer has no
  // message left to deliver or awaiting its ack: every message matched, committed and acked.
  while ((await jobwire.store.getMessage('bus', lastId)) === undefined) await tick(2);
  while (!(await settled(jsm, stream, durable))) await tick(2);
  const ackedSeconds = (performance.now() - begin) / 1000;
  await drain.runsFinished;
  const finishedSeconds = (performance.now() - begin) / 1000;
  await drain.stop();
  if (!(await settled(jsm, stream, durable))) throw new Error('the consumer still has pending or unacked messages: not every message was acked');
  return { acked: count / ackedSeconds, finished: count / finishedSeconds };
}

async function main(): Promise<void> {
  const suffix = `${process.pid}-${randomBytes(3).toString('hex')}`;
  const stream = `JOBWIRE_BENCH_${suffix}`;
  const base = `jobwire-bench.${suffix}`;
  const subjects = { raw: `${base}.raw`, commit: `${base}.commit`, run: `${base}.run` };
  const connection = await connect({ servers: url });
  const jsm = await jetstreamManager(connection);
  await jsm.streams.add({ name: stream, subjects: [`${base}.>`] });
  try {
    const js = jetstream(connection);
    for (const subject of Object.values(subjects)) await preload(js, subject, messages);
    const raw = await rawDrain(jsm, stream, subjects.raw, messages);
    const commitOnly = await jobwireDrain(jsm, stream, subjects.commit, messages, 'match-nothing');
    const drained = await jobwireDrain(jsm, stream, subjects.run, messages, 'run');
    console.log(
      `nats drain [messages=${messages} prefetch=${prefetch}]: raw @nats-io/jetstream consume+ack ${raw.toFixed(0)} msgs/s; jobwire consume+match+commit+ack ` +
        `with no run created ${commitOnly.acked.toFixed(0)} msgs/s = ${(commitOnly.acked / raw).toFixed(2)} of raw; with runs, every run finished (noop executor) at ` +
        `${drained.finished.toFixed(0)} msgs/s`,
    );
    console.log(
      `nats drain: jobwire ${drained.acked.toFixed(0)} msgs/s matched, committed with its run and acked until the stream consumer was empty, vs raw ` +
        `@nats-io/jetstream consume+ack ${raw.toFixed(0)} msgs/s = ${(drained.acked / raw).toFixed(2)} of raw (target ≥ 0.5) [messages=${messages} prefetch=${prefetch}]`,
    );
  } finally {
    await jsm.streams.delete(stream).catch(() => undefined);
    await connection.close();
  }
}

await main();
