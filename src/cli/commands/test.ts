import { loadConfig } from '../../config/load.js';
import { dryRun, type DryRunResult } from '../../matching/dry-run.js';
import { Matcher } from '../../matching/matcher.js';
import type { CliIo } from '../io.js';
import { readMessageFile } from '../message-file.js';

export interface TestOptions {
  readonly config: string;
  readonly message: string;
  readonly source?: string;
  readonly topic?: string;
  readonly json?: boolean;
}

export async function testCommand(options: TestOptions, io: CliIo): Promise<number> {
  const config = await loadConfig(options.config, io.env);
  const message = await readMessageFile(options.message, {
    knownSources: new Set(['http', 'cron', ...config.sources.keys()]),
    ...(options.source === undefined ? {} : { source: options.source }),
    ...(options.topic === undefined ? {} : { topic: options.topic }),
  });
  const result = dryRun(new Matcher(config.jobs), message, io.env);
  io.stdout(options.json === true ? `${JSON.stringify(result, null, 2)}\n` : formatDryRun(result));
  return 0;
}

/** Shell-style quoting for display only: nothing here is ever executed. */
function quote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

export function formatDryRun(result: DryRunResult): string {
  const lines: string[] = [];
  lines.push(`message ${result.messageId} on source ${result.source}${result.topic === '' ? '' : `, topic ${result.topic}`}${result.type === null ? '' : `, type ${result.type}`} (correlation id ${result.correlationId})`);
  lines.push(result.matches.length === 0 ? 'matches no job' : `matches ${result.matches.length} job${result.matches.length === 1 ? '' : 's'}:`);
  for (const match of result.matches) {
    lines.push('', `job ${match.job} (executor ${match.executor})`);
    if ('error' in match) {
      lines.push(`  would fail before starting: ${match.error}`);
      continue;
    }
    const [program, flag, script] = match.argv;
    if (match.steps !== null) {
      for (const step of match.steps) {
        lines.push(`  step ${step.name}${step.continueOnError ? ' (continueOnError)' : ''} (bash):`);
        for (const line of step.script.replace(/\n$/, '').split('\n')) lines.push(`    | ${line}`);
      }
    } else if (program === 'bash' && flag === '-c' && script !== undefined && match.argv.length === 3) {
      lines.push('  script (bash -c):');
      for (const line of script.replace(/\n$/, '').split('\n')) lines.push(`    | ${line}`);
    } else {
      lines.push(`  argv:  ${match.argv.map(quote).join(' ')}`);
    }
    if (match.image !== null) lines.push(`  image: ${match.image}`);
    if (match.workingDir !== null) lines.push(`  workingDir: ${match.workingDir}`);
    if (match.timeoutMs !== null) lines.push(`  timeout: ${match.timeoutMs} ms`);
    lines.push('  env:');
    for (const [name, value] of Object.entries(match.env)) lines.push(`    ${name}=${quote(value)}`);
    if (match.files.length > 0) lines.push(`  files: ${match.files.join(', ')}`);
  }
  if (result.unmatched.length > 0) {
    lines.push('', 'not matched:');
    for (const miss of result.unmatched) lines.push(`  ${miss.job}: ${miss.reasons.join('; ')}`);
  }
  return `${lines.join('\n')}\n`;
}
