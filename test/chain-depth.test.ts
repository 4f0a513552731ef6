/**
 * A loop built through a broker — a job whose `then: publish` goes to the queue that triggers it
 * — cannot be seen in the config; `limits.maxChainDepth` stops it. With a depth of 3 the first
 * message and three hops run, then the chain stops with a warning naming the limit.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import * as amqp from './support/amqp.js';
import { withBrokers } from './support/broker-lock.js';
import { eventually, sleep } from './support/eventually.js';
import { startHarness } from './support/harness.js';

it('stops a then: publish loop through RabbitMQ at limits.maxChainDepth', { timeout: 600_000 }, () =>
  withBrokers(['rabbitmq'], async () => {
    await amqp.requireBroker();
    const queue = amqp.uniqueName('loop');
    const h = await startHarness(`
limits: { maxChainDepth: 3 }
sources:
  rabbit: { type: amqp, url: "${amqp.AMQP_URL}" }
jobs:
  - name: loop
    on: [{ source: rabbit, topic: ${JSON.stringify(queue)} }]
    env: { DEPTH: '\${{ "jobwire-chain-depth" in message.headers ? message.headers["jobwire-chain-depth"] : "0" }}' }
    script: echo "depth $DEPTH"
    then:
      - publish: { source: rabbit, topic: ${JSON.stringify(queue)}, body: '{"again":true}' }
`);
    const rabbit = await amqp.rawClient();
    try {
      await rabbit.send(queue, JSON.stringify({ first: true }), { persistent: true, messageId: 'loop-start', correlationId: 'loop-1', contentType: 'application/json' });
      await eventually('the chain stopped by the limit', () => (h.logs.some((line) => String(line['msg']).includes('limits.maxChainDepth')) ? true : undefined), 30_000);
      await sleep(1000);
      const runs = (await h.get('/v1/runs?job=loop&limit=50')).json.runs as { id: string; status: string; correlationId: string }[];
      assert.equal(runs.length, 4, 'the first message and three hops');
      assert.ok(runs.every((run) => run.status === 'succeeded' && run.correlationId === 'loop-1'));
      const depths = await Promise.all(runs.map(async (run) => (await h.get(`/v1/runs/${run.id}/logs?format=text`)).text));
      assert.deepEqual(depths.sort(), ['depth 0\n', 'depth 1\n', 'depth 2\n', 'depth 3\n']);
      assert.equal(await rabbit.depth(queue), 0, 'nothing more was published');
    } finally {
      await h.close();
      await rabbit.deleteQueues(queue);
      await rabbit.close();
    }
  }),
);
