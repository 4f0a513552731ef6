/**
 * The per-attempt folder of the process executor: `<runsDir>/<runId>-<attempt>`, holding
 * message.json, the job's output.json once it writes one (`$JOBWIRE_OUTPUT`, always here, even
 * when the job names its own workingDir) and, unless the job names its own workingDir, the
 * job's files and cwd. Created fresh before the spawn and removed before the attempt's `done`
 * resolves, so callers see a clean disk — except a folder holding the attempt's output (or the
 * spawner's exit record), which stays until the end is in the store (`release`): a crash in
 * between must not lose the output, since the next jobwire reads it again from here.
 *
 * This stays in jobwire, asynchronous, rather than moving into the spawner with the fork: done
 * there (synchronously or not) it cost the spawner more than it saved jobwire — a directory
 * operation can wait on the file system's journal (rmdir ~0.4 ms under load on ext4), and the
 * spawner's one thread is the pipeline's narrowest point.
 */
import { copyFile, mkdir, rm, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PermanentError, errorMessage } from '../core/errors.js';
import type { RunSpec } from './executor.js';
import { OUTPUT_FILE } from './output-file.js';

const MESSAGE_FILE = 'message.json';

export interface PreparedFolder {
  /** Where the job runs: its own workingDir, or the run folder. */
  readonly cwd: string;
  /** message.json, the job's JOBWIRE_MESSAGE. */
  readonly messagePath: string;
  /** output.json, the job's JOBWIRE_OUTPUT (written by the job, if at all). */
  readonly outputPath: string;
}

export function attemptFolder(runsDir: string, runId: string, attempt: number): string {
  const name = `${runId}-${attempt}`;
  // Run ids are generated, but a folder name that could climb out of runsDir is never used.
  if (name !== path.basename(name) || name.startsWith('.')) {
    throw new PermanentError(`run id ${JSON.stringify(runId)} cannot name a folder`);
  }
  return path.join(path.resolve(runsDir), name);
}

/**
 * Creates the run folder (fresh), fills the working directory and writes message.json. Throws
 * PermanentError for what the job definition got wrong; other errors are the machine's.
 */
export async function prepareRunFolder(spec: RunSpec, runDir: string): Promise<PreparedFolder> {
  // The common case is one mkdir; a folder left by a crashed attempt is replaced.
  await mkdir(runDir, { mode: 0o700 }).catch(async (error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') await mkdir(runDir, { recursive: true, mode: 0o700 });
    else if (error.code === 'EEXIST') {
      await rm(runDir, { recursive: true, force: true });
      await mkdir(runDir, { mode: 0o700 });
    } else throw error;
  });
  let cwd = runDir;
  if (spec.workingDir !== undefined) {
    cwd = path.resolve(spec.workingDir);
    const info = await stat(cwd).catch((error: unknown) => {
      throw new PermanentError(`workingDir ${cwd} does not exist`, { cause: error });
    });
    if (!info.isDirectory()) throw new PermanentError(`workingDir ${cwd} is not a directory`);
  }
  for (const file of spec.files) {
    const target = path.resolve(cwd, file.path);
    const relative = path.relative(cwd, target);
    if (path.isAbsolute(file.path) || relative === '' || relative.startsWith('..')) {
      throw new PermanentError(`file path ${JSON.stringify(file.path)} must stay inside the working directory`);
    }
    await mkdir(path.dirname(target), { recursive: true });
    if (file.from !== undefined) {
      // copyFile keeps the source's mode, so executable scripts stay executable.
      await copyFile(file.from, target).catch((error: unknown) => {
        throw new PermanentError(`cannot copy file ${file.from} to ${file.path}: ${errorMessage(error)}`, {
          cause: error,
        });
      });
    } else if (file.content !== undefined) {
      await writeFile(target, file.content);
    } else {
      throw new PermanentError(`file ${JSON.stringify(file.path)} has neither 'from' nor 'content'`);
    }
  }
  const messagePath = path.join(runDir, MESSAGE_FILE);
  // 0600: the message may carry data other local users should not read.
  await writeFile(messagePath, spec.messageJson, { mode: 0o600 });
  return { cwd, messagePath, outputPath: outputFileOf(runDir) };
}

/** Where an attempt's job writes its output (`$JOBWIRE_OUTPUT`), in its run folder. */
export function outputFileOf(runDir: string): string {
  return path.join(runDir, OUTPUT_FILE);
}

/** Removes the folder and everything in it; a folder already gone is fine. */
export async function removeRunFolder(runDir: string): Promise<void> {
  // Fast path for a folder holding only message.json: two syscalls instead of a tree walk.
  await unlink(path.join(runDir, MESSAGE_FILE)).catch(() => undefined);
  const emptied = await rmdir(runDir).then(
    () => true,
    (error: NodeJS.ErrnoException) => error.code === 'ENOENT',
  );
  if (!emptied) await rm(runDir, { recursive: true, force: true });
}
