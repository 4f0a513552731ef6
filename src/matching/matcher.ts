/**
 * Decides which jobs a message triggers. Triggers are indexed by source once, when the matcher
 * is built from the compiled config; matching a message walks only its source's triggers.
 *
 * A job matches when any of its triggers matches; a trigger matches when every condition it
 * states holds (topic, CloudEvents type, JSONPath, CEL filter). A filter that fails to evaluate
 * for a message (a missing field) is a non-match, and `explain` says why.
 */
import { JSONPath } from 'jsonpath-plus';
import type { CompiledJob, CompiledTrigger } from '../config/types.js';
import { errorMessage } from '../core/errors.js';
import { messageView, type Message, type MessageView } from '../core/message.js';

export interface JobVerdict {
  readonly job: CompiledJob;
  readonly matched: boolean;
  /** Why the job did not match (one reason per trigger of the message's source). */
  readonly reasons: readonly string[];
}

interface IndexedTrigger {
  readonly job: CompiledJob;
  readonly trigger: CompiledTrigger;
}

export class Matcher {
  private readonly bySource = new Map<string, IndexedTrigger[]>();
  private readonly jobs: readonly CompiledJob[];

  constructor(jobs: readonly CompiledJob[]) {
    this.jobs = jobs;
    for (const job of jobs) {
      for (const trigger of job.triggers) {
        const list = this.bySource.get(trigger.source) ?? [];
        list.push({ job, trigger });
        this.bySource.set(trigger.source, list);
      }
    }
  }

  /** Topics each source must subscribe to: only what the job definitions reference. */
  topicsBySource(): Map<string, string[]> {
    const topics = new Map<string, string[]>();
    for (const [source, triggers] of this.bySource) {
      const set = new Set<string>();
      for (const { trigger } of triggers) {
        // A cron trigger's "topic" is its schedule: the cron source fires one message per tick.
        if (trigger.schedule !== undefined) set.add(trigger.schedule);
        else if (trigger.topic !== undefined) set.add(trigger.topic.pattern);
      }
      topics.set(source, [...set]);
    }
    return topics;
  }

  /** The jobs the message triggers, in config order, each once. */
  match(message: Message): CompiledJob[] {
    const triggers = this.bySource.get(message.source);
    if (triggers === undefined) return [];
    const view = messageView(message);
    const matched = new Set<CompiledJob>();
    for (const { job, trigger } of triggers) {
      if (matched.has(job)) continue;
      if (triggerMismatch(trigger, message, view) === undefined) matched.add(job);
    }
    return this.jobs.filter((job) => matched.has(job));
  }

  /** Every job with its verdict and the reasons it did not match: for dry runs and `jobwire test`. */
  explain(message: Message): JobVerdict[] {
    const view = messageView(message);
    return this.jobs.map((job) => {
      const reasons: string[] = [];
      const own = job.triggers.filter((trigger) => trigger.source === message.source);
      if (own.length === 0) {
        const sources = [...new Set(job.triggers.map((trigger) => trigger.source))].join(', ');
        return { job, matched: false, reasons: [`no trigger on source "${message.source}" (listens on ${sources})`] };
      }
      for (const trigger of own) {
        const mismatch = triggerMismatch(trigger, message, view);
        if (mismatch === undefined) return { job, matched: true, reasons: [] };
        reasons.push(`${trigger.position.file}:${trigger.position.line}:${trigger.position.col}: ${mismatch}`);
      }
      return { job, matched: false, reasons };
    });
  }
}

/** Undefined when the trigger matches; otherwise why not. */
function triggerMismatch(trigger: CompiledTrigger, message: Message, view: MessageView): string | undefined {
  if (trigger.schedule !== undefined && trigger.schedule !== message.topic) {
    return `scheduled tick "${message.topic}" is not this trigger's schedule "${trigger.schedule}"`;
  }
  if (trigger.topic !== undefined && !trigger.topic.matches(message.topic)) {
    return `topic "${message.topic}" does not match "${trigger.topic.pattern}"`;
  }
  if (trigger.type !== undefined) {
    const type = message.cloudEvent?.type;
    if (type === undefined) return `not a CloudEvent, trigger wants type "${trigger.type.pattern}"`;
    if (!trigger.type.matches(type)) return `type "${type}" does not match "${trigger.type.pattern}"`;
  }
  if (trigger.jsonpath !== undefined) {
    const { property, match } = trigger.jsonpath;
    const values = jsonPathValues(property, message.body);
    if (!values.some((value) => jsonPathText(value) === match)) {
      return values.length === 0
        ? `${property} matched nothing in the message (wanted "${match}")`
        : `${property} is ${values.map((value) => JSON.stringify(value)).join(', ')}, not "${match}"`;
    }
  }
  if (trigger.filter !== undefined) {
    let result: unknown;
    try {
      result = trigger.filter.evaluate(view);
    } catch (error) {
      return `filter \`${trigger.filter.source}\` could not be evaluated: ${firstLine(errorMessage(error))}`;
    }
    if (result !== true) return `filter \`${trigger.filter.source}\` is ${String(result)}`;
  }
  return undefined;
}

/** All values a JSONPath (rooted at the message body) selects. */
export function jsonPathValues(path: string, body: unknown): unknown[] {
  if (typeof body !== 'object' || body === null) return [];
  const result: unknown = JSONPath({ path, json: body as object, wrap: true });
  return Array.isArray(result) ? result : [];
}

/** The text a JSONPath value stands for: strings as-is, everything else as JSON. */
export function jsonPathText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value) ?? '';
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}
