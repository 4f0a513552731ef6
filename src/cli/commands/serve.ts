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
  await jobwire.stop();
  logger.info('stopped');
  return 0;
}
