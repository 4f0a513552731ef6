/**
 * NATS JetStream's side of the broker benchmarks (drain-harness.ts): pre-loading a file-backed
 * stream (each message with its own Nats-Msg-Id), the raw @nats-io/jetstream `consume()` + ack
 * drain, and the checks that every message was acked. Used by nats-drain.ts and memory-drain.ts.
 *
 * "Every message acked" is what the server reports: the durable consumer has nothing pending
 * and nothing awaiting its ack — during the run and again after jobwire stopped.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { AckPolicy, jetstream, jetstreamManager, type JetStreamManager, type PubAck } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { PAYLOAD_JSON, type DrainBroker, type DrainMode } from './drain-harness.js';

export const NATS_BENCH_URL = process.env['JOBWIRE_BENCH_NATS_URL'] ?? 'nats://127.0.0.1:4222';
const PAYLOAD = new TextEncoder().encode(PAYLOAD_JSON);
/** Publishes in flight while pre-loading. */
const PUBLISH_WINDOW = 1000;
/** The pull request lifetime jobwire's source uses, so both sides pull alike. */
const PULL_EXPIRES_MS = 3000;

function jetStream(connection: NatsConnection, jsm: JetStreamManager, stream: string, base: string, prefetch: number): DrainBroker {
  const maxAckPending = Math.max(1000, prefetch);
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
      const raw = await connect({ servers: NATS_BENCH_URL });
      await jsm.consumers.add(stream, { durable_name: 'raw', ack_policy: AckPolicy.Explicit, filter_subject: subject, max_ack_pending: maxAckPending });
      const consumer = await jetstream(raw).consumers.get(stream, 'raw');
      const begin = performance.now();
      const iterator = await consumer.consume({ max_messages: prefetch, expires: PULL_EXPIRES_MS });
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
      `{ type: nats, url: "${NATS_BENCH_URL}", stream: "${stream}", durable: "${durable(mode)}", prefetch: ${prefetch}, maxAckPending: ${maxAckPending} }`,
    allAcked: async (_subject, mode) => (await unsettled(mode)) === 0,
    leftAfterStop: (_subject, mode) => unsettled(mode),
    cleanup: async () => {
      await jsm.streams.delete(stream).catch(() => undefined);
    },
  };
}

/**
 * NATS JetStream as a drain bench's broker side: one fresh stream for the whole bench (each drain
 * reads its own subject through its own durable pull consumer), deleted by `cleanup`. `close`
 * ends the bench's own connection.
 */
export async function openJetStreamBroker(prefetch: number): Promise<{ readonly broker: DrainBroker; close(): Promise<void> }> {
  const suffix = `${process.pid}-${randomBytes(3).toString('hex')}`;
  const stream = `JOBWIRE_BENCH_${suffix}`;
  const connection = await connect({ servers: NATS_BENCH_URL });
  try {
    const jsm = await jetstreamManager(connection);
    await jsm.streams.add({ name: stream, subjects: [`jobwire-bench.${suffix}.>`] });
    return { broker: jetStream(connection, jsm, stream, `jobwire-bench.${suffix}`, prefetch), close: () => connection.close() };
  } catch (error) {
    await connection.close();
    throw error;
  }
}
