import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backlog } from '../src/dispatch/backlog.js';

describe('Backlog', () => {
  it('admits while under the limit and holds sources back at it, in order', async () => {
    const backlog = new Backlog(2);
    await backlog.admit();
    backlog.add(2);
    const order: number[] = [];
    const first = backlog.admit().then(() => order.push(1));
    const second = backlog.admit().then(() => order.push(2));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(order, [], 'nothing may be admitted at the limit');
    backlog.remove(1);
    await first;
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(order, [1, 2], 'both waiters pass once the count is below the limit');
    await second;
  });

  it('never counts below zero and reseeds from the store', () => {
    const backlog = new Backlog(5);
    backlog.remove(3);
    assert.equal(backlog.size, 0);
    backlog.reset(7);
    assert.equal(backlog.size, 7);
  });
});
