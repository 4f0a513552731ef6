/**
 * One `on` entry of a job: which source it listens to and the matchers a message must pass
 * (topic and type globs, a CEL filter, a JSONPath match), all compiled now so matching a
 * message never parses anything.
 */
import { errorMessage } from '../core/errors.js';
import { compileNameMatcher } from '../matching/glob.js';
import type { CompileContext } from './compile-context.js';
import { jsonPathProblem } from './jsonpath.js';
import { parseSchedule } from './schedule.js';
import type { ConfigPath } from './positions.js';
import type { RawTrigger } from './schema.js';
import { didYouMean, nameList } from './suggest.js';
import type { CompiledExpression, CompiledJsonPathMatch, CompiledTrigger } from './types.js';

/** Returns undefined when the trigger has a problem (already reported). */
export function compileTrigger(
  trigger: RawTrigger,
  path: ConfigPath,
  knownSources: readonly string[],
  ctx: CompileContext,
): CompiledTrigger | undefined {
  let ok = true;
  const fail = (at: ConfigPath, message: string, offset?: number): void => {
    ok = false;
    ctx.report(at, message, offset);
  };

  if (!knownSources.includes(trigger.source)) {
    fail(
      [...path, 'source'],
      `unknown source "${trigger.source}"${didYouMean(trigger.source, knownSources)} (known: ${nameList(knownSources)})`,
    );
  }
  if (trigger.source === 'cron' && trigger.schedule === undefined) {
    fail(path, 'a cron trigger needs "schedule" (a cron expression like "0 9 * * 1")');
  } else if (trigger.source === 'cron' && trigger.schedule !== undefined) {
    try {
      parseSchedule(trigger.schedule);
    } catch (error) {
      fail([...path, 'schedule'], errorMessage(error));
    }
  } else if (trigger.source !== 'cron' && trigger.schedule !== undefined) {
    fail([...path, 'schedule'], `"schedule" only applies to source cron, not ${trigger.source}`);
  }

  let filter: CompiledExpression | undefined;
  if (trigger.if !== undefined) {
    const at = [...path, 'if'];
    const result = ctx.cel.compile(trigger.if, ctx.locator.value(at), 'filter');
    if (result.ok) filter = result.expression;
    else fail(at, `"if": ${result.message}`, result.offset);
  }

  let jsonpath: CompiledJsonPathMatch | undefined;
  if (trigger.jsonpath !== undefined) {
    const problem = jsonPathProblem(trigger.jsonpath.property);
    if (problem === undefined) jsonpath = { property: trigger.jsonpath.property, match: String(trigger.jsonpath.match) };
    else fail([...path, 'jsonpath', 'property'], problem);
  }

  if (!ok) return undefined;
  return {
    source: trigger.source,
    ...(trigger.topic !== undefined ? { topic: compileNameMatcher(trigger.topic) } : {}),
    ...(trigger.type !== undefined ? { type: compileNameMatcher(trigger.type) } : {}),
    ...(filter !== undefined ? { filter } : {}),
    ...(jsonpath !== undefined ? { jsonpath } : {}),
    ...(trigger.schedule !== undefined ? { schedule: trigger.schedule } : {}),
    position: ctx.locator.value(path),
  };
}
