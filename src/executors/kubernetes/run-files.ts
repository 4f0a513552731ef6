/**
 * A run's files and message in a Kubernetes ConfigMap. The process executor copies `files` into
 * a run folder; on a cluster they travel in one ConfigMap per run (named like the Job), and the
 * pod mounts them back at their paths under the working directory, with message.json at a fixed
 * path (JOBWIRE_MESSAGE).
 *
 * ConfigMap keys may only hold `[-._a-zA-Z0-9]`, so each path is escaped into a key (`/` →
 * `_2f`, `_` → `_5f`: reversible, so two paths never share a key) and a volume item maps the key
 * back to the path. Text files go to `data`, anything that is not valid UTF-8 to `binaryData`.
 * The API server refuses a ConfigMap whose data is over 1 MiB; that is checked here, before
 * anything is created, with an error naming the files and their sizes.
 */
import { isUtf8 } from 'node:buffer';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { errorMessage, PermanentError } from '../../core/errors.js';
import type { RunFile, RunSpec } from '../executor.js';

/** A run file's bytes, read once before the manifests are built. */
export interface LoadedRunFile {
  /** Path relative to the working directory. */
  readonly path: string;
  readonly content: Buffer;
  /** The source file had an execute bit: mounted 0755 instead of 0644. */
  readonly executable: boolean;
}

/** ConfigMap key of the message. File keys start with `file.`, so they never collide with it. */
export const MESSAGE_KEY = 'message.json';
/** Folder the message is mounted in, and the file JOBWIRE_MESSAGE names. */
export const MESSAGE_DIR = '/var/run/jobwire';
export const MESSAGE_PATH = `${MESSAGE_DIR}/message.json`;

/** The API server's limit on a ConfigMap's data + binaryData (keys and values). */
export const CONFIGMAP_LIMIT_BYTES = 1024 * 1024;
/** What jobwire lets a run use of it: the rest is margin for metadata and the request envelope. */
export const CONFIGMAP_BUDGET_BYTES = CONFIGMAP_LIMIT_BYTES - 16 * 1024;

const MAX_KEY_LENGTH = 253;
const MODE_FILE = 0o644;
const MODE_EXECUTABLE = 0o755;

/** Reads the spec's files (from disk or inline). Throws PermanentError for a missing file. */
export async function loadRunFiles(spec: Pick<RunSpec, 'files'>): Promise<LoadedRunFile[]> {
  return Promise.all(spec.files.map((file) => loadRunFile(file)));
}

async function loadRunFile(file: RunFile): Promise<LoadedRunFile> {
  checkRelativePath(file.path);
  if (file.from !== undefined) {
    const from = file.from;
    try {
      const [content, info] = await Promise.all([readFile(from), stat(from)]);
      return { path: file.path, content, executable: (info.mode & 0o111) !== 0 };
    } catch (error) {
      throw new PermanentError(`cannot read file ${from} for ${file.path}: ${errorMessage(error)}`, { cause: error });
    }
  }
  if (file.content !== undefined) return { path: file.path, content: Buffer.from(file.content, 'utf8'), executable: false };
  throw new PermanentError(`file ${JSON.stringify(file.path)} has neither 'from' nor 'content'`);
}

/**
 * A path the kubelet will place under the working directory: relative, no `..` segment, not
 * starting with `..` (reserved by the kubelet's atomic writer).
 */
export function checkRelativePath(filePath: string): void {
  const segments = filePath.split('/');
  const bad =
    filePath === '' ||
    path.posix.isAbsolute(filePath) ||
    filePath.startsWith('..') ||
    segments.some((segment) => segment === '..' || segment === '.' || segment === '');
  if (bad) throw new PermanentError(`file path ${JSON.stringify(filePath)} must be a plain relative path inside the working directory`);
}

/** The ConfigMap key of a file path: reversible escaping, or `file.<n>` if that is too long. */
export function fileKey(filePath: string, index: number): string {
  const escaped = `file.${filePath.replace(/[^-.a-zA-Z0-9]/g, (char) =>
    [...Buffer.from(char, 'utf8')].map((byte) => `_${byte.toString(16).padStart(2, '0')}`).join(''),
  )}`;
  return escaped.length <= MAX_KEY_LENGTH ? escaped : `file.${index}`;
}

export interface RunFileEntry {
  readonly key: string;
  readonly path: string;
  readonly mode: number;
}

export interface RunFilesData {
  readonly data: Record<string, string>;
  readonly binaryData: Record<string, string>;
  /** One entry per file, in spec order: the key → path mapping for the volume. */
  readonly entries: readonly RunFileEntry[];
}

/**
 * Splits files and the message into ConfigMap `data`/`binaryData`, checking the size limit.
 * `what` names the object in the error (e.g. `run 01j… of job report`).
 */
export function runFilesData(files: readonly LoadedRunFile[], messageJson: string, what: string): RunFilesData {
  const data: Record<string, string> = { [MESSAGE_KEY]: messageJson };
  const binaryData: Record<string, string> = {};
  const entries: RunFileEntry[] = [];
  const sizes: { name: string; bytes: number }[] = [{ name: `message (${MESSAGE_PATH})`, bytes: Buffer.byteLength(messageJson) + MESSAGE_KEY.length }];
  const seen = new Set<string>();
  files.forEach((file, index) => {
    checkRelativePath(file.path);
    if (seen.has(file.path)) throw new PermanentError(`file ${JSON.stringify(file.path)} is listed twice`);
    seen.add(file.path);
    const key = fileKey(file.path, index);
    if (isUtf8(file.content)) data[key] = file.content.toString('utf8');
    else binaryData[key] = file.content.toString('base64');
    entries.push({ key, path: file.path, mode: file.executable ? MODE_EXECUTABLE : MODE_FILE });
    // The API server counts key length plus raw value bytes (binaryData before base64).
    sizes.push({ name: file.path, bytes: key.length + file.content.length });
  });
  const total = sizes.reduce((sum, entry) => sum + entry.bytes, 0);
  if (total > CONFIGMAP_BUDGET_BYTES) {
    const largest = [...sizes].sort((a, b) => b.bytes - a.bytes);
    const listed = largest.slice(0, 10).map((entry) => `${entry.name} ${formatBytes(entry.bytes)}`);
    if (largest.length > 10) listed.push(`and ${largest.length - 10} more`);
    throw new PermanentError(
      `files of ${what} do not fit in a ConfigMap: ${formatBytes(total)} in total, at most ${formatBytes(CONFIGMAP_BUDGET_BYTES)} ` +
        `(Kubernetes limits a ConfigMap to 1 MiB): ${listed.join(', ')}. ` +
        'Put large files in the image or a volume instead of `files`.',
    );
  }
  return { data, binaryData, entries };
}

function formatBytes(bytes: number): string {
  return `${bytes.toLocaleString('en-US')} bytes`;
}
