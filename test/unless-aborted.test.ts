import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { test } from 'node:test';
import { ABORTED, unlessAborted } from '../src/sources/unless-aborted.js';

test('passes the value or the error through, and leaves no listener on the signal', async () => {
  const controller = new AbortController();
  for (let i = 0; i < 1000; i++) assert.equal(await unlessAborted(Promise.resolve(i), controller.signal), i);
  await assert.rejects(unlessAborted(Promise.reject(new Error('boom')), controller.signal), /boom/);
  assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
});

test('gives ABORTED when the signal aborts first, or had aborted already', async () => {
  const controller = new AbortController();
  const waiting = unlessAborted(new Promise<never>(() => undefined), controller.signal);
  assert.equal(getEventListeners(controller.signal, 'abort').length, 1);
  controller.abort();
  assert.equal(await waiting, ABORTED);
  assert.equal(await unlessAborted(Promise.resolve(1), controller.signal), ABORTED);
});
