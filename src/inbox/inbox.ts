/**
 * The inbox is where every message enters, whichever way it came (a bus, the API, cron): it is
 * matched against the job definitions and recorded together with its runs in one transaction.
 * Only after `accept` resolves may a source acknowledge its broker — a crash before that means
 * redelivery, never loss; a redelivery finds the message recorded and creates nothing.
 */
import type { Logger } from 'pino';
import { newId } from '../core/ids.js';
import type { Message } from '../core/message.js';
import type { RunRecord } from '../core/run.js';
import type { Matcher } from '../matching/matcher.js';
import type { Store } from '../store/store.js';

export interface AcceptOutcome {
  readonly message: Message;
  readonly duplicate: boolean;
  readonly runs: readonly RunRecord[];
}

export interface InboxOptions {
  readonly store: Store;
  readonly matcher: Matcher;
  /** Called with the new runs after they were committed (wakes the dispatcher, feeds the run feed). */
  readonly onRunsQueued: (runs: readonly RunRecord[], at: number) => void;
  readonly logger: Logger;
}

export class Inbox {
  constructor(private readonly options: InboxOptions) {}

  async accept(message: Message): Promise<AcceptOutcome> {
    const { store, matcher, logger } = this.options;
    const jobs = matcher.match(message);
    const now = Date.now();
    const result = await store.acceptMessage(
      message,
      jobs.map((job) => job.name),
      jobs.map((job) => ({
        id: newId(now),
        job: job.name,
        priority: job.priority,
        maxAttempts: job.retries.limit + 1,
        executor: job.executor,
      })),
    );
    if (!result.duplicate && result.runs.length > 0) this.options.onRunsQueued(result.runs, now);
    // Built only when written: under load this runs for every message, and a child logger or the
    // list of runs costs even when the level is off.
    if (logger.isLevelEnabled('info')) {
      const about = { correlationId: message.correlationId, messageId: message.id, source: message.source };
      if (result.duplicate) {
        logger.info({ ...about, runs: result.runs.map((run) => run.id) }, 'duplicate message: already recorded, nothing new runs');
      } else if (result.runs.length === 0) {
        logger.info({ ...about, topic: message.topic }, 'message matched no job');
      } else {
        logger.info({ ...about, topic: message.topic, runs: result.runs.map((run) => ({ id: run.id, job: run.job })) }, 'message accepted');
      }
    }
    return { message, duplicate: result.duplicate, runs: result.runs };
  }
}
