/**
 * The `jobwire` command line. Each subcommand is one file in commands/; this file only declares
 * them, so `--help` stays the single place that lists what jobwire can do.
 */
import { Command, CommanderError, Option } from 'commander';
import { ConfigError } from '../config/config-error.js';
import { errorMessage, InvalidInputError } from '../core/errors.js';
import { processIo, type CliIo } from './io.js';
import { renderCommand } from './commands/render.js';
import { sendCommand } from './commands/send.js';
import { serveCommand } from './commands/serve.js';
import { testCommand } from './commands/test.js';
import { validateCommand } from './commands/validate.js';

const VERSION = '0.1.0';

export async function runCli(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  let exitCode = 0;
  const program = new Command()
    .name('jobwire')
    .description('Run any job when a message arrives: match messages against job definitions, record every run, execute it.')
    .version(VERSION)
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError();

  program
    .command('serve')
    .description('start the API, the sources and the dispatcher; SIGTERM drains gracefully (dispatcher.onShutdown), runs outlive a crash and are adopted at the next start')
    .requiredOption('-c, --config <file>', 'config file (YAML)')
    .option('-p, --port <port>', 'HTTP port', '8080')
    .option('--host <host>', 'HTTP address to bind', '127.0.0.1')
    .option('-d, --data-dir <dir>', 'where the store and run folders live', './.jobwire')
    .addOption(new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'))
    .action(async (options: { config: string; port: string; host: string; dataDir: string; logLevel: string }) => {
      exitCode = await serveCommand(options, io);
    });

  program
    .command('validate')
    .description('check a config file; prints FILE:LINE:COL errors and exits 1 when it is invalid')
    .requiredOption('-c, --config <file>', 'config file (YAML)')
    .action(async (options: { config: string }) => {
      exitCode = await validateCommand(options, io);
    });

  program
    .command('test')
    .description('dry run: which jobs a message matches, and the exact argv, env and files each run would get')
    .requiredOption('-c, --config <file>', 'config file (YAML)')
    .requiredOption('-m, --message <file>', 'message file (an envelope, a CloudEvent, or a payload; - for stdin)')
    .option('-s, --source <name>', 'source the message is taken as arriving on (default: http, or the envelope\'s)')
    .option('-t, --topic <topic>', 'topic/queue/subject it is taken as arriving on')
    .option('--json', 'print JSON instead of text')
    .action(async (options: { config: string; message: string; source?: string; topic?: string; json?: boolean }) => {
      exitCode = await testCommand(options, io);
    });

  program
    .command('send')
    .description('publish a message to a configured source, a broker URL, or a jobwire HTTP API')
    .argument('<file>', 'the payload, sent byte for byte (- for stdin)')
    .option('-c, --config <file>', 'config file that defines --source')
    .option('-s, --source <name>', 'a source defined in the config')
    .option('-u, --url <url>', 'a broker URL (amqp://, stomp://, nats://) or a jobwire API (http://host:8080)')
    .requiredOption('-t, --topic <topic>', 'queue, destination or subject to publish to (the envelope topic for http)')
    .option('-H, --header <name=value>', 'a message header (repeatable; message-id sets the message id)', (value: string, all: string[]) => [...all, value], [] as string[])
    .action(async (file: string, options: { config?: string; source?: string; url?: string; topic: string; header: string[] }) => {
      exitCode = await sendCommand({ ...options, file }, io);
    });

  program
    .command('render')
    .description('print the Kubernetes manifests (ConfigMap + Job) the kubernetes executor would create for JOB and a message, or the CronJobs of scheduled jobs, as YAML for review or kubectl apply')
    .argument('[job]', 'the job to render (with --cronjobs: only its CronJobs)')
    .requiredOption('-c, --config <file>', 'config file (YAML)')
    .option('-m, --message <file>', 'message file (an envelope, a CloudEvent, or a payload; - for stdin), as for jobwire test')
    .option('-s, --source <name>', 'source the message is taken as arriving on (default: http, or the envelope\'s)')
    .option('-t, --topic <topic>', 'topic/queue/subject it is taken as arriving on')
    .option('--run-id <id>', 'run id to name the Job after (default: a new one)')
    .option('--cronjobs', 'print a batch/v1 CronJob (+ ConfigMap) for each cron schedule of jobs on a kubernetes executor')
    .addHelpText(
      'after',
      '\nEnv values are resolved as for a real run, fromEnv values from this process\'s environment; secrets stay references.\n' +
        'Examples:\n  jobwire render -c jobwire.yaml countdown -m message.json | kubectl apply -f -\n  jobwire render -c jobwire.yaml --cronjobs > cronjobs.yaml\n',
    )
    .action(async (job: string | undefined, options: { config: string; message?: string; source?: string; topic?: string; runId?: string; cronjobs?: boolean }) => {
      exitCode = await renderCommand({ ...options, ...(job === undefined ? {} : { job }) }, io);
    });

  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (error instanceof ConfigError) {
      io.stderr(`${error.message}\n`);
      return 1;
    }
    if (error instanceof InvalidInputError) {
      io.stderr(`jobwire: ${error.message}\n`);
      return 1;
    }
    io.stderr(`jobwire: ${errorMessage(error)}\n`);
    return 1;
  }
  return exitCode;
}
