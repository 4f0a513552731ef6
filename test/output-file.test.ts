/**
 * The `$JOBWIRE_OUTPUT` reader every executor shares: each way a job can get its output right
 * or wrong, on real files.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { DEFAULT_MAX_OUTPUT_BYTES } from '../src/core/run.js';
import { parseOutput, readOutputFile } from '../src/executors/output-file.js';

const root = mkdtempSync(path.join(tmpdir(), 'jobwire-output-'));
let counter = 0;

after(async () => {
  await rm(root, { recursive: true, force: true });
});

function file(content: string | Buffer): string {
  const target = path.join(root, `output-${counter++}.json`);
  writeFileSync(target, content);
  return target;
}

describe('readOutputFile', () => {
  it('a missing file is no output', async () => {
    assert.deepEqual(await readOutputFile(path.join(root, 'never-written.json'), DEFAULT_MAX_OUTPUT_BYTES), { kind: 'none' });
  });

  it('an empty file, or one of only whitespace, is no output', async () => {
    assert.deepEqual(await readOutputFile(file(''), DEFAULT_MAX_OUTPUT_BYTES), { kind: 'none' });
    assert.deepEqual(await readOutputFile(file(' \n'), DEFAULT_MAX_OUTPUT_BYTES), { kind: 'none' });
  });

  it('a JSON object is the output, nested values and unicode kept', async () => {
    const value = { version: '1.2.3', passed: true, count: 3, nested: { list: [1, 'two', null] }, text: 'héllo ✓' };
    assert.deepEqual(await readOutputFile(file(`${JSON.stringify(value)}\n`), DEFAULT_MAX_OUTPUT_BYTES), { kind: 'json', value });
  });

  it('a file of exactly maxBytes is taken; one byte more is invalid, with both sizes in the message', async () => {
    const exact = `{"a":"${'x'.repeat(100 - 8)}"}`;
    assert.equal(Buffer.byteLength(exact), 100);
    assert.equal((await readOutputFile(file(exact), 100)).kind, 'json');
    assert.deepEqual(await readOutputFile(file(`${exact} `), 100), { kind: 'invalid', error: 'output is 101 bytes, over limits.maxOutputSize 100' });
  });

  it('reports the size of a file over the default limit', async () => {
    const big = `{"a":"${'x'.repeat(70_000 - 8)}"}`;
    assert.deepEqual(await readOutputFile(file(big), DEFAULT_MAX_OUTPUT_BYTES), {
      kind: 'invalid',
      error: 'output is 70000 bytes, over limits.maxOutputSize 65536',
    });
  });

  it('does not read a huge sparse file (it would not fit in memory) to refuse it', async () => {
    const sparse = path.join(root, 'sparse.json');
    execFileSync('truncate', ['-s', '64G', sparse]);
    assert.deepEqual(await readOutputFile(sparse, DEFAULT_MAX_OUTPUT_BYTES), {
      kind: 'invalid',
      error: `output is ${64 * 1024 ** 3} bytes, over limits.maxOutputSize 65536`,
    });
  });

  it('text that is not JSON is invalid, with the parser’s words', async () => {
    const output = await readOutputFile(file('version=1.2.3\n'), DEFAULT_MAX_OUTPUT_BYTES);
    assert.equal(output.kind, 'invalid');
    assert.match(output.kind === 'invalid' ? output.error : '', /^output is not JSON: .*(Unexpected token|is not valid JSON)/);
  });

  it('JSON that is not an object is invalid and says what it was', async () => {
    for (const [text, kind] of [['[1,2]', 'array'], ['42', 'number'], ['null', 'null'], ['"done"', 'string'], ['true', 'boolean']] as const) {
      assert.deepEqual(await readOutputFile(file(text), DEFAULT_MAX_OUTPUT_BYTES), { kind: 'invalid', error: `output must be a JSON object, got ${kind}` });
    }
  });

  it('does not follow a symbolic link (it could point at a file only jobwire may read)', async () => {
    const secret = file('{"secret":"of jobwire"}');
    const link = path.join(root, 'link.json');
    symlinkSync(secret, link);
    assert.deepEqual(await readOutputFile(link, DEFAULT_MAX_OUTPUT_BYTES), {
      kind: 'invalid',
      error: 'output is a symbolic link; write the JSON to the file itself',
    });
  });

  it('refuses a directory and a FIFO without blocking on it', async () => {
    const dir = path.join(root, 'dir.json');
    mkdirSync(dir);
    assert.deepEqual(await readOutputFile(dir, DEFAULT_MAX_OUTPUT_BYTES), { kind: 'invalid', error: 'output is not a regular file' });
    const fifo = path.join(root, 'fifo.json');
    execFileSync('mkfifo', [fifo]);
    assert.deepEqual(await readOutputFile(fifo, DEFAULT_MAX_OUTPUT_BYTES), { kind: 'invalid', error: 'output is not a regular file' });
  });
});

describe('parseOutput', () => {
  it('judges text the same way as the file reader', () => {
    assert.deepEqual(parseOutput(''), { kind: 'none' });
    assert.deepEqual(parseOutput('{"ok":1}'), { kind: 'json', value: { ok: 1 } });
    assert.deepEqual(parseOutput('[]'), { kind: 'invalid', error: 'output must be a JSON object, got array' });
  });
});
