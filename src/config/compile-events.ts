/**
 * What flows back out: the top-level `events:` (lifecycle CloudEvent sinks) and a job's
 * `events:` / `then:` (Keptn answers, chained messages and runs). Expressions in `then:` see
 * `message`, `run` and `item` (see expressions.ts); their results become message bodies, topics
 * and headers — data, never code.
 *
 * Cycles of `then: run` between jobs are refused here; a loop through a broker (a job publishing
 * to a queue that triggers itself) cannot be seen in the config and is stopped at run time by
 * `limits.maxChainDepth`.
 */
import { hostname } from 'node:os';
import { compileNameMatcher } from '../matching/glob.js';
import type { CompileContext } from './compile-context.js';
import type { ConfigPath } from './positions.js';
import type { RawConfig, RawJob } from './schema.js';
import { substituteTree } from './substitute.js';
import { didYouMean } from './suggest.js';
import type { CompiledEvents, CompiledExpression, CompiledJob, CompiledSink, CompiledThenAction, SourceDefinition, TextTemplate } from './types.js';
import { parseDuration, parseSize } from './units.js';

/** Sources jobwire can publish to (it has a Publisher for them). */
const PUBLISHABLE_TYPES = new Set(['amqp', 'stomp', 'nats']);
const WHOLE_EXPRESSION = /^\s*\$\{\{([\s\S]*)\}\}\s*$/;
const DEFAULT_MAX_PENDING = 100_000;

export function compileEvents(raw: RawConfig, sources: ReadonlyMap<string, SourceDefinition>, jobNames: readonly string[], ctx: CompileContext): CompiledEvents {
  const events = ctx.shape.intact(['events']) ? raw.events : undefined;
  const instance = events?.source ?? `jobwire://${hostname()}`;
  const logTailBytes = parseSize(events?.logTail ?? '4KiB');
  const sinks: CompiledSink[] = [];
  for (const [name, rawSink] of Object.entries(events?.sinks ?? {})) {
    const at: ConfigPath = ['events', 'sinks', name];
    const sink = substituteTree(rawSink, at, ctx.env, (path, offset, message) => ctx.report(path, message, offset)) as typeof rawSink;
    const common = {
      name,
      maxPending: sink.maxPending ?? DEFAULT_MAX_PENDING,
      position: ctx.locator.key(at),
      ...(sink.types === undefined ? {} : { types: sink.types.map((type) => compileNameMatcher(type)) }),
      ...(sink.jobs === undefined ? {} : { jobs: sink.jobs }),
    };
    sink.jobs?.forEach((job, index) => {
      if (!jobNames.includes(job)) ctx.report([...at, 'jobs', index], `sink "${name}": no job "${job}"${didYouMean(job, jobNames)}`);
    });
    if ((sink.source === undefined) === (sink.webhook === undefined)) {
      ctx.reportKey(at, `sink "${name}" needs exactly one of "source" (a bus) or "webhook" (a URL)`);
      continue;
    }
    if (sink.webhook !== undefined) {
      if (sink.topic !== undefined) ctx.report([...at, 'topic'], `sink "${name}": "topic" is for bus sinks; a webhook posts to its URL`);
      if (!/^https?:\/\//.test(sink.webhook)) {
        ctx.report([...at, 'webhook'], `sink "${name}": webhook must be an http:// or https:// URL`);
        continue;
      }
      sinks.push({ ...common, kind: 'webhook', url: sink.webhook, headers: sink.headers ?? {}, timeoutMs: parseDuration(sink.timeout ?? '10s') });
      continue;
    }
    const source = busSource(sink.source ?? '', [...at, 'source'], sources, ctx);
    if (sink.headers !== undefined) ctx.report([...at, 'headers'], `sink "${name}": "headers" is for webhooks`);
    if (sink.topic === undefined) {
      ctx.reportKey(at, `sink "${name}" needs "topic": where on source "${sink.source ?? ''}" the events go`);
      continue;
    }
    if (source !== undefined) sinks.push({ ...common, kind: 'bus', source: source.name, topic: sink.topic });
  }
  return { instance, logTailBytes, sinks };
}

function busSource(name: string, at: ConfigPath, sources: ReadonlyMap<string, SourceDefinition>, ctx: CompileContext): SourceDefinition | undefined {
  const source = sources.get(name);
  if (source === undefined) {
    ctx.report(at, `no source "${name}" to publish to${didYouMean(name, [...sources.keys()])}`);
    return undefined;
  }
  if (!PUBLISHABLE_TYPES.has(source.type)) {
    ctx.report(at, `source "${name}" is of type ${source.type}; jobwire publishes to ${[...PUBLISHABLE_TYPES].join(', ')} sources`);
    return undefined;
  }
  return source;
}

export interface JobChain {
  readonly keptn: boolean;
  readonly then: readonly CompiledThenAction[];
}

