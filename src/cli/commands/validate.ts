import { loadConfig } from '../../config/load.js';
import type { CliIo } from '../io.js';

export async function validateCommand(options: { config: string }, io: CliIo): Promise<number> {
  const config = await loadConfig(options.config, io.env);
  const triggers = config.jobs.reduce((sum, job) => sum + job.triggers.length, 0);
  io.stdout(`${options.config}: valid (${config.jobs.length} job${config.jobs.length === 1 ? '' : 's'}, ${triggers} trigger${triggers === 1 ? '' : 's'})\n`);
  return 0;
}
