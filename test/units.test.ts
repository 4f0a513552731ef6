import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidInputError } from '../src/core/errors.js';
import { parseDuration, parseSize } from '../src/config/units.js';

describe('parseDuration', () => {
  it('reads unit suffixes, combinations and bare seconds', () => {
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('30s'), 30_000);
    assert.equal(parseDuration('10m'), 600_000);
    assert.equal(parseDuration('1h'), 3_600_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('2d'), 172_800_000);
    assert.equal(parseDuration('1m30s250ms'), 90_250);
    assert.equal(parseDuration('45'), 45_000);
    assert.equal(parseDuration(90), 90_000);
    assert.equal(parseDuration(0), 0);
    assert.equal(parseDuration(' 5s '), 5_000);
  });

  it('rejects anything else with a message naming the input', () => {
    for (const bad of ['', '10x', '1.5h', 'h', '-5s', '5 s', '1h 30m', 'ms']) {
      assert.throws(() => parseDuration(bad), (error: unknown) => {
        assert.ok(error instanceof InvalidInputError);
        assert.equal(error.message, `"${bad}" is not a duration like 30s, 10m, 1h30m or 500ms`);
        return true;
      });
    }
    assert.throws(() => parseDuration(1.5), /whole number of seconds/);
    assert.throws(() => parseDuration(-1), /whole number of seconds/);
    assert.throws(() => parseDuration('99999999999999999999d'), /too large/);
  });
});

describe('parseSize', () => {
  it('reads decimal and binary units', () => {
    assert.equal(parseSize('512KiB'), 524_288);
    assert.equal(parseSize('1MiB'), 1_048_576);
    assert.equal(parseSize('2GiB'), 2_147_483_648);
    assert.equal(parseSize('10MB'), 10_000_000);
    assert.equal(parseSize('1kB'), 1_000);
    assert.equal(parseSize('64Ki'), 65_536);
    assert.equal(parseSize('1.5 MiB'), 1_572_864);
    assert.equal(parseSize('100B'), 100);
    assert.equal(parseSize('4096'), 4_096);
    assert.equal(parseSize(2048), 2_048);
    assert.equal(parseSize('0.5KiB'), 512);
  });

  it('rejects unknown units and malformed numbers', () => {
    for (const bad of ['', 'MiB', '1 mib', '1TiB', '1..5MiB', '-1KiB', '1 KiB B']) {
      assert.throws(() => parseSize(bad), (error: unknown) => {
        assert.ok(error instanceof InvalidInputError);
        assert.equal(error.message, `"${bad}" is not a size like 1MiB, 512KiB or 1000000`);
        return true;
      });
    }
    assert.throws(() => parseSize(1.5), /whole number of bytes/);
  });
});
