/**
 * GET /api/v1/namespaces/{ns}/pods/{name}/log, as the API server and kubelet answer it:
 * text/plain; `container` (required when the pod has several), `tailLines` (last N lines) then
 * `limitBytes` (first N bytes of that), `timestamps`, `previous` (no restarts happen in the fake,
 * so it is always "not found"), `follow` (streams until the container stops). Errors carry the
 * kubelet's words: "is waiting to start: ContainerCreating", "trying and failing to pull image"…
 * A pod not bound to a node yet answers 200 with an empty body, as the real API server does.
 */
import { asPod, timestamp, type PodObject } from './model.js';
import type { Kubelet } from './kubelet.js';
import type { Reply } from './http.js';
import { pods } from './resources.js';
import { badRequest, failureStatus, KubeApiError, notFound } from './status.js';
import type { ObjectStore } from './store.js';

interface LogOptions {
  readonly container: string;
  readonly tailLines?: number;
  readonly limitBytes?: number;
  readonly timestamps: boolean;
  readonly follow: boolean;
  readonly previous: boolean;
}

export function podLog(store: ObjectStore, kubelet: Kubelet, namespace: string, name: string, query: Readonly<Record<string, string>>): Reply {
  const found = store.get('pods', namespace, name);
  if (found === undefined) throw notFound(pods, name);
  const pod = asPod(found);
  const options = parseOptions(pod, query);
  if (pod.spec?.nodeName === undefined) return text('');
  const available = logText(kubelet, pod, options);
  const body = render(available, options, startedAt(pod, options.container));
  if (!options.follow) return text(body);
  return {
    kind: 'stream',
    start: (request, response) => {
      response.writeHead(200, { 'Content-Type': 'text/plain' });
      response.write(body);
      const stop = (): void => {
        unsubscribe();
        if (!response.writableEnded) response.end();
      };
      const unsubscribe = store.subscribe((event) => {
        if (event.resource !== 'pods' || event.object.metadata.uid !== pod.metadata.uid) return;
        const state = containerState(asPod(event.object), options.container);
        if (event.type === 'DELETED' || state?.terminated !== undefined) stop();
      });
      request.on('close', stop);
      if (containerState(pod, options.container)?.terminated !== undefined) stop();
    },
  };
}

function text(body: string | Buffer): Reply {
  return { kind: 'raw', status: 200, body: Buffer.isBuffer(body) ? body : Buffer.from(body), contentType: 'text/plain' };
}

function parseOptions(pod: PodObject, query: Readonly<Record<string, string>>): LogOptions {
  const name = pod.metadata.name;
  const containers = (pod.spec?.containers ?? []).map((container) => container.name);
  let container = query['container'];
  if (container === undefined || container === '') {
    if (containers.length !== 1) throw badRequest(`a container name must be specified for pod ${name}, choose one of: [${containers.join(' ')}]`);
    container = containers[0] ?? '';
  }
  if (!containers.includes(container)) throw badRequest(`container ${container} is not valid for pod ${name}`);
  const number = (field: string, minimum: number, words: string): number | undefined => {
    const raw = query[field];
    if (raw === undefined) return undefined;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < minimum) {
      throw new KubeApiError(
        failureStatus(422, 'Invalid', `PodLogOptions "${name}" is invalid: ${field}: Invalid value: ${raw}: ${words}`, {
          name,
          kind: 'PodLogOptions',
          causes: [{ reason: 'FieldValueInvalid', message: `Invalid value: ${raw}: ${words}`, field }],
        }),
      );
    }
    return value;
  };
  return {
    container,
    tailLines: number('tailLines', 0, 'must be greater than or equal to 0'),
    limitBytes: number('limitBytes', 1, 'must be greater than 0'),
    timestamps: query['timestamps'] === 'true',
    follow: query['follow'] === 'true',
    previous: query['previous'] === 'true',
  };
}

function containerState(pod: PodObject, container: string): NonNullable<NonNullable<PodObject['status']>['containerStatuses']>[number]['state'] {
  return pod.status?.containerStatuses?.find((status) => status.name === container)?.state;
}

function startedAt(pod: PodObject, container: string): string {
  const state = containerState(pod, container);
  return state?.running?.startedAt ?? state?.terminated?.startedAt ?? timestamp();
}

/** The kubelet's validateContainerLogStatus, then the log text. */
function logText(kubelet: Kubelet, pod: PodObject, options: LogOptions): string {
  const name = pod.metadata.name;
  const container = options.container;
  const status = pod.status?.containerStatuses?.find((entry) => entry.name === container);
  if (status === undefined) throw badRequest(`container "${container}" in pod "${name}" is not available`);
  if (options.previous) throw badRequest(`previous terminated container "${container}" in pod "${name}" not found`);
  const state = status.state ?? {};
  if (state.running === undefined && state.terminated === undefined) {
    const reason = state.waiting?.reason;
    if (reason === 'ErrImagePull') throw badRequest(`container "${container}" in pod "${name}" is waiting to start: image can't be pulled`);
    if (reason === 'ImagePullBackOff') throw badRequest(`container "${container}" in pod "${name}" is waiting to start: trying and failing to pull image`);
    if (reason !== undefined) throw badRequest(`container "${container}" in pod "${name}" is waiting to start: ${reason}`);
    throw badRequest(`container "${container}" in pod "${name}" is waiting to start - no logs yet`);
  }
  return kubelet.logOf(pod.metadata.uid, container) ?? '';
}

/** tailLines first, then timestamps, then limitBytes (which may cut a line, or a character). */
function render(log: string, options: LogOptions, started: string): Buffer {
  let lines = splitLines(log);
  if (options.tailLines !== undefined) lines = options.tailLines === 0 ? [] : lines.slice(-options.tailLines);
  if (options.timestamps) {
    // RFC3339NanoFixed, as the kubelet writes it; start times have whole seconds.
    const stamp = started.replace(/Z$/, '.000000000Z');
    lines = lines.map((line) => `${stamp} ${line}`);
  }
  const bytes = Buffer.from(lines.join(''));
  return options.limitBytes === undefined ? bytes : bytes.subarray(0, options.limitBytes);
}

/** Lines with their newline kept; a last line without one still counts. */
function splitLines(log: string): string[] {
  const lines = log.match(/[^\n]*\n|[^\n]+$/g);
  return lines === null ? [] : [...lines];
}

