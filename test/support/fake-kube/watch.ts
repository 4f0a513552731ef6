/**
 * Watch streams (`?watch=true` on a list path): 200, chunked application/json, one
 * `{"type":…,"object":…}` per line, as the API server's watch cache sends them.
 * - no resourceVersion, or "0", or sendInitialEvents=true: synthetic ADDED for the current objects
 *   first (then, with sendInitialEvents and bookmarks, a BOOKMARK annotated
 *   k8s.io/initial-events-end), then live changes;
 * - a resourceVersion: the kept history after it, then live changes; older than the history → one
 *   ERROR event with a 410 Expired Status, and the stream ends;
 * - selectors apply to the object before and after a change: an object that stops matching is
 *   sent as DELETED, one that starts matching as ADDED;
 * - allowWatchBookmarks: a BOOKMARK (object with only the resourceVersion) every bookmarkIntervalMs;
 * - timeoutSeconds: the stream ends cleanly then.
 * The hub keeps every open stream so tests can cut them (socket destroyed) or expire them.
 */
import type { ServerResponse } from 'node:http';
import type { Reply } from './http.js';
import type { StoredObject } from './model.js';
import type { ResourceDef } from './resources.js';
import type { Selector } from './selectors.js';
import { badRequest, expiredStatus } from './status.js';
import type { ObjectStore, StoreEvent } from './store.js';
import type { Timers } from './timers.js';

export interface WatchParams {
  readonly resource: ResourceDef;
  /** Undefined for a cluster-wide watch. */
  readonly namespace?: string;
  readonly labelSelector: Selector;
  readonly fieldSelector: Selector;
  readonly resourceVersion?: string;
  readonly timeoutSeconds?: number;
  readonly allowBookmarks: boolean;
  readonly sendInitialEvents: boolean;
}

interface OpenWatch {
  /** Ends the stream after an ERROR 410 event. */
  expire(): void;
  /** Destroys the socket without a last chunk. */
  cut(): void;
  /** Ends the stream cleanly. */
  end(): void;
}

type EventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export class WatchHub {
  private readonly open = new Set<OpenWatch>();

  constructor(
    private readonly store: ObjectStore,
    private readonly timers: Timers,
    private readonly bookmarkIntervalMs: number,
  ) {}

  get count(): number {
    return this.open.size;
  }

  reply(params: WatchParams): Reply {
    const raw = params.resourceVersion;
    const fromVersion = raw === undefined || raw === '' || raw === '0' || params.sendInitialEvents ? undefined : Number(raw);
    if (fromVersion !== undefined && !Number.isSafeInteger(fromVersion)) throw badRequest(`invalid resource version: ${JSON.stringify(raw)}`);
    return { kind: 'stream', start: (_request, response) => this.stream(params, fromVersion, response) };
  }

  cutAll(): void {
    for (const watch of [...this.open]) watch.cut();
  }

  expireAll(): void {
    for (const watch of [...this.open]) watch.expire();
  }

  endAll(): void {
    for (const watch of [...this.open]) watch.end();
  }

  private stream(params: WatchParams, fromVersion: number | undefined, response: ServerResponse): void {
    response.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
    response.flushHeaders();
    const { resource } = params;
    let lastVersion = fromVersion === undefined ? this.store.resourceVersion : String(fromVersion);
    const cancels: (() => void)[] = [];
    const write = (type: EventType, object: unknown): void => {
      if (response.writableEnded || response.destroyed) return;
      response.write(`${JSON.stringify({ type, object })}\n`);
    };
    const matches = (object: StoredObject): boolean =>
      (params.namespace === undefined || object.metadata.namespace === params.namespace) && params.labelSelector(object) && params.fieldSelector(object);
    const deliver = (event: StoreEvent): void => {
      if (event.resource !== resource.plural) return;
      const now = matches(event.object);
      const before = event.previous !== undefined && matches(event.previous);
      lastVersion = String(event.resourceVersion);
      if (event.type === 'ADDED' && now) write('ADDED', event.object);
      else if (event.type === 'MODIFIED' && now) write(before ? 'MODIFIED' : 'ADDED', event.object);
      else if (event.type === 'MODIFIED' && before) write('DELETED', event.object);
      else if (event.type === 'DELETED' && (now || before)) write('DELETED', event.object);
    };
    const bookmark = (annotations?: Record<string, string>): void => {
      const metadata: Record<string, unknown> = { resourceVersion: this.store.resourceVersion };
      if (annotations !== undefined) metadata['annotations'] = annotations;
      write('BOOKMARK', { kind: resource.kind, apiVersion: resource.apiVersion, metadata });
    };

    let unsubscribe: () => void = () => undefined;
    const watch: OpenWatch = {
      end: () => finish(() => response.end()),
      cut: () => finish(() => response.socket?.destroy()),
      expire: () =>
        finish(() => {
          write('ERROR', expiredStatus(lastVersion, this.store.resourceVersion));
          response.end();
        }),
    };
    const finish = (how: () => void): void => {
      if (!this.open.delete(watch)) return;
      unsubscribe();
      cancels.splice(0).forEach((cancel) => cancel());
      how();
    };
    this.open.add(watch);
    response.on('close', () => finish(() => undefined));

    if (fromVersion === undefined) {
      for (const object of this.store.list(resource.plural, params.namespace, matches)) write('ADDED', object);
      if (params.sendInitialEvents && params.allowBookmarks) bookmark({ 'k8s.io/initial-events-end': 'true' });
    } else {
      const history = this.store.since(fromVersion);
      if (history === 'expired') {
        finish(() => {
          write('ERROR', expiredStatus(String(fromVersion), this.store.oldestResumableVersion));
          response.end();
        });
        return;
      }
      history.forEach(deliver);
    }
    unsubscribe = this.store.subscribe(deliver);
    if (params.timeoutSeconds !== undefined && params.timeoutSeconds > 0) cancels.push(this.timers.after(params.timeoutSeconds * 1000, () => watch.end()));
    if (params.allowBookmarks && this.bookmarkIntervalMs > 0) {
      const tick = (): void => {
        bookmark();
        cancels.push(this.timers.after(this.bookmarkIntervalMs, tick));
      };
      cancels.push(this.timers.after(this.bookmarkIntervalMs, tick));
    }
  }
}
