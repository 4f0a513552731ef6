import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../src/config/load.js';
import { parseSchedule } from '../src/config/schedule.js';
import { startHarness, tempDir } from './support/harness.js';

describe('cron source', () => {
  it('fires each schedule\'s jobs once per tick, and only those', async () => {
    const h = await startHarness(`
jobs:
  - name: every-second
    on: [{ source: cron, schedule: "* * * * * *" }]
    script: echo "tick $JOBWIRE_MESSAGE_ID"
  - name: yearly
    on: [{ source: cron, schedule: "CRON_TZ=Europe/Berlin 0 0 1 1 *" }]
    command: ["true"]
`);
    try {
      const deadline = Date.now() + 10_000;
      let runs: { id: string; job: string; messageId: string; status: string }[] = [];
      while (Date.now() < deadline) {
        runs = (await h.get('/v1/runs?limit=100')).json.runs;
        if (runs.filter((run) => run.status === 'succeeded').length >= 2) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const done = runs.filter((run) => run.status === 'succeeded');
      assert.ok(done.length >= 2, `expected two ticks, got ${JSON.stringify(runs)}`);
      assert.ok(runs.every((run) => run.job === 'every-second'));
      assert.equal(new Set(runs.map((run) => run.messageId)).size, runs.length, 'one run per tick');
      for (const run of done) assert.match(run.messageId, /^\* \* \* \* \* \*@\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
      const listed = await h.get('/v1/sources');
      assert.equal(listed.json.sources[0].name, 'cron');
      assert.equal(listed.json.sources[0].status.state, 'connected');
      const ready = await h.get('/readyz');
      assert.equal(ready.status, 200);
      assert.equal(ready.json.checks['source:cron'], 'connected');
    } finally {
      await h.close();
    }
  });

  it('parses a CRON_TZ prefix and rejects bad schedules at load time with their position', async () => {
    assert.deepEqual(parseSchedule('CRON_TZ=Europe/Berlin 0 9 * * 1'), { pattern: '0 9 * * 1', timezone: 'Europe/Berlin' });
    assert.deepEqual(parseSchedule('0 9 * * 1'), { pattern: '0 9 * * 1' });
    const file = path.join(tempDir(), 'bad.yaml');
    writeFileSync(file, 'jobs:\n  - name: x\n    on:\n      - source: cron\n        schedule: "99 * * * *"\n    command: ["true"]\n');
    await assert.rejects(loadConfig(file), (error: Error) => {
      assert.match(error.message, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:5:19: invalid schedule "99 \\* \\* \\* \\*"`));
      return true;
    });
  });
});
