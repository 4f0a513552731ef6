/**
 * Memory while a deep queue drains: N messages (100,000 by default) pre-loaded on a broker
 * (RabbitMQ, ActiveMQ over STOMP or NATS JetStream), then jobwire drains them exactly as in the
 * drain benchmarks (default dispatcher settings, the no-op benchmark executor, until every run
 * finished and every message was acked; drain-harness.ts).
 *
 * What must hold: the queue stays in the broker, not in jobwire. Broker sources pause while the
 * dispatcher's backlog is full (`maxQueuedRuns`), so what jobwire holds — queued runs, messages
 * kept for their runs, prefetched deliveries — is bounded by its settings, not by the queue.
 * At every tenth of the runs finished, the heap is measured after a full garbage collection;
 * from the first checkpoint past the warm-up (20%), it may not grow by more than
 * MAX_GROWTH_MB: a leak of a few hundred bytes per message would cross it. The bench fails
 * (exit 1) if it does, or if any message is left on the broker.
 *
 * Usage: node dist/bench/memory-drain.js amqp|stomp|nats [messages=100000] [prefetch]
 * (prefetch defaults as in that broker's drain bench). Needs that broker, as the drain benches
 * do. The last line holds the figures.
 */
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { BROKERS, isBrokerName, withBroker } from './brokers.js';
import { jobwireDrain } from './drain-harness.js';

const MAX_GROWTH_MB = 8;

const brokerName = process.argv[2] ?? '';
if (!isBrokerName(brokerName)) throw new Error(`first argument: one of ${Object.keys(BROKERS).join(', ')}, not ${JSON.stringify(brokerName)}`);
const messages = Number(process.argv[3] ?? 100_000);
const prefetch = Number(process.argv[4] ?? BROKERS[brokerName].prefetch);
if (!Number.isSafeInteger(messages) || messages < 10) throw new Error(`messages must be an integer ≥ 10, not ${process.argv[3]}`);
if (!Number.isSafeInteger(prefetch) || prefetch < 1) throw new Error(`prefetch must be a positive integer, not ${process.argv[4]}`);

// A full collection on demand, so that each checkpoint measures what is live, not garbage.
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

const mb = (bytes: number): number => Math.round((bytes / 1024 / 1024) * 10) / 10;

interface Checkpoint {
  readonly percent: number;
  readonly heapMb: number;
  readonly rssMb: number;
}

await withBroker(brokerName, prefetch, async (broker) => {
  try {
    const queue = await broker.preload('memory', messages);
    collect();
    const before = process.memoryUsage();
    const checkpoints: Checkpoint[] = [];
    const tenth = Math.floor(messages / 10);
    const seconds = await jobwireDrain(broker, queue, messages, 'runs', (finished) => {
      if (finished % tenth !== 0) return;
      collect();
      const usage = process.memoryUsage();
      checkpoints.push({ percent: Math.round((finished / messages) * 100), heapMb: mb(usage.heapUsed), rssMb: mb(usage.rss) });
    });
    const warm = checkpoints.find((checkpoint) => checkpoint.percent >= 20);
    const later = checkpoints.filter((checkpoint) => warm !== undefined && checkpoint.percent > warm.percent);
    if (warm === undefined || later.length === 0) throw new Error(`too few checkpoints: ${JSON.stringify(checkpoints)}`);
    const growth = Math.max(...later.map((checkpoint) => checkpoint.heapMb)) - warm.heapMb;
    const series = checkpoints.map((checkpoint) => `${checkpoint.percent}%:${checkpoint.heapMb}`).join(' ');
    console.log(`heap after GC (MB) at each tenth of the runs finished: ${series}; rss ${checkpoints.map((checkpoint) => checkpoint.rssMb).join(' ')} MB`);
    const verdict = growth <= MAX_GROWTH_MB ? 'flat' : 'GROWING';
    console.log(
      `${brokerName} memory: ${messages} messages drained at ${Math.round(messages / seconds)} msgs/s; heap before ${mb(before.heapUsed)} MB, ` +
        `at ${warm.percent}% ${warm.heapMb} MB, growth after it ${growth.toFixed(1)} MB (limit ${MAX_GROWTH_MB}) → ${verdict} [prefetch=${prefetch}]`,
    );
    if (verdict !== 'flat') process.exitCode = 1;
  } finally {
    await broker.cleanup();
  }
});
