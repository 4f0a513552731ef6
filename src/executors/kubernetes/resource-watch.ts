/**
 * One list-then-watch loop over one resource (Jobs or Pods) in one namespace, as client-go's
 * reflector does it: list (paged), then watch from the list's resourceVersion, resuming from the
 * last version seen when the stream ends (API servers close watches every few minutes; networks
 * cut them), listing again when the server answers 410 Gone (the version is too old), and
 * backing off with jitter while the API server cannot be reached.
 *
 * Each full list is handed over whole (`onList`), because a list is the only way to learn that
 * something was deleted while no watch was open.
 */
import type { Logger } from 'pino';
import { errorMessage } from '../../core/errors.js';
import type { KubeApi, ListPage } from './kube-api.js';
import { resourceVersionOf, statusCodeOf } from './kube-objects.js';

/** A watch's connection state, for logs and health checks. */
export type WatchState =
  | { readonly state: 'listing'; readonly since: number }
  | { readonly state: 'watching'; readonly since: number; readonly resourceVersion: string }
  | { readonly state: 'reconnecting'; readonly since: number; readonly failures: number; readonly error: string; readonly retryInMs: number }
  | { readonly state: 'closed'; readonly since: number };

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ResourceWatchOptions {
  readonly api: KubeApi;
  /** For logs: `jobs`, `pods`. */
  readonly resource: string;
  readonly namespace: string;
  /** The watch path, e.g. /apis/batch/v1/namespaces/jobs/jobs */
  readonly path: string;
  readonly labelSelector: string;
  readonly list: (continueToken: string | undefined) => Promise<ListPage<unknown>>;
  readonly onEvent: (type: WatchEventType, object: unknown) => void;
  /** A complete list; `sentAt` is the `now()` just before it was asked for. */
  readonly onList: (items: readonly unknown[], sentAt: number) => void;
  readonly logger: Logger;
  readonly now: () => number;
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  /** Asks the server to end each stream after this long (it is then resumed). */
  readonly timeoutSeconds?: number;
}

const DEFAULT_BACKOFF = { initialMs: 250, maxMs: 30_000 };
const DEFAULT_TIMEOUT_SECONDS = 300;
/** A stream that lasted this long was healthy, whatever ended it. */
const HEALTHY_STREAM_MS = 10_000;
const CLOSE_WAIT_MS = 2000;

type StreamEnd = ({ readonly kind: 'ended' } | { readonly kind: 'gone' } | { readonly kind: 'failed'; readonly error: unknown }) & {
  /** Whether any event other than ERROR (bookmarks included) arrived before the end. */
  readonly delivered: boolean;
};

export class ResourceWatch {
  readonly #options: ResourceWatchOptions;
  #state: WatchState;
  #resourceVersion: string | undefined;
  /** Ends the open stream, if any. */
  #abortStream: (() => void) | undefined;
  #wake: (() => void) | undefined;
  #closed = false;
  #running: Promise<void> | undefined;
  #firstList: Promise<void>;
  #firstListDone!: () => void;

  constructor(options: ResourceWatchOptions) {
    this.#options = options;
    this.#state = { state: 'listing', since: options.now() };
    this.#firstList = new Promise((resolve) => (this.#firstListDone = resolve));
  }

  get state(): WatchState {
    return this.#state;
  }

  /** Resolves after the first complete list was handed over (or at close). */
  get synced(): Promise<void> {
    return this.#firstList;
  }

  start(): void {
    this.#running ??= this.#loop();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#abortStream?.();
    this.#wake?.();
    this.#firstListDone();
    // A connect that hangs cannot be aborted before its answer (client-node's Watch): do not wait for it.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#running, new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)))]);
    clearTimeout(timer);
    this.#setState({ state: 'closed', since: this.#options.now() });
  }

