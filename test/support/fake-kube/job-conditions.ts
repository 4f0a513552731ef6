/**
 * A Job's status.conditions as the job controller reads and writes them: a condition counts when
 * its status is "True"; setting one keeps its lastTransitionTime unless its status changes.
 */
import { timestamp, type JobCondition, type JobStatus } from './model.js';

export type ConditionType = 'Complete' | 'Failed' | 'FailureTarget' | 'SuccessCriteriaMet' | 'Suspended';

export function findCondition(status: JobStatus, type: ConditionType): JobCondition | undefined {
  return (status.conditions ?? []).find((condition) => condition.type === type && condition.status === 'True');
}

export function hasCondition(status: JobStatus, type: ConditionType): boolean {
  return findCondition(status, type) !== undefined;
}

export function setCondition(status: JobStatus, type: ConditionType, reason: string, message: string, value: 'True' | 'False' = 'True'): void {
  const now = timestamp();
  const conditions = [...(status.conditions ?? [])];
  const index = conditions.findIndex((condition) => condition.type === type);
  const old = index >= 0 ? conditions[index] : undefined;
  const next: JobCondition = {
    type,
    status: value,
    reason,
    message,
    lastProbeTime: now,
    lastTransitionTime: old?.status === value ? (old.lastTransitionTime ?? now) : now,
  };
  if (index >= 0) conditions[index] = next;
  else conditions.push(next);
  status.conditions = conditions;
}
