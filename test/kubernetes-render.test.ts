/**
 * Schedules as CronJobs and the `jobwire render` command: CronJob manifests (time zone,
 * concurrency policy, per-tick ids from the downward API) and the CLI's YAML output, parsed back
 * and validated like the executor's own manifests, with its errors for wrong input.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { V1Job } from '@kubernetes/client-node';
import { compileConfig } from '../src/config/load.js';
import { PermanentError } from '../src/core/errors.js';
import { newId } from '../src/core/ids.js';
import { buildCronJob, checkKubernetesSchedule, cronSchedules } from '../src/executors/kubernetes/cronjob.js';
import { LABEL } from '../src/executors/kubernetes/manifests.js';
import { tempConfigDir, yamlLines } from './support/config-fixtures.js';
import { envOf, filesOf, kubernetesSettingsOf, parseYamlDocuments } from './support/kube-manifests.js';
import { validateManifest } from './support/kube-validate.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'bin/jobwire.js');

function render(args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [BIN, 'render', ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('kubernetes CronJobs and jobwire render', () => {
  it('renders CronJobs: time zone, concurrency policy, per-tick ids from the downward API', async () => {
    const dir = tempConfigDir({ 'report.py': 'print("report")\n' });
    const config = compileConfig(
      yamlLines(
        'executors:',
        '  cluster: { type: kubernetes, namespace: jobs, ttlSecondsAfterFinished: 60 }',
        'jobs:',
        '  - name: report',
        '    schedule: ["CRON_TZ=Europe/Berlin 0 9 * * 1", "30 6 * * *"]',
        '    executor: cluster',
        '    concurrency: 1',
        '    image: registry.access.redhat.com/ubi9/python-311:latest',
        '    env:',
        '      WHEN: ${{ message.body.scheduledAt }}',
        '    files: [report.py]',
        '    command: [python3, report.py]',
        '    timeout: 10m',
        '    retries: 2',
        '  - name: sweep',
        '    on: [{ source: cron, schedule: "*/5 * * * *" }]',
        '    executor: cluster',
        '    concurrency: 3',
        '    image: registry.access.redhat.com/ubi9/ubi-minimal:latest',
        '    command: ["true"]',
      ),
      path.join(dir, 'jobwire.yaml'),
      {},
    );
    const [report, sweep] = config.jobs;
    assert.ok(report !== undefined && sweep !== undefined);
    const settings = kubernetesSettingsOf(config, report)!;
    const schedules = cronSchedules(report);
    assert.deepEqual(schedules, ['CRON_TZ=Europe/Berlin 0 9 * * 1', '30 6 * * *']);
    const files = await filesOf(report);
    const now = Date.parse('2030-01-01T12:00:00Z');
    const berlin = buildCronJob(report, schedules[0]!, settings, files, { schedules, processEnv: {}, now });
    const utc = buildCronJob(report, schedules[1]!, settings, files, { schedules, processEnv: {}, now });
    for (const built of [berlin, utc]) {
      validateManifest(built.configMap);
      validateManifest(built.cronJob, [built.configMap]);
      assert.equal(built.configMap.metadata?.name, built.cronJob.metadata?.name);
    }
    assert.notEqual(berlin.cronJob.metadata?.name, utc.cronJob.metadata?.name, 'each schedule its own CronJob');
    assert.equal(berlin.cronJob.spec?.schedule, '0 9 * * 1');
    assert.equal(berlin.cronJob.spec?.timeZone, 'Europe/Berlin');
    assert.equal(utc.cronJob.spec?.timeZone, undefined);
    assert.equal(berlin.cronJob.spec?.concurrencyPolicy, 'Forbid');
    const jobSpec = berlin.cronJob.spec?.jobTemplate.spec;
    assert.equal(jobSpec?.backoffLimit, 2);
    assert.equal(jobSpec?.activeDeadlineSeconds, 600);
    assert.equal(jobSpec?.ttlSecondsAfterFinished, 60);
    const pod = jobSpec?.template.spec;
    const env = new Map((pod?.containers[0]?.env ?? []).map((entry) => [entry.name, entry]));
    for (const name of ['JOBWIRE_RUN_ID', 'JOBWIRE_MESSAGE_ID', 'JOBWIRE_CORRELATION_ID']) {
      assert.deepEqual(env.get(name)?.valueFrom, { fieldRef: { fieldPath: "metadata.labels['batch.kubernetes.io/job-name']" } }, name);
    }
    assert.equal(env.get('JOBWIRE_SOURCE')?.value, 'cron');
    // 2030-01-07 is the first Monday after "now"; 09:00 in Berlin is 08:00 UTC in winter.
    assert.equal(env.get('WHEN')?.value, '2030-01-07T08:00:00.000Z');
    assert.equal(berlin.tick, '2030-01-07T08:00:00.000Z');
    assert.deepEqual(berlin.fixedEnv, ['WHEN']);
    const message = JSON.parse(berlin.configMap.data?.['message.json'] ?? '{}');
    assert.deepEqual(message.body, { schedule: 'CRON_TZ=Europe/Berlin 0 9 * * 1', scheduledAt: '2030-01-07T08:00:00.000Z' });
    const labels = jobSpec?.template.metadata?.labels;
    assert.equal(labels?.[LABEL.runId], undefined, 'CronJob-made Jobs are not taken for runs by recovery');

    const many = buildCronJob(sweep, '*/5 * * * *', settings, [], { schedules: cronSchedules(sweep), processEnv: {}, now });
    validateManifest(many.cronJob, [many.configMap]);
    assert.equal(many.cronJob.metadata?.name, 'sweep');
    assert.equal(many.cronJob.spec?.concurrencyPolicy, 'Allow');

    for (const bad of ['*/10 * * * * *', '0 0 L * *', '0 0 * * 1#2', '@every 5m']) {
      assert.throws(() => checkKubernetesSchedule(bad, bad), PermanentError, bad);
    }
    for (const good of ['0 9 * * MON-FRI', '@daily', '*/15 0-6 1,15 JAN-MAR ?']) checkKubernetesSchedule(good, good);
  });

  it('jobwire render prints the exact Job and ConfigMap, and CronJobs, as YAML for kubectl apply', () => {
    const runId = newId();
    const result = render(['-c', 'examples/kubernetes.yaml', 'countdown', '-m', 'examples/kubernetes/countdown-message.json', '--run-id', runId]);
    assert.equal(result.status, 0, result.stderr);
    const docs = parseYamlDocuments(result.stdout);
    assert.deepEqual(docs.map((doc) => doc['kind']), ['ConfigMap', 'Job']);
    for (const doc of docs) validateManifest(doc, docs);
    const job = docs[1] as unknown as V1Job;
    assert.equal(job.metadata?.name, `countdown-${runId.slice(-10)}`);
    assert.equal(job.metadata?.labels?.[LABEL.runId], runId);
    assert.equal(envOf(job).get('INITIAL_VALUE')?.value, '3');
    assert.equal(envOf(job).get('JOBWIRE_CORRELATION_ID')?.value, 'release-2024.10-countdown');

    const event = render(['-c', 'examples/kubernetes.yaml', 'health-check', '-m', 'examples/kubernetes/health-check-event.json']);
    assert.equal(event.status, 0, event.stderr);
    const eventDocs = parseYamlDocuments(event.stdout);
    for (const doc of eventDocs) validateManifest(doc, eventDocs);
    assert.equal((eventDocs[1] as unknown as V1Job).metadata?.namespace, 'qa');

    const cron = render(['-c', 'examples/kubernetes.yaml', '--cronjobs']);
    assert.equal(cron.status, 0, cron.stderr);
    const cronDocs = parseYamlDocuments(cron.stdout);
    assert.deepEqual(cronDocs.map((doc) => doc['kind']), ['ConfigMap', 'CronJob']);
    for (const doc of cronDocs) validateManifest(doc, cronDocs);
    assert.match(cron.stdout, /^# CronJobs rendered by jobwire/);
    assert.match(cron.stderr, /SCHEDULE is computed once/);

    const missing = render(['-c', 'examples/kubernetes.yaml', 'countdwn', '-m', 'examples/kubernetes/countdown-message.json']);
    assert.equal(missing.status, 1);
    assert.equal(missing.stdout, '');
    assert.match(missing.stderr, /no job named "countdwn" .*\(jobs: countdown, health-check, weekly-report\)/);

    const local = render(['-c', 'examples/jobwire.yaml', 'countdown', '-m', 'examples/kubernetes/countdown-message.json']);
    assert.equal(local.status, 1);
    assert.match(local.stderr, /job countdown runs on executor "process" \(process\), not a kubernetes executor/);

    const dir = tempConfigDir({ 'no-value.json': JSON.stringify({ topic: 'countdown', body: { execute: 'true' } }) });
    const unresolved = render(['-c', 'examples/kubernetes.yaml', 'countdown', '-m', path.join(dir, 'no-value.json')]);
    assert.equal(unresolved.status, 1);
    assert.match(unresolved.stderr, /job countdown: env INITIAL_VALUE: .*initial-value/);

    const noMessage = render(['-c', 'examples/kubernetes.yaml', 'countdown']);
    assert.equal(noMessage.status, 1);
    assert.match(noMessage.stderr, /render needs --message/);
  });
});
