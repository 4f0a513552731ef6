/**
 * RabbitMQ drain benchmark: N persistent messages are pre-loaded into a fresh durable queue and
 * jobwire (in-process, real SQLite store) drains it — each message matched against the job
 * definitions, committed with its run, acknowledged, and its run executed by the benchmark's
 * no-op executor — compared with the raw consume+ack rate of the same broker from Node
 * (amqplib, one connection, the same prefetch) measured in the same run on a second queue
 * pre-loaded the same way.
 *
 * jobwire's clock stops when every message's run has finished (so every message was matched,
 * committed and acked before it); the queue is checked empty after jobwire stops, when anything
 * left unacked would have returned to it.
 *
 * Usage: node dist/bench/amqp-drain.js [messages=20000] [prefetch=100]
 * Needs RabbitMQ at JOBWIRE_BENCH_AMQP_URL (default amqp://guest:guest@127.0.0.1:5672).
 * The last line holds the figures.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { connect, type Channel, type ChannelModel } from 'amqplib';
import { MATCH_NOTHING, PAYLOAD_JSON, drainConfig, drainJobwire } from './drain-harness.js';

const messages = Number(process.argv[2] ?? 20_000);
const prefetch = Number(process.argv[3] ?? 100);
const url = process.env['JOBWIRE_BENCH_AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
const PAYLOAD = Buffer.from(PAYLOAD_JSON);

async function preload(connection: ChannelModel, queue: string, count: number): Promise<void> {
  const channel = await connection.createConfirmChannel();
  await channel.assertQueue(queue, { durable: true });
  for (let i = 0; i < count; i++) {
    const options = { persistent: true, messageId: `${queue}-${i}`, contentType: 'application/json' };
    if (!channel.sendToQueue(queue, PAYLOAD, options)) await new Promise((resolve) => channel.once('drain', resolve));
  }
  await channel.waitForConfirms();
  await channel.close();
}

/** Raw amqplib: consume and ack every message, one connection, the same prefetch. */
async function rawDrain(queue: string, count: number): Promise<number> {
  const connection = await connect(url);
  const channel: Channel = await connection.createChannel();
  await channel.prefetch(prefetch);
  const begin = performance.now();
  await new Promise<void>((resolve) => {
    let acked = 0;
    void channel.consume(queue, (message) => {
      if (message === null) return;
      channel.ack(message);
      if (++acked === count) resolve();
    });
  });
  // One round trip after the last ack, so the broker has processed them all.
  await channel.checkQueue(queue);
  const seconds = (performance.now() - begin) / 1000;
  await connection.close();
  return count / seconds;
}

type Mode = 'run' | 'match-nothing';

function benchConfig(queue: string, mode: Mode): string {
  return drainConfig({ name: 'rabbit', settings: `{ type: amqp, url: "${url}", prefetch: ${prefetch} }` }, queue, messages, mode === 'run' ? '' : MATCH_NOTHING);
}

async function queueDepth(channel: Channel, queue: string): Promise<number> {
  return (await channel.checkQueue(queue)).messageCount;
}

/** Intake rate (queue empty, every message committed with its runs and acked) and, with runs, the rate until the last run finished. */
async function jobwireDrain(connection: ChannelModel, queue: string, count: number, mode: Mode): Promise<{ intake: number; runs: number }> {
  const drain = await drainJobwire('amqp', benchConfig(queue, mode), mode === 'run' ? count : undefined);
  const { jobwire } = drain;
  const probe = await connection.createChannel();
  const lastId = `${queue}-${count - 1}`;
  // Intake is done once the queue has no ready message and the last one is committed.
  const intakeDone = async (): Promise<void> => {
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 2));
      if ((await queueDepth(probe, queue)) === 0 && (await jobwire.store.getMessage('rabbit', lastId)) !== undefined) return;
    }
  };
  const begin = performance.now();
  await jobwire.start();
  await intakeDone();
  const intakeSeconds = (performance.now() - begin) / 1000;
  await drain.runsFinished;
  const seconds = (performance.now() - begin) / 1000;
  await drain.stop();
  // After stop anything unacked would be back in the queue: it must be empty.
  const left = await queueDepth(probe, queue);
  await probe.close();
  if (left !== 0) throw new Error(`${mode}: ${left} messages were left in the queue: not every message was acked`);
  return { intake: count / intakeSeconds, runs: count / seconds };
}

async function main(): Promise<void> {
  const suffix = `${process.pid}.${randomBytes(3).toString('hex')}`;
  const queues = { raw: `jobwire-bench.raw.${suffix}`, run: `jobwire-bench.run.${suffix}`, commit: `jobwire-bench.commit.${suffix}` };
  const connection = await connect(url);
  try {
    for (const queue of Object.values(queues)) await preload(connection, queue, messages);
    const raw = await rawDrain(queues.raw, messages);
    const commitOnly = await jobwireDrain(connection, queues.commit, messages, 'match-nothing');
    const full = await jobwireDrain(connection, queues.run, messages, 'run');
    console.log(
      `amqp drain [messages=${messages} prefetch=${prefetch}]: raw amqplib consume+ack ${raw.toFixed(0)} msgs/s; ` +
        `jobwire consume+match+commit+ack with no run created ${commitOnly.intake.toFixed(0)} msgs/s = ${(commitOnly.intake / raw).toFixed(2)} of raw; ` +
        `every noop run finished at ${full.runs.toFixed(0)} runs/s`,
    );
    console.log(
      `amqp drain: jobwire ${full.intake.toFixed(0)} msgs/s matched, committed with its run and acked until the queue was empty, vs raw amqplib ` +
        `consume+ack ${raw.toFixed(0)} msgs/s = ${(full.intake / raw).toFixed(2)} of raw (target ≥ 0.5) [messages=${messages} prefetch=${prefetch}]`,
    );
  } finally {
    const cleanup = await connection.createChannel();
    for (const queue of Object.values(queues)) await cleanup.deleteQueue(queue).catch(() => undefined);
    await connection.close();
  }
}

await main();
