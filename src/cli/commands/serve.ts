import path from 'node:path';
import { createJobwire } from '../../app.js';
import { loadConfig } from '../../config/load.js';
import { createLogger, type LogLevel } from '../../log.js';
import type { CliIo } from '../io.js';

export interface ServeOptions {
  readonly config: string;
  readonly port: string;
  readonly host: string;
  readonly dataDir: string;
  readonly logLevel: string;
}

/** Runs until SIGTERM/SIGINT, then drains: stops intake, waits for runs, closes the store. */
export async function serveCommand(options: ServeOptions, io: CliIo): Promise<number> {
  const port = Number(options.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    io.stderr(`jobwire: --port must be an integer from 0 to 65535\n`);
    return 1;
  }
  const config = await loadConfig(options.config, io.env);
  const logger = createLogger(options.logLevel as LogLevel);
  const dataDir = path.resolve(options.dataDir);
  const jobwire = createJobwire({ config, dataDir, logger, processEnv: io.env });
  let address: string;
  try {
    await jobwire.start();
    address = await jobwire.listen(port, options.host);
  } catch (error) {
    await jobwire.stop(0).catch(() => undefined);
    throw error;
  }
  logger.info({ address, config: config.file, dataDir, jobs: config.jobs.length }, 'jobwire is serving');

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  logger.info({ signal, graceMs: config.dispatcher.shutdownGraceMs }, 'shutting down: draining runs');
  // Every part of stop() is bounded (sources, grace, kills); this deadline is the backstop that
  // keeps a wedged part from holding the process forever. A second signal also ends the wait.
  const deadlineMs = config.dispatcher.shutdownGraceMs + SHUTDOWN_SLACK_MS;
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    jobwire.stop().then(() => 'stopped' as const),
    new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), deadlineMs);
    }),
    new Promise<'signal'>((resolve) => {
      process.once('SIGTERM', () => resolve('signal'));
      process.once('SIGINT', () => resolve('signal'));
    }),
  ]);
  clearTimeout(timer);
  if (outcome !== 'stopped') {
    const reason = outcome === 'deadline' ? `did not finish within ${deadlineMs} ms` : 'interrupted by a second signal';
    logger.error({ deadlineMs }, `shutdown ${reason}; exiting anyway (runs left in flight are reconciled at the next start)`);
    // Whatever is wedged still holds the event loop open: leave without it once the log is out.
    setTimeout(() => process.exit(1), 500).unref();
    return 1;
  }
  logger.info('stopped');
  return 0;
}

/** Beyond the grace: time for sources to stop (each bounded at 10 s), kills and the store to close. */
const SHUTDOWN_SLACK_MS = 30_000;
