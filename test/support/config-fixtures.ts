/**
 * Helpers for config loader tests: temp folders holding a config (and the files it names), and
 * a way to get a ConfigError's lines so tests can compare exact `FILE:LINE:COL: message` text.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError } from '../../src/config/config-error.js';

/** A fresh folder under the OS temp dir; `files` maps relative paths to their content. */
export function tempConfigDir(files: Readonly<Record<string, string>> = {}): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'jobwire-config-'));
  for (const [relative, content] of Object.entries(files)) {
    const absolute = path.join(dir, relative);
    mkdirSync(path.dirname(absolute), { recursive: true });
    writeFileSync(absolute, content);
  }
  return dir;
}

/** Joins lines with `\n`, so line N of the YAML is element N-1 of the array. */
export function yamlLines(...lines: string[]): string {
  return lines.join('\n') + '\n';
}

/** Runs `compile`, which must throw a ConfigError, and returns its message lines. */
export function configErrorLines(compile: () => unknown): string[] {
  try {
    compile();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    assert.equal(error.message, error.problems.map((p) => `${p.file}:${p.line}:${p.col}: ${p.message}`).join('\n'));
    return error.message.split('\n');
  }
  assert.fail('expected a ConfigError, but the config compiled');
}