/** A job's `events:` and `then:`; `sources` are the configured ones, `jobNames` every job's. */
export function compileJobChain(
  raw: RawJob,
  index: number,
  sources: ReadonlyMap<string, SourceDefinition>,
  jobNames: readonly string[],
  ctx: CompileContext,
): JobChain {
  const at: ConfigPath = ['jobs', index];
  const keptn = ctx.shape.intact([...at, 'events']) ? raw.events?.keptn === true : false;
  const then: CompiledThenAction[] = [];
  if (!ctx.shape.intact([...at, 'then'])) return { keptn, then };
  (raw.then ?? []).forEach((entry, position) => {
    const path: ConfigPath = [...at, 'then', position];
    if ((entry.publish === undefined) === (entry.run === undefined)) {
      ctx.report(path, 'a then entry needs exactly one of "publish" (a message to a bus) or "run" (a job)');
      return;
    }
    const forEach = entry.forEach === undefined ? undefined : wholeExpression(entry.forEach, [...path, 'forEach'], ctx);
    if (entry.forEach !== undefined && forEach === undefined) return;
    const base = { when: entry.when ?? 'succeeded', position: ctx.locator.value(path), ...(forEach === undefined ? {} : { forEach }) } as const;
    if (entry.run !== undefined) {
      if (entry.run !== raw.name && !jobNames.includes(entry.run)) {
        ctx.report([...path, 'run'], `no job "${entry.run}" to run${didYouMean(entry.run, jobNames)}`);
        return;
      }
      const body = entry.with === undefined ? undefined : template(entry.with, [...path, 'with'], ctx);
      then.push({ ...base, action: { kind: 'run', job: entry.run, ...(body === undefined ? {} : { with: body }) } });
      return;
    }
    const publish = entry.publish;
    if (publish === undefined) return;
    if (entry.with !== undefined) ctx.report([...path, 'with'], '"with" goes with "run"; a published message takes "body"');
    const source = busSource(publish.source, [...path, 'publish', 'source'], sources, ctx);
    const topic = template(publish.topic, [...path, 'publish', 'topic'], ctx);
    const headers = Object.entries(publish.headers ?? {}).flatMap(([name, value]) => {
      const compiled = template(value, [...path, 'publish', 'headers', name], ctx);
      return compiled === undefined ? [] : [{ name: name.toLowerCase(), value: compiled }];
    });
    const body = publish.body === undefined ? undefined : template(publish.body, [...path, 'publish', 'body'], ctx);
    if (source === undefined || topic === undefined) return;
    then.push({ ...base, action: { kind: 'publish', source: source.name, topic, headers, ...(body === undefined ? {} : { body }) } });
  });
  return { keptn, then };
}

/** A literal, or one whole `${{ … }}` compiled with the chain's variables. */
function template(text: string, at: ConfigPath, ctx: CompileContext): TextTemplate | undefined {
  if (!text.includes('${{')) return { kind: 'literal', value: text };
  const expression = wholeExpression(text, at, ctx);
  return expression === undefined ? undefined : { kind: 'expression', expression };
}

function wholeExpression(text: string, at: ConfigPath, ctx: CompileContext): CompiledExpression | undefined {
  const inner = WHOLE_EXPRESSION.exec(text)?.[1];
  if (inner === undefined || inner.includes('${{')) {
    ctx.report(at, '${{ ... }} must be the whole value, like ${{ run.output.files }}', Math.max(0, text.indexOf('${{')));
    return undefined;
  }
  const offset = text.indexOf('${{') + 3 + (inner.length - inner.trimStart().length);
  const result = ctx.cel.compile(inner.trim(), ctx.locator.inValue(at, offset), 'value', 'chain');
  if (result.ok) return result.expression;
  ctx.report(at, result.message, offset + result.offset);
  return undefined;
}

/** Refuses `then: run` cycles (a → b → a), reported at the entry that closes the loop. */
export function checkChainCycles(jobs: readonly CompiledJob[], ctx: CompileContext): void {
  const byName = new Map(jobs.map((job) => [job.name, job]));
  const state = new Map<string, 'visiting' | 'done'>();
  const trail: string[] = [];
  const visit = (job: CompiledJob): void => {
    state.set(job.name, 'visiting');
    trail.push(job.name);
    job.then.forEach((entry) => {
      if (entry.action.kind !== 'run') return;
      const next = byName.get(entry.action.job);
      if (next === undefined) return;
      const seen = state.get(next.name);
      if (seen === 'visiting') {
        const loop = [...trail.slice(trail.indexOf(next.name)), next.name].join(' → ');
        ctx.reportAt(entry.position, `then: run makes a loop (${loop}): it would run forever; break the cycle`);
      } else if (seen === undefined) {
        visit(next);
      }
    });
    trail.pop();
    state.set(job.name, 'done');
  };
  for (const job of jobs) if (!state.has(job.name)) visit(job);
}
