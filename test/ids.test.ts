import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newId } from '../src/core/ids.js';

const ID = /^[0-9abcdefghjkmnpqrstvwxyz]{26}$/;

test('ids are 26 lowercase Crockford base32 characters, ordered by their millisecond', () => {
  const early = newId(1_700_000_000_000);
  const later = newId(1_700_000_000_001);
  assert.match(early, ID);
  assert.match(later, ID);
  assert.ok(early.slice(0, 10) < later.slice(0, 10), `${early} should sort before ${later}`);
  // The time part is the ULID encoding of the milliseconds.
  assert.equal(newId(0).slice(0, 10), '0000000000');
  assert.equal(newId(32).slice(0, 10), '0000000010');
});

test('the 16 random characters are unique and use the whole alphabet at every position', () => {
  const now = Date.now();
  const seen = new Set<string>();
  const perPosition = Array.from({ length: 16 }, () => new Set<string>());
  for (let i = 0; i < 20_000; i++) {
    const id = newId(now);
    seen.add(id);
    for (let p = 0; p < 16; p++) perPosition[p]?.add(id[10 + p] ?? '');
  }
  assert.equal(seen.size, 20_000);
  // 20,000 draws leave a uniformly random position missing one of 32 letters with odds ~1e-270;
  // a position fed by fixed UUID bits (version, variant) would show 1–4 letters only.
  perPosition.forEach((letters, p) => assert.equal(letters.size, 32, `position ${10 + p} uses ${letters.size} letters`));
});
