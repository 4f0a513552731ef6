/**
 * Cron schedules of `source: cron` triggers. A schedule may start with `CRON_TZ=<zone> ` (as in
 * Kubernetes CronJobs and cronie) to tick in that time zone; otherwise the machine's zone is used.
 */
import { Cron } from 'croner';
import { errorMessage, InvalidInputError } from '../core/errors.js';

export interface ParsedSchedule {
  readonly pattern: string;
  readonly timezone?: string;
}

/** Splits an optional `CRON_TZ=zone` prefix off and checks the pattern and zone. */
export function parseSchedule(schedule: string): ParsedSchedule {
  const match = /^\s*(?:CRON_TZ|TZ)=(\S+)\s+(.+)$/.exec(schedule);
  const parsed: ParsedSchedule = match === null ? { pattern: schedule.trim() } : { pattern: match[2]!.trim(), timezone: match[1]! };
  try {
    // Constructing a paused Cron validates both; nothing is scheduled.
    new Cron(parsed.pattern, { paused: true, ...(parsed.timezone === undefined ? {} : { timezone: parsed.timezone }) }).stop();
  } catch (error) {
    throw new InvalidInputError(`invalid schedule "${schedule}": ${errorMessage(error)}`, { cause: error });
  }
  return parsed;
}

