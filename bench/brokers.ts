/**
 * The brokers the benchmarks drain, by name: each one's default prefetch (as its source's
 * default) and how to open its side of a bench (drain-harness.ts's DrainBroker).
 */
import { openRabbitBroker } from './amqp-broker.js';
import type { DrainBroker } from './drain-harness.js';
import { openJetStreamBroker } from './nats-broker.js';
import { activeMqBroker } from './stomp-broker.js';

export type BrokerName = 'amqp' | 'stomp' | 'nats';

interface BenchBroker {
  readonly prefetch: number;
  open(prefetch: number): Promise<{ readonly broker: DrainBroker; close(): Promise<void> }>;
}

export const BROKERS: Readonly<Record<BrokerName, BenchBroker>> = {
  amqp: { prefetch: 100, open: openRabbitBroker },
  // Each connection is opened and closed by the bench step that needs it.
  stomp: { prefetch: 100, open: async (prefetch) => ({ broker: activeMqBroker(prefetch), close: async () => undefined }) },
  nats: { prefetch: 256, open: openJetStreamBroker },
};

export function isBrokerName(name: string): name is BrokerName {
  return Object.hasOwn(BROKERS, name);
}

/** Opens `name`'s side of a bench, runs `bench` with it, and closes it whatever happens. */
export async function withBroker(name: BrokerName, prefetch: number, bench: (broker: DrainBroker) => Promise<void>): Promise<void> {
  const { broker, close } = await BROKERS[name].open(prefetch);
  try {
    await bench(broker);
  } finally {
    await close();
  }
}
