/**
 * RabbitMQ drain benchmark, as defined in drain-harness.ts: jobwire draining N persistent
 * messages from a durable queue until every run finished and every message was acked, vs raw
 * amqplib consume+ack (one connection, the same prefetch) in the same run. The broker side is
 * amqp-broker.ts.
 *
 * Usage: node dist/bench/amqp-drain.js [messages=20000] [prefetch=100]
 * Needs RabbitMQ at JOBWIRE_BENCH_AMQP_URL (default amqp://guest:guest@127.0.0.1:5672).
 * The last line holds the figures.
 */
import { BROKERS, withBroker } from './brokers.js';
import { drainOptions, runDrainBench } from './drain-harness.js';

const options = drainOptions(BROKERS.amqp.prefetch);
await withBroker('amqp', options.prefetch, (broker) => runDrainBench(broker, options));
