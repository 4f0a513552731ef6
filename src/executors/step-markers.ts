/**
 * Reads the step driver's marker lines back out of a run's log (the format is described in
 * steps-driver.ts), and slices one step's section out of it. Pure functions on the log text, so
 * every executor — and the API's log view — reads steps the same way.
 *
 * A job could print a line that looks like a marker; the driver prints its own after the step's
 * output, so for a step's end the last marker wins, and the plan is only taken from a line that
 * names the run (message data cannot know the run id in advance).
 */
import type { StepPlan } from './executor.js';

export interface StepEnd {
  readonly exitCode: number;
  readonly durationMs: number;
}

export interface StepMarkers {
  /** The plan line's steps, when it named `runId` (or no run id was asked for). */
  readonly plan: readonly StepPlan[] | undefined;
  /** Steps whose `::step` header is in the text. */
  readonly started: ReadonlySet<string>;
  /** Steps whose `::step-end` line is in the text. */
  readonly ended: ReadonlyMap<string, StepEnd>;
  /** The last line's results, when the driver got to print it. */
  readonly summary: ReadonlyMap<string, StepEnd | 'skipped'> | undefined;
}

const PLAN = /^::steps run=(\S*)((?: \S+)*)$/;
const START = /^::step (\S+)$/;
/** Not anchored at the start: it follows a step's output that did not end with a newline. */
const END = /::step-end (\S+) exit=(\d+) ms=(\d+)$/;
const SUMMARY = /^::steps-end((?: \S+)*)$/;
const SUMMARY_ENTRY = /^(\S+)=(?:(\d+)\/(\d+)ms|(skipped))$/;
const CONTINUE_SUFFIX = ':continueOnError';

/** Every marker in `text`. `runId`: only a plan line naming this run counts. */
export function readStepMarkers(text: string, runId?: string): StepMarkers {
  let plan: StepPlan[] | undefined;
  const started = new Set<string>();
  const ended = new Map<string, StepEnd>();
  let summary: Map<string, StepEnd | 'skipped'> | undefined;
  for (const line of text.split('\n')) {
    if (!line.includes('::step')) continue;
    const planMatch = plan === undefined ? PLAN.exec(line) : null;
    if (planMatch !== null && (runId === undefined || planMatch[1] === runId)) {
      plan = words(planMatch[2]).map((word) =>
        word.endsWith(CONTINUE_SUFFIX) ? { name: word.slice(0, -CONTINUE_SUFFIX.length), continueOnError: true } : { name: word, continueOnError: false },
      );
      continue;
    }
    const start = START.exec(line);
    if (start?.[1] !== undefined) started.add(start[1]);
    const end = END.exec(line);
    if (end?.[1] !== undefined) ended.set(end[1], { exitCode: Number(end[2]), durationMs: Number(end[3]) });
    const all = SUMMARY.exec(line);
    if (all !== null) summary = readSummary(words(all[1]));
  }
  return { plan, started, ended, summary };
}

/**
 * One step's section of a log: from its `::step NAME` line to its `::step-end` line, both
 * included; a step that never ended runs to the next step's header, the summary, or the end of
 * the text. Undefined when the header is not in the text (no such step, it did not run, or a
 * bounded log dropped it).
 */
export function stepLogSection(logText: string, stepName: string): string | undefined {
  const lines = logText.split('\n');
  const first = lines.indexOf(`::step ${stepName}`);
  if (first === -1) return undefined;
  const endMarker = `::step-end ${stepName} exit=`;
  for (let k = first + 1; k < lines.length; k++) {
    const line = lines[k] ?? '';
    if (line.includes(endMarker) && END.test(line)) return lines.slice(first, k + 1).join('\n') + '\n';
    if (START.test(line) || SUMMARY.test(line)) return lines.slice(first, k).join('\n') + '\n';
  }
  return lines.slice(first).join('\n');
}

function readSummary(entries: readonly string[]): Map<string, StepEnd | 'skipped'> {
  const summary = new Map<string, StepEnd | 'skipped'>();
  for (const entry of entries) {
    const match = SUMMARY_ENTRY.exec(entry);
    if (match?.[1] === undefined) continue;
    summary.set(match[1], match[4] !== undefined ? 'skipped' : { exitCode: Number(match[2]), durationMs: Number(match[3]) });
  }
  return summary;
}

function words(text: string | undefined): string[] {
  return (text ?? '').split(' ').filter((word) => word !== '');
}
