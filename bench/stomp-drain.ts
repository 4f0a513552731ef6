/**
 * ActiveMQ (STOMP) drain benchmark, as defined in drain-harness.ts: jobwire draining N persistent
 * messages from a fresh queue (client-individual acks) until every run finished, vs the raw
 * @stomp/stompjs client (over @stomp/tcp-wrapper, one connection, client-individual acks, the
 * same prefetch) consuming and acking in the same run. The broker side is stomp-broker.ts.
 *
 * Usage: node dist/bench/stomp-drain.js [messages=20000] [prefetch=100]
 * Needs ActiveMQ answering STOMP at JOBWIRE_BENCH_STOMP_URL (default stomp://127.0.0.1:61613;
 * `.ci/activemq.sh` installs it). The last line holds the figures.
 */
import { BROKERS, withBroker } from './brokers.js';
import { drainOptions, runDrainBench } from './drain-harness.js';

const options = drainOptions(BROKERS.stomp.prefetch);
await withBroker('stomp', options.prefetch, (broker) => runDrainBench(broker, options));
