/**
 * The raw limit for end-to-end benchmarks: how many times per second Node can spawn the same
 * trivial command at a given concurrency, with nothing recorded. Spawned the way the process
 * executor does it (own process group, stdout/stderr piped, waiting for 'close'), so the ratio
 * measures jobwire's overhead and not a difference in how the process is started.
 *
 * Run directly: node dist/bench/spawn.js [count] [concurrency] [command args...]
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

export interface RawSpawnOptions {
  readonly count: number;
  readonly concurrency: number;
  readonly argv: readonly string[];
}

export async function measureRawSpawn(opts: RawSpawnOptions): Promise<{ perSecond: number }> {
  const [command, ...args] = opts.argv;
  if (command === undefined) throw new Error('argv must name a command');
  if (!(opts.count > 0) || !(opts.concurrency > 0)) throw new Error('count and concurrency must be positive');
  let started = 0;
  const worker = async (): Promise<void> => {
    while (started < opts.count) {
      started++;
      await spawnOnce(command, args);
    }
  };
  const begin = performance.now();
  const workers = Math.min(opts.concurrency, opts.count);
  await Promise.all(Array.from({ length: workers }, worker));
  const seconds = (performance.now() - begin) / 1000;
  return { perSecond: opts.count / seconds };
}

function spawnOnce(command: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    // Drain the pipes as the executor's log capture does, so a chatty command cannot block.
    child.stdout.resume();
    child.stderr.resume();
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`${command} exited with ${code}`))));
  });
}

async function main(): Promise<void> {
  const [countArg, concurrencyArg, ...argv] = process.argv.slice(2);
  const count = Number(countArg ?? 2000);
  const concurrency = Number(concurrencyArg ?? 8);
  const command = argv.length > 0 ? argv : ['true'];
  // A short warm-up so the first measured spawns do not pay for cold caches.
  await measureRawSpawn({ count: Math.min(100, count), concurrency, argv: command });
  const { perSecond } = await measureRawSpawn({ count, concurrency, argv: command });
  console.log(
    `raw spawn: ${perSecond.toFixed(0)} processes/s (count=${count} concurrency=${concurrency} argv=${JSON.stringify(command)})`,
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
