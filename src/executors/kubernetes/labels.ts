/**
 * Names, labels and annotations of the Kubernetes objects jobwire creates for a run. They are
 * how jobwire finds its Jobs again after a restart (by label), so they are built in one place
 * and the executor, `jobwire render` and the recovery code all agree on them.
 *
 * Label values come partly from messages (the correlation id), so they are sanitized to what
 * the API server accepts: at most 63 characters of `[A-Za-z0-9._-]`, starting and ending with a
 * letter or digit. The full values go into annotations, which accept any text.
 */
import { createHash } from 'node:crypto';
import { PermanentError } from '../../core/errors.js';
import type { RunSpec } from '../executor.js';

export const LABEL = {
  managedBy: 'app.kubernetes.io/managed-by',
  job: 'jobwire.dev/job',
  runId: 'jobwire.dev/run-id',
  correlationId: 'jobwire.dev/correlation-id',
} as const;

export const ANNOTATION = {
  messageId: 'jobwire.dev/message-id',
  source: 'jobwire.dev/source',
  correlationId: 'jobwire.dev/correlation-id',
  attempt: 'jobwire.dev/attempt',
} as const;

/** Value of the `app.kubernetes.io/managed-by` label on everything jobwire creates. */
export const MANAGED_BY = 'jobwire';

/** Longest Kubernetes name that is also a DNS-1123 label (Jobs: their pods get a `job-name` label). */
export const MAX_NAME_LENGTH = 63;
/** Longest label value. */
export const MAX_LABEL_VALUE_LENGTH = 63;
/**
 * Characters of the run id kept in object names. Run ids (src/core/ids.ts) are 10 characters of
 * time then 16 random ones, Crockford base32 in lowercase: the last 10 are all random (50 bits),
 * so two runs of one job collide in name with probability ~n²/2⁵¹ — about one in 225,000 for
 * 100,000 Jobs of that job kept at the same time. A collision shows as 409 AlreadyExists on
 * create, so the executor compares the existing Job's run-id label before taking it as its own.
 * The time part is left out on purpose: it is nearly the same for all runs of a burst.
 */
export const SHORT_RUN_ID_LENGTH = 10;
/**
 * Annotation values carry message data (the correlation id may be any header value): capped so
 * a hostile message cannot push the Job past the API server's 256 KiB annotation budget.
 */
export const MAX_ANNOTATION_VALUE_LENGTH = 4096;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** True when `name` can name a Job, ConfigMap or pod-template label (DNS-1123 label). */
export function isDnsLabel(name: string): boolean {
  return name.length <= MAX_NAME_LENGTH && DNS_LABEL.test(name);
}

export function isLabelValue(value: string): boolean {
  return value.length <= MAX_LABEL_VALUE_LENGTH && LABEL_VALUE.test(value);
}

/**
 * Any text as a valid label value: invalid characters become `_`, the result is cut to 63
 * characters and stripped of leading/trailing non-alphanumerics. May return `""` (valid, but
 * callers usually leave such a label out).
 */
export function sanitizeLabelValue(value: string): string {
  return value
    .replace(/[^A-Za-z0-9._-]/g, '_')
    .slice(0, MAX_LABEL_VALUE_LENGTH)
    .replace(/^[^A-Za-z0-9]+/, '')
    .replace(/[^A-Za-z0-9]+$/, '');
}

/**
 * The short, DNS-safe part of a run id used in object names. jobwire's own ids are already
 * lowercase base32, so this is their last 10 characters. An id from elsewhere (`render
 * --run-id`) that has other characters is hashed instead, so the name stays valid and stable.
 */
export function shortRunId(runId: string): string {
  const lower = runId.toLowerCase();
  if (/^[a-z0-9]+$/.test(lower) && lower.length >= SHORT_RUN_ID_LENGTH) return lower.slice(-SHORT_RUN_ID_LENGTH);
  return createHash('sha256').update(runId).digest('hex').slice(0, SHORT_RUN_ID_LENGTH);
}

/** `<job>-<short run id>`: the name of the run's Job and of its ConfigMap. */
export function runJobName(job: string, runId: string): string {
  const name = `${job}-${shortRunId(runId)}`;
  if (!isDnsLabel(name)) {
    throw new PermanentError(
      `job name ${JSON.stringify(job)} cannot name a Kubernetes Job: "${name}" must be at most ${MAX_NAME_LENGTH} lowercase letters, digits and "-"`,
    );
  }
  return name;
}

/** The run id as a label value (jobwire's ids already are one; others are sanitized). */
export function runIdLabelValue(runId: string): string {
  return isLabelValue(runId) ? runId : sanitizeLabelValue(runId) || shortRunId(runId);
}

/** Labels on the run's Job, its pod template and its ConfigMap. */
export function runLabels(spec: Pick<RunSpec, 'job' | 'runId' | 'correlationId'>): Record<string, string> {
  const labels: Record<string, string> = {
    [LABEL.managedBy]: MANAGED_BY,
    [LABEL.job]: spec.job,
    [LABEL.runId]: runIdLabelValue(spec.runId),
  };
  const correlation = sanitizeLabelValue(spec.correlationId);
  if (correlation !== '') labels[LABEL.correlationId] = correlation;
  return labels;
}

/** Annotations on the run's Job and pod template: the full, unsanitized values. */
export function runAnnotations(
  spec: Pick<RunSpec, 'messageId' | 'source' | 'correlationId' | 'attempt'>,
): Record<string, string> {
  return {
    [ANNOTATION.messageId]: capAnnotation(spec.messageId),
    [ANNOTATION.source]: capAnnotation(spec.source),
    [ANNOTATION.correlationId]: capAnnotation(spec.correlationId),
    [ANNOTATION.attempt]: String(spec.attempt),
  };
}

function capAnnotation(value: string): string {
  return value.length <= MAX_ANNOTATION_VALUE_LENGTH ? value : `${value.slice(0, MAX_ANNOTATION_VALUE_LENGTH)}…(truncated)`;
}

/**
 * Label selector of every Job jobwire's kubernetes executor created for a run (CronJob-made Jobs
 * carry no run id, so they are not picked up by recovery).
 */
export function runLabelSelector(): string {
  return `${LABEL.managedBy}=${MANAGED_BY},${LABEL.runId}`;
}

/** Label selector of the Job (and ConfigMap) of one run. */
export function runIdSelector(runId: string): string {
  return `${LABEL.managedBy}=${MANAGED_BY},${LABEL.runId}=${runIdLabelValue(runId)}`;
}
