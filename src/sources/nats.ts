/**
 * The `nats` source: NATS JetStream (the default, at-least-once) or core NATS (`mode: core`,
 * at-most-once). Each trigger topic is a NATS subject, wildcards `*` and `>` included.
 *
 * JetStream: one durable pull consumer per subject on the stream that stores it (`stream:`, or
 * the one stream whose subjects capture it); see nats-jetstream.ts for ack/nak/term and
 * nats-message.ts for the dedupe key. Core: a plain subscription, see nats-core.ts.
 *
 * Connection: the client reconnects by itself, forever, with jobwire's backoff, and both the pull
 * consumers and the subscriptions resume on the new connection (nats-connection.ts keeps the
 * status). This class adds what the client does not do: the first connection (retried in the
 * background, so jobwire serves and reports `reconnecting` while the broker is away) and a new
 * connection should the client ever give up on one (an authorization failure closes it).
 */
import { jetstreamManager, jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { SourceDefinition } from '../config/types.js';
import { errorMessage } from '../core/errors.js';
import { DEFAULT_STOP_TIMEOUT_MS, boundedStop } from './bounded-stop.js';
import { NatsConnectionState } from './nats-connection.js';
import { StopLatch, type Consumption, type ConsumptionContext } from './nats-consumption.js';
import { CoreConsumption } from './nats-core.js';
import { JetStreamConsumption } from './nats-jetstream.js';
import { durableFor, ensureConsumer, NatsSetupError, resolveStream } from './nats-jetstream-setup.js';
import { NatsSettingsError, readNatsSettings, reconnectPolicyOf, type NatsSettings } from './nats-settings.js';
import type { DeliverFn, Source, SourceContext, SourceFactory, SourceStatus } from './source.js';

export { createNatsPublisher } from './nats-publisher.js';

interface Session {
  readonly connection: NatsConnection;
  readonly consumptions: readonly Consumption[];
}

interface Wiring {
  readonly topics: readonly string[];
  readonly deliver: DeliverFn;
}

const STOPPING = Symbol('stopping');
/** How long `stop` waits for acks to reach a server that may be unreachable. */
const FINAL_FLUSH_MS = 2000;

/** Term with a reason arrived in nats-server 2.10.4; earlier servers ignore such a term. */
function supportsTermReason(version: string | undefined): boolean {
  const [major = 0, minor = 0, patch = 0] = (version ?? '0.0.0').split('.').map((part) => Number.parseInt(part, 10) || 0);
  return major > 2 || (major === 2 && (minor > 10 || (minor === 10 && patch >= 4)));
}

export class NatsSource implements Source {
  readonly type = 'nats';
  readonly name: string;
  private readonly settings: NatsSettings;
  private readonly logger: Logger;
  private readonly state: NatsConnectionState;
  private readonly latch = new StopLatch();
  private readonly policy: { readonly initialMs: number; readonly maxMs: number };
  private wiring: Wiring | undefined;
  private supervisor: Promise<void> | undefined;
  /** The session the supervisor holds, for the stop deadline to close. */
  private session: Session | undefined;
  private stopped: Promise<void> | undefined;

  constructor(
    definition: SourceDefinition,
    private readonly context: SourceContext,
  ) {
    this.name = definition.name;
    this.settings = readNatsSettings(definition);
    this.logger = context.logger.child({ source: definition.name, sourceType: 'nats' });
    this.policy = reconnectPolicyOf(definition, context.reconnect);
    this.state = new NatsConnectionState(this.policy, this.logger);
  }

  async start(topics: readonly string[], deliver: DeliverFn): Promise<void> {
    this.wiring = { topics, deliver };
    if (this.settings.mode === 'core') {
      this.logger.warn({ subjects: topics }, 'core NATS mode is AT-MOST-ONCE: messages published while jobwire is away, or that cannot be recorded, are lost');
    }
    let session: Session | undefined;
    let firstError: unknown;
    try {
      session = await this.open();
    } catch (error) {
      // The server is up but lacks what the config names: a configuration error, said at once.
      if (error instanceof NatsSetupError || error instanceof NatsSettingsError) throw error;
      firstError = error;
    }
    this.supervisor = this.supervise(session, firstError);
  }

  status(): SourceStatus {
    return this.latch.isStopped ? { state: 'stopped' } : this.state.status();
  }

  stop(): Promise<void> {
    if (this.stopped !== undefined) return this.stopped;
    this.latch.stop();
    this.stopped = boundedStop(this.supervisor ?? Promise.resolve(), {
      timeoutMs: this.context.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS,
      logger: this.logger,
      // close() does not wait for the server: it drops the socket once the client's iterators end.
      force: () => void this.session?.connection.close().catch(() => undefined),
    }).then(() => this.state.stopped());
    return this.stopped;
  }

  /** Keeps one session open until `stop`, opening a new one whenever the last one closed. */
  private async supervise(first: Session | undefined, firstError: unknown): Promise<void> {
    let session = first;
    this.session = session;
    let lastError = firstError;
    while (!this.latch.isStopped) {
      if (session === undefined) {
        if (!(await this.latch.sleep(this.state.failed(lastError)))) break;
        try {
          session = await this.open();
          this.session = session;
        } catch (error) {
          lastError = error;
        }
        continue;
      }
      const ended = await Promise.race([session.connection.closed(), this.latch.stopped.then(() => STOPPING)]);
      if (ended === STOPPING) break;
      await Promise.all(session.consumptions.map((consumption) => consumption.done));
      lastError = ended instanceof Error ? ended : new Error('the NATS client closed the connection');
      this.logger.error({ err: errorMessage(lastError) }, 'NATS connection closed; opening a new one');
      session = undefined;
      this.session = undefined;
    }
    if (session !== undefined) await this.close(session);
  }

  private async open(): Promise<Session> {
    const wiring = this.wiring;
    if (wiring === undefined) throw new Error('NatsSource.open before start');
    const connection = await connect({ ...this.settings.connection, reconnectDelayHandler: this.state.delayHandler });
    void this.state.watch(connection).catch(() => undefined);
    try {
      const consumptions = this.settings.mode === 'core' ? this.subscribe(connection, wiring) : await this.consume(connection, wiring);
      this.state.connected(connection.getServer());
      return { connection, consumptions };
    } catch (error) {
      await connection.close().catch(() => undefined);
      throw error;
    }
  }

  private consumptionContext(wiring: Wiring): ConsumptionContext {
    return {
      source: this.name,
      logger: this.logger,
      deliver: wiring.deliver,
      capacity: this.context.capacity,
      maxMessageBytes: this.context.maxMessageBytes,
      reconnect: this.policy,
    };
  }

  private subscribe(connection: NatsConnection, wiring: Wiring): Consumption[] {
    const context = this.consumptionContext(wiring);
    return wiring.topics.map((subject) => new CoreConsumption(context, connection, subject, this.settings.queue));
  }

  private async consume(connection: NatsConnection, wiring: Wiring): Promise<Consumption[]> {
    let jsm;
    try {
      jsm = await jetstreamManager(connection);
    } catch (error) {
      // The client's JetStreamNotEnabled class is not exported; its name is stable.
      if (error instanceof Error && error.name === 'JetStreamNotEnabled') {
        throw new NatsSetupError(`source "${this.name}": JetStream is not enabled on the NATS server (start it with -js) — or use mode: core`, { cause: error });
      }
      throw error;
    }
    const handles = { connection, js: jetstream(connection), jsm, termWithReason: supportsTermReason(connection.info?.version) };
    const context = this.consumptionContext(wiring);
    // Resolve and create every consumer first, so a configuration error leaves nothing running.
    const targets = [];
    for (const subject of wiring.topics) {
      const stream = await resolveStream(jsm, this.name, subject, this.settings.stream);
      const target = { subject, stream, durable: durableFor(this.settings, subject, wiring.topics.length) };
      await ensureConsumer(jsm, this.settings, target);
      targets.push(target);
      this.logger.info({ ...target, ackWaitMs: this.settings.ackWaitMs, maxAckPending: this.settings.maxAckPending }, 'consuming a JetStream subject');
    }
    return targets.map((target) => new JetStreamConsumption(context, this.settings, handles, target));
  }

  /** Stops the loops (in-flight deliveries finish, buffered messages go back), then disconnects. */
  private async close(session: Session): Promise<void> {
    await Promise.all(session.consumptions.map((consumption) => consumption.stop()));
    if (session.connection.isClosed()) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, FINAL_FLUSH_MS);
    });
    await Promise.race([session.connection.flush().catch(() => undefined), timeout]);
    clearTimeout(timer);
    await session.connection.close();
  }
}

export const createNatsSource: SourceFactory = (definition, context) => new NatsSource(definition, context);
