/**
 * What a job (or one of its steps) runs: `command` + `args` as given (no shell), or a `script`.
 * Shared by jobs and steps so both say the same things about the same mistakes.
 */
import type { CompileContext } from './compile-context.js';
import type { ConfigPath } from './positions.js';
import type { RawJob } from './schema.js';
import { closestName } from './suggest.js';

export type RawRunnable = Pick<RawJob, 'command' | 'args' | 'script'>;

export type Runnable = { readonly kind: 'command'; readonly argv: string[] } | { readonly kind: 'script'; readonly script: string };

const RUNNABLE_KEYS = ['command', 'script'];

/**
 * Which of the fields are set is read from `raw`, so a rejected `command` does not also claim
 * there is none; values are read from `usable` (the fields that passed the schema check).
 * Undefined when there is nothing usable to run (the problem was reported).
 */
export function compileRunnable(
  raw: RawRunnable & object,
  usable: Partial<RawRunnable>,
  at: ConfigPath,
  label: string,
  knownKeys: ReadonlySet<string>,
  ctx: CompileContext,
  /** What the message for "nothing to run" lists. */
  choices = 'command or script',
): Runnable | undefined {
  if (raw.command !== undefined && raw.script !== undefined) {
    ctx.report([...at, 'script'], `${label} has both "command" and "script"; keep one`);
  }
  if (raw.script !== undefined) {
    if (raw.args !== undefined) {
      ctx.report([...at, 'args'], '"args" only goes with "command"; a script gets its input from env and files');
    }
    return usable.script === undefined ? undefined : { kind: 'script', script: usable.script };
  }
  if (raw.command === undefined) {
    // A misspelled `comand` was reported as an unknown key already; don't pile on.
    const misspelled = Object.keys(raw).some((key) => !knownKeys.has(key) && closestName(key, RUNNABLE_KEYS));
    if (!misspelled) ctx.report(at, `${label} needs one of ${choices}`);
    return undefined;
  }
  if (typeof usable.command === 'string' && /\s/.test(usable.command.trim())) {
    // Splitting on spaces would need shell quoting rules; make the user say what they mean.
    ctx.report(
      [...at, 'command'],
      '"command" is one program run without a shell; write it as a list like [echo, hello] or use "script"',
    );
  }
  if (usable.command === undefined) return undefined;
  const command = typeof usable.command === 'string' ? [usable.command] : usable.command;
  return { kind: 'command', argv: [...command, ...(usable.args ?? [])].map(String) };
}
