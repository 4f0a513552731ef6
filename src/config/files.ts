/**
 * A job's `files`: paths relative to the config's folder that are copied into each run's
 * working directory. They are resolved at load time so a missing file is a config error, not a
 * failed run, and confined to the config's folder (also through symbolic links) so a reviewed
 * config cannot quietly ship `/etc` or `../secrets` to a job.
 */
import { readdirSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { errorMessage } from '../core/errors.js';
import type { ConfigFile } from './types.js';

export type FileExpansion = { readonly files: readonly ConfigFile[] } | { readonly problem: string };

/** The files an entry stands for: itself, or every file below it when it is a folder. */
export function expandConfigFile(dir: string, entry: string): FileExpansion {
  if (path.isAbsolute(entry) || path.win32.isAbsolute(entry)) {
    return { problem: `file "${entry}" must be a path relative to the config's folder` };
  }
  const normalized = path.normalize(entry);
  if (escapes(normalized)) return { problem: `file "${entry}" points outside the config's folder` };
  const absolute = path.resolve(dir, normalized);
  try {
    const stats = statSync(absolute, { throwIfNoEntry: false });
    if (stats === undefined) return { problem: `file "${entry}" does not exist (looked for ${absolute})` };
    const realDir = realpathSync(dir);
    if (!inside(realDir, realpathSync(absolute))) {
      return { problem: `file "${entry}" leads outside the config's folder through a symbolic link` };
    }
    if (stats.isFile()) return { files: [{ path: relativeTo(dir, absolute), absolutePath: absolute }] };
    if (!stats.isDirectory()) return { problem: `file "${entry}" is neither a regular file nor a folder` };
    const files: ConfigFile[] = [];
    const problem = walk(dir, realDir, absolute, new Set(), files);
    if (problem !== undefined) return { problem: `file "${entry}": ${problem}` };
    if (files.length === 0) return { problem: `folder "${entry}" contains no files` };
    return { files };
  } catch (error) {
    return { problem: `file "${entry}" cannot be read: ${errorMessage(error)}` };
  }
}

/** Collects regular files below `folder` in name order; returns a problem on an escaping link. */
function walk(dir: string, realDir: string, folder: string, seen: Set<string>, out: ConfigFile[]): string | undefined {
  const real = realpathSync(folder);
  if (seen.has(real)) return undefined; // a link back to a folder already walked
  seen.add(real);
  const entries = readdirSync(folder, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
  for (const entry of entries) {
    const absolute = path.join(folder, entry.name);
    if (entry.isSymbolicLink() && !inside(realDir, realpathSync(absolute))) {
      return `${relativeTo(dir, absolute)} leads outside the config's folder through a symbolic link`;
    }
    const stats = statSync(absolute);
    if (stats.isFile()) out.push({ path: relativeTo(dir, absolute), absolutePath: absolute });
    else if (stats.isDirectory()) {
      const problem = walk(dir, realDir, absolute, seen, out);
      if (problem !== undefined) return problem;
    }
  }
  return undefined;
}

function escapes(relative: string): boolean {
  return relative === '..' || relative.startsWith('..' + path.sep);
}

function inside(realDir: string, realTarget: string): boolean {
  const relative = path.relative(realDir, realTarget);
  return !escapes(relative) && !path.isAbsolute(relative);
}

/** Forward slashes, so the same config gives the same run layout on every platform. */
function relativeTo(dir: string, absolute: string): string {
  return path.relative(dir, absolute).split(path.sep).join('/');
}
