/**
 * Wires the boxes of the data flow together — sources → inbox → store ← dispatcher → executors,
 * and the API beside them — with explicit dependencies. Nothing here is a singleton: tests and
 * benchmarks create as many instances as they like, each with its own store and data dir.
 */
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildApi } from './api/server.js';
import type { Readiness } from './api/health-routes.js';
import type { CompiledConfig } from './config/types.js';
import { JobwireError } from './core/errors.js';
import { Backlog } from './dispatch/backlog.js';
import { Dispatcher } from './dispatch/dispatcher.js';
import { RunFeed, type RunEvent } from './dispatch/run-feed.js';
import { createDeliverers, replySources } from './events/deliverers.js';
import { OutboxRelay } from './events/outbox-relay.js';
import { createRunEffects } from './events/run-effects.js';
import type { Executor } from './executors/executor.js';
import { createExecutors } from './executors/registry.js';
import { SpawnerClient } from './executors/spawner/client.js';
import { Inbox } from './inbox/inbox.js';
import { Matcher } from './matching/matcher.js';
import type { Source } from './sources/source.js';
import { createSources } from './sources/registry.js';
import { DEFAULT_RECENT_MESSAGES } from './store/sqlite/recent-messages.js';
import { openSqliteStore } from './store/sqlite/sqlite-store.js';
import type { Store } from './store/store.js';

export interface JobwireOptions {
  readonly config: CompiledConfig;
  readonly dataDir: string;
  readonly logger: Logger;
  readonly processEnv?: NodeJS.ProcessEnv;
  /** Overrides the config's global concurrency (benchmarks). */
  readonly concurrency?: number;
  /** Extra executors by name (tests, benchmarks); they win over configured ones. */
  readonly extraExecutors?: readonly Executor[];
  readonly onRunEvent?: (event: RunEvent) => void;
}

export interface Jobwire {
  readonly api: FastifyInstance;
  readonly store: Store;
  readonly inbox: Inbox;
  readonly dispatcher: Dispatcher;
  readonly matcher: Matcher;
  readonly sources: readonly Source[];
  /** Run transitions as they are committed (waiting callers, event streams, metrics). */
  readonly feed: RunFeed;
  /** Starts the dispatcher (after reconciling orphaned runs) and the sources. */
  start(): Promise<void>;
  /** Listens on host:port; returns the bound address. */
  listen(port: number, host: string): Promise<string>;
  /** Graceful stop: sources, then API, then drain runs, then executors and store. */
  stop(graceMs?: number): Promise<void>;
}

export class StartupError extends JobwireError {
  override readonly name = 'StartupError';
}

export function createJobwire(options: JobwireOptions): Jobwire {
  const { config, logger } = options;
  const processEnv = options.processEnv ?? process.env;
  // Everything that can reject the config is built before the store is opened.
  // Started on first use (or by an executor's prepare), so a jobwire with only kubernetes executors never forks it.
  // Persistent (its socket in the data dir): runs outlive a crash of jobwire and are adopted.
  const spawner = new SpawnerClient({ maxLogBytes: config.limits.maxLogBytes, stateDir: options.dataDir });
  const executors = createExecutors(config, { dataDir: options.dataDir, logger, spawner });
  for (const extra of options.extraExecutors ?? []) executors.set(extra.name, extra);
  const jobs = new Map(config.jobs.map((job) => [job.name, job]));
  for (const job of config.jobs) {
    if (!executors.has(job.executor)) throw new StartupError(`job "${job.name}": executor "${job.executor}" is not available`);
  }
  const backlog = new Backlog(config.dispatcher.maxQueuedRuns);
  const feed = new RunFeed();
  if (options.onRunEvent !== undefined) feed.observe(options.onRunEvent);
  const sources = createSources(config, {
    logger,
    maxMessageBytes: config.limits.maxMessageBytes,
    capacity: backlog,
    reconnect: { initialMs: 500, maxMs: 30_000 },
  });
  const matcher = new Matcher(config.jobs);
  const store = openSqliteStore({
    path: path.join(options.dataDir, 'jobwire.db'),
    synchronous: config.store.synchronous,
    // Room for the whole backlog, which sources may overshoot by their prefetch (backlog.ts).
    recentMessages: { ...DEFAULT_RECENT_MESSAGES, maxMessages: 2 * config.dispatcher.maxQueuedRuns },
  });
  const relay = new OutboxRelay({ store, deliverers: createDeliverers(config, logger), logger: logger.child({ component: 'outbox' }) });
  const effects = createRunEffects({
    events: config.events,
    jobs,
    maxChainDepth: config.limits.maxChainDepth,
    replySources: replySources(config),
    logger,
    notify: (counts) => relay.notify(counts),
  });
  const dispatcher = new Dispatcher({
    store,
    jobs,
    executors,
    concurrency: options.concurrency ?? config.dispatcher.concurrency,
    backlog,
    logger,
    processEnv,
    onShutdown: config.dispatcher.onShutdown,
    maxOutputBytes: config.limits.maxOutputBytes,
    effects,
    onEvent: (event) => feed.publish(event),
  });
  const inbox = new Inbox({
    store,
    matcher,
    logger,
    onRunsQueued: (runs, at) => {
      dispatcher.enqueued(runs.length);
      for (const run of runs) feed.publish({ type: 'run.queued', run, at });
    },
  });
  let storeOpen = true;

  const readiness = (): Readiness => {
    const checks: Record<string, string> = {
      store: storeOpen ? 'open' : 'closed',
      dispatcher: dispatcher.isRunning ? 'running' : 'stopped',
    };
    for (const source of sources) checks[`source:${source.name}`] = source.status().state;
    const ready = storeOpen && dispatcher.isRunning && sources.every((source) => source.status().state === 'connected');
    return { ready, checks };
  };
  const api = buildApi({ config, inbox, store, dispatcher, matcher, sources, executors, logger, processEnv, readiness, relay, feed, backlog });
  const topics = matcher.topicsBySource();

  return {
    api,
    store,
    inbox,
    dispatcher,
    matcher,
    sources,
    feed,
    async start() {
      for (const executor of executors.values()) executor.prepare?.();
      await relay.start();
      await dispatcher.start();
      for (const source of sources) {
        await source.start(topics.get(source.name) ?? [], async ({ message }) => {
          await inbox.accept(message);
        });
      }
    },
    async listen(port, host) {
      return api.listen({ port, host });
    },
    async stop(graceMs = config.dispatcher.shutdownGraceMs) {
      await Promise.all(sources.map((source) => source.stop()));
      await api.close();
      await dispatcher.drain(graceMs);
      // The ends just recorded may have events: a few seconds to send them, the rest wait on disk.
      await relay.stop();
      await Promise.all([...executors.values()].map((executor) => executor.close()));
      await spawner.close({ leaveRunning: config.dispatcher.onShutdown === 'leave' });
      storeOpen = false;
      await store.close();
    },
  };
}
