/**
 * What a run's transitions bring with them (store.ts TransitionEffects), built for the
 * dispatcher and written in the transaction of the transition:
 * - every start of an attempt: `io.jobwire.run.started` to each sink that takes it;
 * - the final end of a run: `io.jobwire.run.finished`, and the job's `then:` (chaining);
 * - for a job in Keptn mode triggered by `sh.keptn.event.<task>.triggered`: the Keptn answers;
 * - the final end of a run whose message named a `reply-to`: the reply (events/replies.ts).
 *
 * After the commit, `committed` tells the relay which targets have new entries.
 */
import type { Logger } from 'pino';
import type { CompiledEvents, CompiledJob, CompiledSink } from '../config/types.js';
import type { Message } from '../core/message.js';
import type { RunRecord } from '../core/run.js';
import type { CapturedLog } from '../executors/executor.js';
import { thenEffects, type ThenContext } from '../chaining/then-actions.js';
import type { OutboxEntry, TransitionEffects } from '../store/store.js';
import { CLOUDEVENTS_CONTENT_TYPE, logTailOf, runFinishedEvent, runStartedEvent, type CloudEvent } from './cloudevents.js';
import type { OutboundPayload } from './deliverer.js';
import { keptnFinishedEvent, keptnStartedEvent, keptnTrigger } from './keptn.js';
import { replyEntry } from './replies.js';

export interface RunEffects {
  /** An attempt starts; `message` is loaded only when a Keptn job needs it. */
  started(run: RunRecord, job: CompiledJob | undefined, at: number, message: () => Promise<Message | undefined>): Promise<TransitionEffects | undefined>;
  /** A run reached its final state (`run` as it is about to be written). */
  finished(run: RunRecord, job: CompiledJob | undefined, log: CapturedLog | null, at: number, message: () => Promise<Message | undefined>): Promise<TransitionEffects | undefined>;
  /** The effects were committed: deliver their outbox entries. */
  committed(effects: TransitionEffects): void;
}

export interface LifecycleEffectsOptions {
  readonly events: CompiledEvents;
  readonly jobs: ReadonlyMap<string, CompiledJob>;
  readonly maxChainDepth: number;
  readonly logger: Logger;
  /** Sources that answer a request's `reply-to` with its run's result (events/replies.ts). */
  readonly replySources: ReadonlySet<string>;
  /** Told the outbox targets that have new entries (the relay). */
  readonly notify: (counts: ReadonlyMap<string, number>) => void;
}

export function createRunEffects(options: LifecycleEffectsOptions): RunEffects {
  const { events } = options;
  const thenContext: ThenContext = { jobs: options.jobs, maxChainDepth: options.maxChainDepth, logger: options.logger };

  const toSinks = (event: CloudEvent, job: string, outbox: OutboxEntry[]): void => {
    let serialized: string | undefined;
    for (const sink of events.sinks) {
      if (!takes(sink, event.type, job)) continue;
      // Every sink that takes it gets the same bytes: serialize the event once.
      serialized ??= JSON.stringify({
        headers: { 'content-type': CLOUDEVENTS_CONTENT_TYPE, 'correlation-id': String(event['correlationid'] ?? '') },
        body: JSON.stringify(event),
      } satisfies OutboundPayload);
      outbox.push({ target: `sink:${sink.name}`, id: event.id, payload: serialized });
    }
  };
  const needsMessageAtStart = (job: CompiledJob | undefined): boolean => job?.keptn === true && events.sinks.length > 0;

  return {
    async started(run, job, at, message) {
      if (events.sinks.length === 0) return undefined;
      const outbox: OutboxEntry[] = [];
      toSinks(runStartedEvent({ run, instance: events.instance, at }), run.job, outbox);
      if (needsMessageAtStart(job)) {
        const trigger = await message().then((found) => (found === undefined ? undefined : keptnTrigger(found)));
        if (trigger !== undefined) toSinks(keptnStartedEvent(trigger, run, events.instance, at), run.job, outbox);
      }
      return outbox.length === 0 ? undefined : { outbox };
    },

    async finished(run, job, log, at, message) {
      const outbox: OutboxEntry[] = [];
      const needsTail = events.sinks.length > 0;
      const { tail, truncated } = needsTail && log !== null ? logTailOf(log.text, events.logTailBytes) : { tail: '', truncated: false };
      const logTruncated = truncated || (log !== null && log.droppedBytes > 0);
      if (needsTail) toSinks(runFinishedEvent({ run, instance: events.instance, at, logTail: tail, logTruncated }), run.job, outbox);
      const chained = job !== undefined && job.then.length > 0;
      const keptn = needsMessageAtStart(job);
      const mayReply = options.replySources.has(run.source);
      if (!chained && !keptn && !mayReply) return outbox.length === 0 ? undefined : { outbox };
      const trigger = await message();
      if (trigger === undefined) {
        options.logger.warn({ runId: run.id, correlationId: run.correlationId }, 'the message of a finished run is gone: no then/Keptn answer/reply');
        return outbox.length === 0 ? undefined : { outbox };
      }
      if (mayReply) {
        const reply = replyEntry(run, trigger);
        if (reply !== undefined) outbox.push(reply);
      }
      if (keptn) {
        const keptnSource = keptnTrigger(trigger);
        if (keptnSource !== undefined) toSinks(keptnFinishedEvent(keptnSource, run, events.instance, at, tail, logTruncated), run.job, outbox);
      }
      if (!chained) return outbox.length === 0 ? undefined : { outbox };
      const then = thenEffects(run, job, trigger, at, thenContext);
      outbox.push(...then.outbox);
      return { outbox, messages: then.messages };
    },

    committed(effects) {
      if (effects.outbox === undefined || effects.outbox.length === 0) return;
      const counts = new Map<string, number>();
      for (const entry of effects.outbox) counts.set(entry.target, (counts.get(entry.target) ?? 0) + 1);
      options.notify(counts);
    },
  };
}

function takes(sink: CompiledSink, type: string, job: string): boolean {
  if (sink.jobs !== undefined && !sink.jobs.includes(job)) return false;
  return sink.types === undefined || sink.types.some((matcher) => matcher.matches(type));
}
