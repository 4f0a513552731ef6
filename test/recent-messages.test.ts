import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RecentMessages } from '../src/store/sqlite/recent-messages.js';
import type { StoredMessage } from '../src/store/store.js';

function stored(source: string, id: string): StoredMessage {
  return { id, source, topic: 't', headers: {}, body: null, correlationId: id, receivedAt: 0, matchedJobs: [] };
}

test('a message leaves once it was read for each of its runs', () => {
  const recent = new RecentMessages({ maxMessages: 10, maxBytes: 1000 });
  recent.add(stored('s', 'two-runs'), 10, 2);
  recent.add(stored('s', 'no-run'), 10, 0);
  assert.equal(recent.take('s', 'no-run'), undefined, 'a message without runs is never read to start one');
  assert.equal(recent.take('s', 'two-runs')?.id, 'two-runs');
  assert.equal(recent.size, 1);
  assert.equal(recent.take('s', 'two-runs')?.id, 'two-runs');
  assert.equal(recent.size, 0);
  assert.equal(recent.take('s', 'two-runs'), undefined);
});

test('when full by count, the oldest goes', () => {
  const recent = new RecentMessages({ maxMessages: 2, maxBytes: 1000 });
  for (const id of ['a', 'b', 'c']) recent.add(stored('s', id), 10, 1);
  assert.deepEqual(['a', 'b', 'c'].map((id) => recent.take('s', id)?.id), [undefined, 'b', 'c']);
});

test('when full by bytes, the oldest go; a message bigger than the budget is not kept', () => {
  const recent = new RecentMessages({ maxMessages: 100, maxBytes: 100 });
  recent.add(stored('s', 'a'), 60, 1);
  recent.add(stored('s', 'b'), 30, 1);
  recent.add(stored('s', 'c'), 30, 1); // 120 > 100: a goes
  recent.add(stored('s', 'huge'), 101, 1);
  assert.deepEqual(['a', 'b', 'c', 'huge'].map((id) => recent.take('s', id)?.id), [undefined, 'b', 'c', undefined]);
});

test('tells sources apart even when source and id concatenate alike', () => {
  const recent = new RecentMessages();
  recent.add(stored('ab', 'c'), 1, 1);
  recent.add(stored('a', 'bc'), 1, 1);
  assert.equal(recent.take('ab', 'c')?.source, 'ab');
  assert.equal(recent.take('a', 'bc')?.source, 'a');
});
