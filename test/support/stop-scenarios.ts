/**
 * The same two tests for every broker source: `stop()` resolves even when the broker disappears
 * in the middle of the shutdown — the connection frozen (open, but nothing answers: the case a
 * client library waits on forever, or until a heartbeat notices) or cut (dropped, and reconnects
 * refused) — and what the source could not acknowledge stays with the broker for redelivery.
 *
 * The source reaches its real broker through a TCP proxy the test controls (tcp-proxy.ts), so
 * the shared broker is never restarted. A message is delivered and held in `deliver` while
 * `stop()` begins; then the proxy freezes or cuts, and the delivery is released: its ack can no
 * longer reach the broker, and the graceful stop's last words (cancel, DISCONNECT, close) go
 * unanswered. Heartbeats are off where the broker allows it, the worst case.
 *
 * Each broker's source test file registers them (`stopWhenBrokerVanishes` inside its describe):
 * a file's tests run one after another, so they never overlap that file's broker restarts.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { it } from 'node:test';
import { createLogger } from '../../src/log.js';
import type { Source, SourceContext } from '../../src/sources/source.js';
import { deferred, eventually } from './eventually.js';
import { TcpProxy } from './tcp-proxy.js';

export const STOP_TIMEOUT_MS = 1000;

/** One broker's source behind the proxy, a destination, and how to see the message again. */
export interface StopSetup {
  readonly source: Source;
  readonly topic: string;
  /** Publishes one message to `topic`, straight to the broker. */
  publish(): Promise<void>;
  /** Resolves once the broker has the message again (requeued, or still awaiting its ack). */
  backOnBroker(): Promise<unknown>;
  cleanup(): Promise<void>;
}

export interface StopCase {
  /** The broker's own port on 127.0.0.1, which the proxy forwards to. */
  readonly port: number;
  /** A source connecting to 127.0.0.1:`proxyPort`, built with `context`. */
  setup(proxyPort: number, context: SourceContext): Promise<StopSetup>;
}

/** Fails the test instead of hanging it: what is asserted is that `stop()` resolves at all. */
async function settles(promise: Promise<void>, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not resolve (a hang: its deadline is ${STOP_TIMEOUT_MS} ms)`)), 60_000);
  });
  try {
    await Promise.race([promise, hung]);
  } finally {
    clearTimeout(timer);
  }
}

/** Registers the frozen and the cut case; call inside the broker's describe. */
export function stopWhenBrokerVanishes(stopCase: StopCase): void {
  for (const fault of ['freeze', 'cut'] as const) {
    const how = fault === 'freeze' ? 'frozen (open, nothing answers)' : 'cut (and reconnects refused)';
    it(`stop() resolves when the broker connection is ${how} mid-shutdown; the unacked message stays with the broker`, async () => {
      const proxy = await TcpProxy.start({ host: '127.0.0.1', port: stopCase.port });
      const lines: Record<string, unknown>[] = [];
      const sink = new Writable({
        write(chunk: Buffer, _encoding, callback) {
          for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
          callback();
        },
      });
      const context: SourceContext = {
        logger: createLogger('debug', sink),
        maxMessageBytes: 1 << 20,
        capacity: { admit: async () => undefined },
        reconnect: { initialMs: 50, maxMs: 500 },
        stopTimeoutMs: STOP_TIMEOUT_MS,
      };
      const setup = await stopCase.setup(proxy.port, context);
      const hold = deferred();
      const delivered: string[] = [];
      try {
        await setup.source.start([setup.topic], async ({ message }) => {
          delivered.push(message.id);
          await hold.promise;
        });
        assert.equal(setup.source.status().state, 'connected');
        await setup.publish();
        await eventually('the message delivered and held', () => (delivered.length === 1 ? true : undefined));

        const stopping = setup.source.stop();
        proxy[fault]();
        // The delivery commits now; its ack can no longer reach the broker.
        hold.resolve();
        await settles(stopping, 'stop()');

        assert.equal(setup.source.status().state, 'stopped');
        await eventually('the source closed its connection', () => (proxy.openClients === 0 ? true : undefined));
        if (fault === 'freeze') {
          const warning = lines.find((line) => line['level'] === 40 && String(line['msg']).includes(`did not stop within ${STOP_TIMEOUT_MS} ms`));
          assert.ok(warning, `a warning names the deadline: ${JSON.stringify(lines.filter((line) => Number(line['level']) >= 40))}`);
          assert.equal(warning['stopTimeoutMs'], STOP_TIMEOUT_MS);
        }
        await proxy.close();
        await setup.backOnBroker();
      } finally {
        hold.resolve();
        await proxy.close();
        await setup.cleanup();
      }
    });
  }
}
