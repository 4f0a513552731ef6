/**
 * v1 Events the fake's controllers emit, shaped like the real ones (core/v1 Event with
 * involvedObject, reason, message, source, counts and timestamps), so a client that lists events
 * to explain a stuck pod (FailedScheduling, FailedMount, Failed to pull image, BackOff) finds them.
 */
import { randomHex, timestamp, type StoredObject } from './model.js';
import type { ObjectStore } from './store.js';

export type EventType = 'Normal' | 'Warning';

export class EventRecorder {
  constructor(private readonly store: ObjectStore) {}

  record(about: StoredObject, type: EventType, reason: string, message: string, component: string): void {
    const now = timestamp();
    const meta = about.metadata;
    this.store.create('events', {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${meta.name}.${randomHex(8)}`, namespace: meta.namespace },
      involvedObject: {
        apiVersion: about.apiVersion,
        kind: about.kind,
        name: meta.name,
        namespace: meta.namespace,
        uid: meta.uid,
        resourceVersion: meta.resourceVersion,
      },
      reason,
      message,
      source: component === 'kubelet' ? { component, host: 'fake-node-1' } : { component },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
      type,
      eventTime: null,
      reportingComponent: component,
      reportingInstance: component === 'kubelet' ? 'fake-node-1' : '',
    });
  }
}
