/**
 * A job command that waits while a file exists: a test holds the runs in flight at a point of
 * its choosing (say, just before it stops the broker), so "the broker went down while messages
 * were still flowing" is true by construction rather than by how fast this machine is.
 */
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from './harness.js';

export interface HoldGate {
  /** The job's `command:` as a YAML flow sequence. */
  readonly command: string;
  /** From now on, runs that start wait (and those waiting keep waiting). */
  hold(): void;
  /** The waiting runs end and new ones pass straight through. */
  release(): void;
}

export function holdGate(): HoldGate {
  const file = path.join(tempDir('jobwire-hold-'), 'hold');
  const script = `while [ -e ${file} ]; do sleep 0.02; done`;
  return {
    command: JSON.stringify(['sh', '-c', script]),
    hold: () => writeFileSync(file, ''),
    release: () => rmSync(file, { force: true }),
  };
}
