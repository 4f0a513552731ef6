/**
 * NATS JetStream drain benchmark, as defined in drain-harness.ts: jobwire draining N messages
 * (each with its own Nats-Msg-Id) from a file-backed stream through a durable pull consumer
 * until every run finished and every message was acked, vs the raw @nats-io/jetstream client's
 * `consume()` + ack (one connection, the same pull size) in the same run. Each drain reads its
 * own subject of one stream.
 *
 * "Every message acked" is what the server reports: the durable consumer has nothing pending
 * and nothing awaiting its ack — during the run and again after jobwire stopped.
 *
 * Usage: node dist/bench/nats-drain.js [messages=20000] [prefetch=256]
 * Needs NATS with JetStream at JOBWIRE_BENCH_NATS_URL (default nats://127.0.0.1:4222).
 * The last line holds the figures.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { AckPolicy, jetstream, jetstreamManager, type JetStreamManager, type PubAck } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { PAYLOAD_JSON, drainOptions, runDrainBench, type DrainBroker, type DrainMode } from './drain-harness.js';

const options = drainOptions(256);
const url = process.env['JOBWIRE_BENCH_NATS_URL'] ?? 'nats://127.0.0.1:4222';
const PAYLOAD = new TextEncoder().encode(PAYLOAD_JSON);
/** Publishes in flight while pre-loading. */
const PUBLISH_WINDOW = 1000;
/** The pull request lifetime jobwire's source uses, so both sides pull alike. */
const PULL_EXPIRES_MS = 3000;
const MAX_ACK_PENDING = Math.max(1000, options.prefetch);

function jetStream(connection: NatsConnection, jsm: JetStreamManager, stream: string, base: string): DrainBroker {
  const js = jetstream(connection);
  const durable = (mode: DrainMode): string => `bench-${mode}`;
  const unsettled = async (mode: DrainMode): Promise<number> => {
    const info = await jsm.consumers.info(stream, durable(mode));
    return info.num_pending + info.num_ack_pending;
  };
  return {
    name: 'nats',
    rawLabel: 'raw @nats-io/jetstream consume+ack',
    async preload(label, count) {
      const subject = `${base}.${label}`;
      for (let from = 0; from < count; from += PUBLISH_WINDOW) {
        const acks: Promise<PubAck>[] = [];
        for (let i = from; i < Math.min(count, from + PUBLISH_WINDOW); i++) acks.push(js.publish(subject, PAYLOAD, { msgID: `${subject}-${i}` }));
        await Promise.all(acks);
      }
      return subject;
    },
    async rawDrain(subject, count) {
      const raw = await connect({ servers: url });
      await jsm.consumers.add(stream, { durable_name: 'raw', ack_policy: AckPolicy.Explicit, filter_subject: subject, max_ack_pending: MAX_ACK_PENDING });
      const consumer = await jetstream(raw).consumers.get(stream, 'raw');
      const begin = performance.now();
      const iterator = await consumer.consume({ max_messages: options.prefetch, expires: PULL_EXPIRES_MS });
      let acked = 0;
      for await (const message of iterator) {
        message.ack();
        if (++acked === count) break;
      }
      // One round trip after the last ack, so the server has processed them all.
      await raw.flush();
      const seconds = (performance.now() - begin) / 1000;
      await raw.close();
      return seconds;
    },
    sourceSettings: (_subject, mode) =>
      `{ type: nats, url: "${url}", stream: "${stream}", durable: "${durable(mode)}", prefetch: ${options.prefetch}, maxAckPending: ${MAX_ACK_PENDING} }`,
    allAcked: async (_subject, mode) => (await unsettled(mode)) === 0,
    leftAfterStop: (_subject, mode) => unsettled(mode),
    cleanup: async () => {
      await jsm.streams.delete(stream).catch(() => undefined);
    },
  };
}

const suffix = `${process.pid}-${randomBytes(3).toString('hex')}`;
const stream = `JOBWIRE_BENCH_${suffix}`;
const base = `jobwire-bench.${suffix}`;
const connection = await connect({ servers: url });
try {
  const jsm = await jetstreamManager(connection);
  await jsm.streams.add({ name: stream, subjects: [`${base}.>`] });
  await runDrainBench(jetStream(connection, jsm, stream, base), options);
} finally {
  await connection.close();
}
