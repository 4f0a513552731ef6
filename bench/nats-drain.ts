/**
 * NATS JetStream drain benchmark, as defined in drain-harness.ts: jobwire draining N messages
 * from a file-backed stream through a durable pull consumer until every run finished and every
 * message was acked, vs the raw @nats-io/jetstream client's `consume()` + ack (one connection,
 * the same pull size) in the same run. The broker side is nats-broker.ts.
 *
 * Usage: node dist/bench/nats-drain.js [messages=20000] [prefetch=256]
 * Needs NATS with JetStream at JOBWIRE_BENCH_NATS_URL (default nats://127.0.0.1:4222).
 * The last line holds the figures.
 */
import { BROKERS, withBroker } from './brokers.js';
import { drainOptions, runDrainBench } from './drain-harness.js';

const options = drainOptions(BROKERS.nats.prefetch);
await withBroker('nats', options.prefetch, (broker) => runDrainBench(broker, options));
