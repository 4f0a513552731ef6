import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BoundedLog, completeUtf8Prefix, droppedMarker, firstCharStart } from '../src/executors/log-capture.js';

const bytes = (text: string): Buffer => Buffer.from(text, 'utf8');

describe('BoundedLog', () => {
  it('keeps everything while under the limit, interleaving chunks in arrival order', () => {
    const log = new BoundedLog(100);
    log.write(bytes('out 1\n'));
    log.write(bytes('err 1\n'));
    log.write(bytes('out 2\n'));
    assert.deepEqual(log.snapshot(), { text: 'out 1\nerr 1\nout 2\n', droppedBytes: 0, totalBytes: 18 });
  });

  it('keeps exactly maxBytes when the output is exactly that long', () => {
    const log = new BoundedLog(10);
    log.write(bytes('0123456789'));
    assert.deepEqual(log.snapshot(), { text: '0123456789', droppedBytes: 0, totalBytes: 10 });
  });

  it('keeps the head and the rolling tail, counting what was dropped', () => {
    const log = new BoundedLog(10);
    for (const c of 'abcdefghijklmnopqrstuvwxyz') log.write(bytes(c));
    const snap = log.snapshot();
    assert.equal(snap.totalBytes, 26);
    assert.equal(snap.droppedBytes, 16);
    assert.equal(snap.text, `abcde${droppedMarker(16)}vwxyz`);
  });

  it('handles chunks larger than the whole buffer and wrapping writes', () => {
    const log = new BoundedLog(8);
    log.write(bytes('HEAD'));
    log.write(bytes('x'.repeat(1000) + 'abc'));
    log.write(bytes('de'));
    log.write(bytes('fgh'));
    const snap = log.snapshot();
    assert.equal(snap.text, `HEAD${droppedMarker(1004)}efgh`);
    assert.equal(snap.totalBytes, 1012);
    assert.equal(snap.droppedBytes, 1004);
  });

  it('matches a naive reference for random chunk sizes', () => {
    let seed = 42;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (const max of [0, 1, 2, 7, 64, 257]) {
      const log = new BoundedLog(max);
      const all: Buffer[] = [];
      for (let i = 0; i < 200; i++) {
        const chunk = Buffer.alloc(random(40), String.fromCharCode(97 + (i % 26)));
        all.push(chunk);
        log.write(chunk);
      }
      const whole = Buffer.concat(all);
      const headLength = Math.min(Math.floor(max / 2), whole.length);
      const tailLength = Math.min(max - Math.floor(max / 2), whole.length - headLength);
      const dropped = whole.length - headLength - tailLength;
      const head = whole.subarray(0, headLength).toString();
      const tail = whole.subarray(whole.length - tailLength).toString();
      const expected = dropped === 0 ? head + tail : head + droppedMarker(dropped) + tail;
      assert.deepEqual(log.snapshot(), { text: expected, droppedBytes: dropped, totalBytes: whole.length }, `max ${max}`);
    }
  });

  it('never tears a multi-byte character at the cut points, and counts the trimmed bytes', () => {
    // "é" is 2 bytes, "😀" is 4: the head cut (5 bytes) and the tail cut both land mid-character.
    const text = 'ab😀' + '-'.repeat(50) + '😀é';
    const log = new BoundedLog(10);
    for (const byte of bytes(text)) log.write(Uint8Array.of(byte));
    const snap = log.snapshot();
    assert.equal(snap.totalBytes, bytes(text).length);
    assert.ok(!snap.text.includes('\uFFFD'), snap.text);
    // Head: "ab" + 3 bytes of "😀" → "ab". Tail: last 3 bytes of "😀" + "é" → "é". 62 - 4 shown.
    assert.equal(snap.text, `ab${droppedMarker(58)}é`);
    assert.equal(snap.droppedBytes, 58);
    const shownBytes = bytes(snap.text).length - bytes(droppedMarker(snap.droppedBytes)).length;
    assert.equal(shownBytes + snap.droppedBytes, snap.totalBytes);
  });

  it('rejects a negative limit', () => {
    assert.throws(() => new BoundedLog(-1), RangeError);
  });
});

describe('UTF-8 boundary helpers', () => {
  it('completeUtf8Prefix trims only a torn trailing character', () => {
    const smile = bytes('😀');
    assert.equal(completeUtf8Prefix(bytes('abc')), 3);
    assert.equal(completeUtf8Prefix(Buffer.concat([bytes('a'), smile])), 5);
    for (let cut = 1; cut < 4; cut++) assert.equal(completeUtf8Prefix(Buffer.concat([bytes('a'), smile.subarray(0, cut)])), 1);
    assert.equal(completeUtf8Prefix(Buffer.alloc(0)), 0);
  });

  it('firstCharStart skips continuation bytes of a character cut off before', () => {
    const smile = bytes('😀');
    for (let cut = 1; cut < 4; cut++) assert.equal(firstCharStart(Buffer.concat([smile.subarray(cut), bytes('z')])), 4 - cut);
    assert.equal(firstCharStart(bytes('abc')), 0);
    assert.equal(firstCharStart(Buffer.alloc(0)), 0);
  });
});
