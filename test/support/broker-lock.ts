/**
 * A lock per shared broker, across the test files that node's runner runs side by side: a test
 * that restarts a broker (withStopped) holds it while the broker is down, and a scenario that
 * cannot tell a restart from a bug (exactly-once counts over a whole stream) holds it while it
 * runs, so the two never overlap. The lock is a directory (mkdir is atomic) holding the owner's
 * pid; a lock whose owner died is taken over.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sleep } from './eventually.js';

export type SharedBroker = 'rabbitmq' | 'nats' | 'activemq';

const WAIT_MS = 10 * 60_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function acquire(broker: SharedBroker): Promise<string> {
  const dir = path.join(os.tmpdir(), `jobwire-test-broker-${broker}.lock`);
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    try {
      mkdirSync(dir);
      writeFileSync(path.join(dir, 'pid'), String(process.pid));
      return dir;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let owner = NaN;
    try {
      owner = Number(readFileSync(path.join(dir, 'pid'), 'utf8'));
    } catch {
      // Just created, pid not written yet: wait.
    }
    if (Number.isInteger(owner) && owner !== process.pid && !alive(owner)) rmSync(dir, { recursive: true, force: true });
    if (Date.now() > deadline) throw new Error(`the ${broker} test lock (${dir}) was not free within ${WAIT_MS} ms`);
    await sleep(100);
  }
}

/** Runs `body` holding the locks of `brokers` (taken in one fixed order, so two holders never deadlock). */
export async function withBrokers<T>(brokers: readonly SharedBroker[], body: () => Promise<T>): Promise<T> {
  const held: string[] = [];
  try {
    for (const broker of [...new Set(brokers)].sort()) held.push(await acquire(broker));
    return await body();
  } finally {
    for (const dir of held.reverse()) rmSync(dir, { recursive: true, force: true });
  }
}