  async #loop(): Promise<void> {
    const backoff = this.#options.backoff ?? DEFAULT_BACKOFF;
    /** Consecutive cycles that got nothing done; reset by a stream that delivered or lasted. */
    let failures = 0;
    while (!this.#closed) {
      let error: unknown;
      if (this.#resourceVersion === undefined) {
        try {
          await this.#listAll();
          continue;
        } catch (thrown) {
          error = thrown;
        }
      } else {
        const openedAt = this.#options.now();
        const end = await this.#stream(this.#resourceVersion);
        if (this.#closed) break;
        if (end.delivered || this.#options.now() - openedAt >= HEALTHY_STREAM_MS) failures = 0;
        if (end.kind === 'gone') {
          this.#options.logger.info({ namespace: this.#options.namespace, resource: this.#options.resource }, 'watch expired (410 Gone); listing again');
          this.#resourceVersion = undefined;
        }
        if (end.kind !== 'failed' && failures === 0) {
          // A normal end (servers close watches every few minutes) or an expiry: go on at once,
          // but not twice in a row without anything in between.
          failures = 1;
          continue;
        }
        error = end.kind === 'failed' ? end.error : new Error(end.kind === 'gone' ? 'watch expired (410 Gone) again at once' : 'watch stream closed at once');
      }
      failures++;
      const ceiling = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(failures - 1, 20));
      const retryInMs = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
      const message = errorMessage(error);
      this.#setState({ state: 'reconnecting', since: this.#options.now(), failures, error: message, retryInMs });
      this.#options.logger.warn(
        { namespace: this.#options.namespace, resource: this.#options.resource, failures, retryInMs, err: message },
        'Kubernetes watch interrupted; reconnecting',
      );
      await this.#sleep(retryInMs);
    }
  }

  async #listAll(): Promise<void> {
    this.#setState({ state: 'listing', since: this.#options.now() });
    const sentAt = this.#options.now();
    const items: unknown[] = [];
    let continueToken: string | undefined;
    let resourceVersion = '';
    do {
      const page = await this.#options.list(continueToken);
      items.push(...page.items);
      // The snapshot's version is the first page's; later pages continue that snapshot.
      if (resourceVersion === '') resourceVersion = page.resourceVersion;
      continueToken = page.continueToken;
    } while (continueToken !== undefined && !this.#closed);
    if (this.#closed) return;
    this.#resourceVersion = resourceVersion;
    this.#options.onList(items, sentAt);
    this.#firstListDone();
  }

  #stream(fromVersion: string): Promise<StreamEnd> {
    return new Promise<StreamEnd>((resolve) => {
      let gone = false;
      let failure: unknown;
      let ended = false;
      let delivered = false;
      let controller: AbortController | undefined;
      const stop = (): void => controller?.abort();
      const onEvent = (type: string, object: unknown): void => {
        if (this.#closed || ended || gone || failure !== undefined) return;
        if (type === 'ERROR') {
          if (statusCodeOf(object) === 410) gone = true;
          else failure = new Error(`watch error event: ${JSON.stringify(object).slice(0, 300)}`);
          stop();
          return;
        }
        delivered = true;
        const version = resourceVersionOf(object);
        if (version !== undefined && version !== '') this.#resourceVersion = version;
        if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') this.#options.onEvent(type, object);
        // BOOKMARK only moves the version on.
      };
      const onDone = (error: unknown): void => {
        if (ended) return;
        ended = true;
        if (this.#abortStream === stop) this.#abortStream = undefined;
        if (gone) return resolve({ kind: 'gone', delivered });
        if (failure !== undefined) return resolve({ kind: 'failed', error: failure, delivered });
        const status = typeof error === 'object' && error !== null && 'statusCode' in error ? (error as { statusCode: unknown }).statusCode : undefined;
        if (status === 410) return resolve({ kind: 'gone', delivered });
        resolve(error === null || error === undefined ? { kind: 'ended', delivered } : { kind: 'failed', error, delivered });
      };
      this.#abortStream = stop;
      const query = {
        labelSelector: this.#options.labelSelector,
        resourceVersion: fromVersion,
        allowWatchBookmarks: true,
        timeoutSeconds: this.#options.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS,
      };
      this.#options.api.watch(this.#options.path, query, onEvent, onDone).then(
        (opened) => {
          controller = opened;
          // Closed, expired or failed while connecting: the stream must not outlive this call.
          if (this.#closed || ended || gone || failure !== undefined) opened.abort();
          else this.#setState({ state: 'watching', since: this.#options.now(), resourceVersion: fromVersion });
        },
        (error: unknown) => onDone(error),
      );
    });
  }

  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(finish, ms);
      function finish(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = finish;
    }).finally(() => (this.#wake = undefined));
  }

  #setState(state: WatchState): void {
    this.#state = state;
  }
}
