/**
 * The built-in `cron` source: fires a message on every tick of each schedule the job
 * definitions reference (`on: [{ source: cron, schedule: "0 9 * * 1" }]`), using croner.
 *
 * A schedule may start with `CRON_TZ=<zone> ` (as in Kubernetes CronJobs and cronie) to tick in
 * that time zone; otherwise the machine's zone is used. The message's topic is the schedule as
 * written, so each tick triggers exactly the jobs on that schedule; its id is the schedule plus
 * the scheduled time, so a tick is recorded (and runs) once even if delivered twice. Ticks
 * missed while jobwire was down are not caught up.
 */
import { Cron } from 'croner';
import type { Logger } from 'pino';
import { parseSchedule } from '../config/schedule.js';
import type { DeliverFn, Source, SourceStatus } from './source.js';

export class CronSource implements Source {
  readonly name = 'cron';
  readonly type = 'cron';
  private readonly crons: Cron[] = [];
  private state: SourceStatus = { state: 'starting' };
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly logger: Logger) {}

  async start(schedules: readonly string[], deliver: DeliverFn): Promise<void> {
    for (const schedule of schedules) {
      const { pattern, timezone } = parseSchedule(schedule);
      const cron = new Cron(pattern, { ...(timezone === undefined ? {} : { timezone }) }, (self: Cron) => {
        // Cron ticks fall on whole seconds; croner calls a few ms after. The nominal time makes
        // the message id the same wherever and however late the tick is handled.
        const firedAt = (self.currentRun() ?? new Date()).getTime();
        const scheduledAt = new Date(Math.floor(firedAt / 1000) * 1000).toISOString();
        const delivery = this.fire(schedule, scheduledAt, deliver);
        this.inFlight.add(delivery);
        void delivery.finally(() => this.inFlight.delete(delivery));
      });
      this.crons.push(cron);
      this.logger.info({ source: 'cron', schedule, next: cron.nextRun()?.toISOString() ?? null }, 'schedule armed');
    }
    this.state = { state: 'connected', since: Date.now() };
  }

  private async fire(schedule: string, scheduledAt: string, deliver: DeliverFn): Promise<void> {
    const id = `${schedule}@${scheduledAt}`;
    try {
      await deliver({
        message: {
          id,
          source: 'cron',
          topic: schedule,
          headers: {},
          body: { schedule, scheduledAt },
          correlationId: id,
          receivedAt: Date.now(),
        },
      });
    } catch (error) {
      this.logger.error({ err: error, source: 'cron', schedule, correlationId: id }, 'scheduled message could not be recorded');
    }
  }

  status(): SourceStatus {
    return this.state;
  }

  async stop(): Promise<void> {
    for (const cron of this.crons) cron.stop();
    this.crons.length = 0;
    await Promise.all(this.inFlight);
    this.state = { state: 'stopped' };
  }
}
