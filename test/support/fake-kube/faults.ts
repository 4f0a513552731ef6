/**
 * Injected faults and the request log. A fault answers the next matching request(s) (method and
 * path regex, `times`, default 1) with its status as a real Status body (reason and message as
 * the API server words them for that code), plus its headers, e.g. 429 + retry-after; with
 * `afterApplying` the request is carried out first, so the client sees a failure for a change
 * that happened (a retried create then meets 409). `dropConnection` destroys the socket instead.
 */
import { json, type Reply } from './http.js';
import { failureStatus, statusForCode } from './status.js';
import type { InjectedFault, RecordedRequest } from './types.js';

export class FaultQueue {
  private readonly faults: { fault: InjectedFault; left: number }[] = [];

  add(fault: InjectedFault): void {
    this.faults.push({ fault, left: fault.times ?? 1 });
  }

  /** The fault this request meets, if any (used up as it is taken). */
  take(method: string, path: string): InjectedFault | undefined {
    const index = this.faults.findIndex(
      (entry) => entry.left > 0 && (entry.fault.method === undefined || entry.fault.method.toUpperCase() === method.toUpperCase()) && matchesPath(entry.fault.path, path),
    );
    if (index < 0) return undefined;
    const entry = this.faults[index];
    if (entry === undefined) return undefined;
    entry.left -= 1;
    if (entry.left <= 0) this.faults.splice(index, 1);
    return entry.fault;
  }
}

function matchesPath(pattern: RegExp, path: string): boolean {
  pattern.lastIndex = 0;
  return pattern.test(path);
}

export function faultReply(fault: InjectedFault): Reply {
  const words = statusForCode(fault.status);
  const reason = fault.reason ?? words.reason;
  const message = fault.message ?? words.message;
  const retryAfter = Number(fault.headers?.['retry-after'] ?? fault.headers?.['Retry-After']);
  const details = Number.isFinite(retryAfter) ? { retryAfterSeconds: retryAfter } : undefined;
  return json(fault.status, failureStatus(fault.status, reason, message, details), fault.headers);
}

export class RequestLog {
  readonly entries: RecordedRequest[] = [];

  record(entry: RecordedRequest): void {
    this.entries.push(entry);
  }
}
