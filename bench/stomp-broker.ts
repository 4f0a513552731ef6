/**
 * ActiveMQ's side of the broker benchmarks (drain-harness.ts), over STOMP: pre-loading a queue
 * with persistent messages, the raw @stomp/stompjs consume+ack drain (client-individual acks),
 * and the check that nothing was left. Used by stomp-drain.ts and memory-drain.ts.
 *
 * STOMP gives a client no way to count a queue's unacked messages, so "every message acked" is
 * proved after jobwire stopped: a consumer then finds the queue empty (anything unacked would
 * have returned to it when jobwire's connection closed).
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Client, type IMessage } from '@stomp/stompjs';
import { TCPWrapper } from '@stomp/tcp-wrapper';
import { PAYLOAD_JSON, type DrainBroker } from './drain-harness.js';

export const STOMP_BENCH_URL = new URL(process.env['JOBWIRE_BENCH_STOMP_URL'] ?? 'stomp://127.0.0.1:61613');

interface RawConnection {
  readonly client: Client;
  /** A SEND-less round trip: the broker has processed every frame sent before it. */
  roundTrip(): Promise<void>;
  close(): Promise<void>;
}

/** One raw stompjs connection, as any Node application would open it. */
async function rawConnection(): Promise<RawConnection> {
  const client = new Client({
    webSocketFactory: () => new TCPWrapper(STOMP_BENCH_URL.hostname, Number(STOMP_BENCH_URL.port || 61613)),
    connectHeaders: { host: STOMP_BENCH_URL.hostname },
    reconnectDelay: 0,
    heartbeatIncoming: 0,
    heartbeatOutgoing: 0,
    debug: () => undefined,
  });
  await new Promise<void>((resolve, reject) => {
    client.onConnect = () => resolve();
    client.onStompError = (frame) => reject(new Error(`STOMP ERROR: ${frame.headers['message'] ?? ''}`));
    client.onWebSocketClose = () => reject(new Error(`ActiveMQ does not answer STOMP at ${STOMP_BENCH_URL.href} (run .ci/activemq.sh)`));
    client.activate();
  });
  let receipts = 0;
  return {
      client,
      roundTrip() {
        const receipt = `bench-${++receipts}`;
        const done = new Promise<void>((resolve) => client.watchForReceipt(receipt, () => resolve()));
        const subscription = client.subscribe('/queue/jobwire-bench.probe', () => undefined, { receipt, ack: 'client-individual', 'activemq.prefetchSize': '1' });
        return done.then(() => subscription.unsubscribe());
      },
      close: () => client.deactivate(),
  };
}

/** ActiveMQ over STOMP as a drain bench's broker side, consuming with `prefetch` (client-individual acks). */
export function activeMqBroker(prefetch: number): DrainBroker {
  return {
    name: 'stomp',
    rawLabel: 'raw stompjs consume+ack (client-individual)',
    async preload(label, count) {
      const destination = `/queue/jobwire-bench.${label}.${process.pid}.${randomBytes(3).toString('hex')}`;
      const raw = await rawConnection();
      for (let i = 0; i < count; i++) {
        raw.client.publish({ destination, body: PAYLOAD_JSON, headers: { persistent: 'true', 'content-type': 'application/json' } });
        // Let the socket drain now and then rather than buffering 20,000 frames at once.
        if (i % 1000 === 999) await raw.roundTrip();
      }
      await raw.roundTrip();
      await raw.close();
      return destination;
    },
    async rawDrain(destination, count) {
      const raw = await rawConnection();
      const begin = performance.now();
      await new Promise<void>((resolve) => {
        let acked = 0;
        raw.client.subscribe(
          destination,
          (message: IMessage) => {
            message.ack();
            if (++acked === count) resolve();
          },
          { ack: 'client-individual', 'activemq.prefetchSize': String(prefetch) },
        );
      });
      await raw.roundTrip();
      const seconds = (performance.now() - begin) / 1000;
      await raw.close();
      return seconds;
    },
    sourceSettings: () => `{ type: stomp, url: "${STOMP_BENCH_URL.href}", prefetch: ${prefetch} }`,
    allAcked: async () => true,
    /** Messages still on the queue: a consumer that takes whatever arrives within a quiet second. */
    async leftAfterStop(destination) {
      const raw = await rawConnection();
      let left = 0;
      let last = Date.now();
      raw.client.subscribe(destination, () => {
        left++;
        last = Date.now();
      }, { ack: 'auto' });
      while (Date.now() - last < 1000) await new Promise((resolve) => setTimeout(resolve, 50));
      await raw.close();
      return left;
    },
    // The drained queues are removed by the broker's inactive-destination GC (.ci/activemq.sh).
    cleanup: async () => undefined,
  };
}
