/**
 * ActiveMQ (STOMP) drain benchmark: N persistent messages are pre-loaded into a fresh queue and
 * jobwire (in-process, real SQLite store) drains it — each message matched against the job
 * definitions, committed with its run, acknowledged (client-individual), and its run executed
 * by the benchmark's no-op executor — compared with the raw consume+ack rate of the same broker
 * from Node (@stomp/stompjs over @stomp/tcp-wrapper, one connection, client-individual acks, the
 * same prefetch) measured in the same run on a second queue pre-loaded the same way.
 *
 * jobwire's clock stops when every message's run has finished (so every message was matched,
 * committed and acked before it); the queue is checked empty after jobwire stops, when anything
 * left unacked would have returned to it.
 *
 * Usage: node dist/bench/stomp-drain.js [messages=20000] [prefetch=100]
 * Needs ActiveMQ answering STOMP at JOBWIRE_BENCH_STOMP_URL (default stomp://127.0.0.1:61613;
 * `.ci/activemq.sh` installs it). The last line holds the figures.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Client, type IMessage } from '@stomp/stompjs';
import { TCPWrapper } from '@stomp/tcp-wrapper';
import { PAYLOAD_JSON, drainConfig, drainJobwire } from './drain-harness.js';

const messages = Number(process.argv[2] ?? 20_000);
const prefetch = Number(process.argv[3] ?? 100);
const url = new URL(process.env['JOBWIRE_BENCH_STOMP_URL'] ?? 'stomp://127.0.0.1:61613');

/** One raw stompjs connection, as any Node application would open it. */
async function rawConnection(): Promise<{ client: Client; roundTrip(): Promise<void>; close(): Promise<void> }> {
  const client = new Client({
    webSocketFactory: () => new TCPWrapper(url.hostname, Number(url.port || 61613)),
    connectHeaders: { host: url.hostname },
    reconnectDelay: 0,
    heartbeatIncoming: 0,
    heartbeatOutgoing: 0,
    debug: () => undefined,
  });
  await new Promise<void>((resolve, reject) => {
    client.onConnect = () => resolve();
    client.onStompError = (frame) => reject(new Error(`STOMP ERROR: ${frame.headers['message'] ?? ''}`));
    client.onWebSocketClose = () => reject(new Error(`ActiveMQ does not answer STOMP at ${url.href} (run .ci/activemq.sh)`));
    client.activate();
  });
  let receipts = 0;
  return {
    client,
    /** A SEND-less round trip: the broker has processed every frame sent before it. */
    roundTrip() {
      const receipt = `bench-${++receipts}`;
      const done = new Promise<void>((resolve) => client.watchForReceipt(receipt, () => resolve()));
      const subscription = client.subscribe('/queue/jobwire-bench.probe', () => undefined, { receipt, ack: 'client-individual', 'activemq.prefetchSize': '1' });
      return done.then(() => subscription.unsubscribe());
    },
    close: () => client.deactivate(),
  };
}

async function preload(destination: string, count: number): Promise<void> {
  const raw = await rawConnection();
  for (let i = 0; i < count; i++) {
    raw.client.publish({ destination, body: PAYLOAD_JSON, headers: { persistent: 'true', 'content-type': 'application/json' } });
    // Let the socket drain now and then rather than buffering 20,000 frames at once.
    if (i % 1000 === 999) await raw.roundTrip();
  }
  await raw.roundTrip();
  await raw.close();
}

/** Raw stompjs: consume and ack every message, one connection, the same prefetch. */
async function rawDrain(destination: string, count: number): Promise<number> {
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
  return count / seconds;
}

/** Messages still on the queue: a consumer that takes whatever arrives within a quiet second. */
async function leftOn(destination: string): Promise<number> {
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
}

async function jobwireDrain(destination: string, count: number): Promise<{ perSecond: number; left: number }> {
  const drain = await drainJobwire('stomp', drainConfig({ name: 'amq', settings: `{ type: stomp, url: "${url.href}", prefetch: ${prefetch} }` }, destination, count), count);
  const begin = performance.now();
  await drain.jobwire.start();
  await drain.runsFinished;
  const seconds = (performance.now() - begin) / 1000;
  await drain.stop();
  return { perSecond: count / seconds, left: await leftOn(destination) };
}

async function main(): Promise<void> {
  const suffix = `${process.pid}.${randomBytes(3).toString('hex')}`;
  const rawQueue = `/queue/jobwire-bench.raw.${suffix}`;
  const jobwireQueue = `/queue/jobwire-bench.jobwire.${suffix}`;
  await preload(rawQueue, messages);
  await preload(jobwireQueue, messages);
  const raw = await rawDrain(rawQueue, messages);
  const jw = await jobwireDrain(jobwireQueue, messages);
  if (jw.left !== 0) throw new Error(`${jw.left} messages were left in the queue: not every message was acked`);
  // The empty queues are removed by the broker's inactive-destination GC (.ci/activemq.sh).
  console.log(
    `stomp drain: jobwire ${jw.perSecond.toFixed(0)} msgs/s (matched, committed, acked, run by noop) vs raw stompjs consume+ack ` +
      `${raw.toFixed(0)} msgs/s = ${(jw.perSecond / raw).toFixed(2)} of raw (target ≥ 0.5) [messages=${messages} prefetch=${prefetch}]`,
  );
}

await main();
