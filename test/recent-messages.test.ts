import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RecentMessages } from '../src/store/sqlite/recent-messages.js';
import type { StoredMessage } from '../src/store/store.js';

function stored(source: string, id: string): StoredMessage {
  return { id, source, topic: 't', headers: {}, body: null, correlationId: id, receivedAt: 0, matchedJobs: [] };
}

test('keeps at most maxMessages, evicting the oldest first', () => {
  const recent = new RecentMessages({ maxMessages: 2, maxBytes: 1000 });
  recent.add(stored('s', 'a'), 10);
  recent.add(stored('s', 'b'), 10);
  recent.add(stored('s', 'c'), 10);
  assert.equal(recent.get('s', 'a'), undefined);
  assert.equal(recent.get('s', 'b')?.id, 'b');
  assert.equal(recent.get('s', 'c')?.id, 'c');
  assert.equal(recent.size, 2);
});

test('keeps at most maxBytes, and never keeps a message bigger than the budget', () => {
  const recent = new RecentMessages({ maxMessages: 100, maxBytes: 100 });
  recent.add(stored('s', 'a'), 60);
  recent.add(stored('s', 'b'), 30);
  recent.add(stored('s', 'c'), 30); // 120 > 100: a goes
  assert.deepEqual([recent.get('s', 'a'), recent.get('s', 'b')?.id, recent.get('s', 'c')?.id], [undefined, 'b', 'c']);
  recent.add(stored('s', 'huge'), 101);
  assert.equal(recent.get('s', 'huge'), undefined);
  assert.equal(recent.size, 2);
});

test('tells sources apart even when source and id concatenate alike', () => {
  const recent = new RecentMessages();
  recent.add(stored('ab', 'c'), 1);
  recent.add(stored('a', 'bc'), 1);
  assert.equal(recent.get('ab', 'c')?.source, 'ab');
  assert.equal(recent.get('a', 'bc')?.source, 'a');
});
