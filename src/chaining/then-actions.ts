/**
 * A finished run's `then:` entries → what to write with its end (store.ts TransitionEffects):
 * `publish` becomes an outbox entry for the source's bus (delivered after the commit by the
 * relay), `run` becomes a chained message with its run, recorded in the same transaction.
 *
 * Ids are derived from the run and the entry (`<run>/then/<entry>/<item>`), so the message a
 * chain step sends is the same message however often it is sent: the jobwire that consumes it
 * dedupes it like any redelivery, and a kill -9 during a chain neither loses nor doubles a step.
 *
 * Every chained message carries the correlation id of the message that started the chain, and
 * `jobwire-chain-depth` (hops so far): past `limits.maxChainDepth` the chain stops with a
 * warning — that is what ends a loop built through a broker, which no config check can see.
 */
import type { Logger } from 'pino';
import { celValueToEnvString } from '../config/expressions.js';
import { CHAIN_SOURCE } from '../config/compile-context.js';
import type { CompiledJob, CompiledThenAction, TextTemplate } from '../config/types.js';
import { errorMessage } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { messageView, type Message, type MessageView } from '../core/message.js';
import type { RunRecord } from '../core/run.js';
import { stableEventId } from '../events/cloudevents.js';
import type { OutboundPayload } from '../events/deliverer.js';
import type { ChainedMessage, OutboxEntry } from '../store/store.js';

export const CHAIN_DEPTH_HEADER = 'jobwire-chain-depth';
export const PARENT_RUN_HEADER = 'jobwire-parent-run';
/** A forEach longer than this is cut (with a warning): a run's output must not flood a bus. */
const MAX_ITEMS = 10_000;

export interface ThenContext {
  readonly jobs: ReadonlyMap<string, CompiledJob>;
  readonly maxChainDepth: number;
  readonly logger: Logger;
}

export interface ThenEffects {
  readonly outbox: OutboxEntry[];
  readonly messages: ChainedMessage[];
}

/** `failed` covers failed and timed_out; only `always` acts on a cancelled run. */
export function whenMatches(when: CompiledThenAction['when'], status: RunRecord['status']): boolean {
  if (when === 'always') return true;
  if (when === 'succeeded') return status === 'succeeded';
  return status === 'failed' || status === 'timed_out';
}

export function chainDepthOf(message: Message): number {
  const depth = Number(message.headers[CHAIN_DEPTH_HEADER] ?? 0);
  return Number.isSafeInteger(depth) && depth > 0 ? depth : 0;
}

/** The view of the finished run that `then:` expressions see as `run`. */
export function runView(run: RunRecord): Record<string, unknown> {
  return {
    id: run.id,
    job: run.job,
    status: run.status,
    attempt: run.attempts,
    exitCode: run.exitCode,
    reason: run.reason,
    correlationId: run.correlationId,
    output: run.output ?? {},
  };
}

export function thenEffects(run: RunRecord, job: CompiledJob, message: Message, at: number, context: ThenContext): ThenEffects {
  const effects: ThenEffects = { outbox: [], messages: [] };
  const actions = job.then.filter((action) => whenMatches(action.when, run.status));
  if (actions.length === 0) return effects;
  const log = context.logger.child({ correlationId: run.correlationId, runId: run.id, job: run.job });
  const depth = chainDepthOf(message) + 1;
  if (depth > context.maxChainDepth) {
    log.warn({ depth, maxChainDepth: context.maxChainDepth }, 'then: not done: the chain is longer than limits.maxChainDepth (a loop through a broker?)');
    return effects;
  }
  const view = messageView(message);
  const runBindings = runView(run);
  job.then.forEach((action, index) => {
    if (!whenMatches(action.when, run.status)) return;
    try {
      const items = action.forEach === undefined ? [undefined] : listOf(action.forEach.evaluate(view, { run: runBindings }), log, index);
      items.forEach((item, itemIndex) => {
        const bindings = { run: runBindings, item };
        const key = `${run.id}/then/${index}/${itemIndex}`;
        const chainHeaders = { 'correlation-id': run.correlationId, [CHAIN_DEPTH_HEADER]: String(depth), [PARENT_RUN_HEADER]: run.id };
        const fallback = item !== undefined ? celValueToEnvString(item) : JSON.stringify(run.output ?? {});
        if (action.action.kind === 'publish') {
          const { source, topic, headers, body } = action.action;
          const text = body === undefined ? fallback : render(body, view, bindings);
          const payload: OutboundPayload = {
            topic: render(topic, view, bindings),
            headers: {
              'content-type': isJson(text) ? 'application/json' : 'text/plain',
              ...Object.fromEntries(headers.map((header) => [header.name, render(header.value, view, bindings)])),
              ...chainHeaders,
            },
            body: text,
          };
          effects.outbox.push({ target: `publish:${source}`, id: stableEventId(key), payload: JSON.stringify(payload) });
          return;
        }
        const target = context.jobs.get(action.action.job);
        if (target === undefined) return;
        const text = action.action.with === undefined ? fallback : render(action.action.with, view, bindings);
        effects.messages.push({
          message: {
            id: key.replaceAll('/', '.'),
            source: CHAIN_SOURCE,
            topic: run.job,
            headers: { ...chainHeaders, 'content-type': isJson(text) ? 'application/json' : 'text/plain' },
            body: parseBody(text),
            correlationId: run.correlationId,
            receivedAt: at,
          },
          runs: [{ id: newId(at), job: target.name, priority: target.priority, maxAttempts: target.retries.limit + 1, executor: target.executor }],
        });
      });
    } catch (error) {
      log.warn({ err: error, then: index, at: `${action.position.file}:${action.position.line}:${action.position.col}` }, `then entry ${index} not done: ${errorMessage(error)}`);
    }
  });
  return effects;
}

function render(template: TextTemplate, view: MessageView, bindings: { run: Record<string, unknown>; item: unknown }): string {
  return template.kind === 'literal' ? template.value : celValueToEnvString(template.expression.evaluate(view, bindings));
}

function listOf(value: unknown, log: Logger, index: number): unknown[] {
  if (!Array.isArray(value)) throw new Error(`forEach must give a list, got ${value === null ? 'null' : typeof value}`);
  if (value.length <= MAX_ITEMS) return value;
  log.warn({ then: index, items: value.length, kept: MAX_ITEMS }, 'forEach gave too many items; the rest are not sent');
  return value.slice(0, MAX_ITEMS);
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function parseBody(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
