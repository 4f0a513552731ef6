/**
 * metav1.Status bodies, exactly as the API server writes them, and the error class the fake's
 * handlers throw to answer with one. Clients (and jobwire) branch on `code` and `reason`, so the
 * pairs here are the real ones: 404 NotFound, 409 AlreadyExists / Conflict, 422 Invalid,
 * 410 Expired, 400 BadRequest, 401 Unauthorized, 405 MethodNotAllowed, 415 UnsupportedMediaType,
 * 429 TooManyRequests, 500 InternalError, 503 ServiceUnavailable, 504 Timeout.
 */
import type { ResourceDef } from './resources.js';

export interface StatusCause {
  readonly reason: string;
  readonly message: string;
  readonly field: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface StatusBody {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

export function failureStatus(code: number, reason: string, message: string, details?: StatusDetails): StatusBody {
  const body: StatusBody = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
  if (details !== undefined) body.details = details;
  return body;
}

/** What a handler throws to answer with a Status; `headers` go on the HTTP reply as they are. */
export class KubeApiError extends Error {
  override readonly name: string = 'KubeApiError';
  readonly status: StatusBody;
  readonly headers: Readonly<Record<string, string>>;
  constructor(status: StatusBody, options?: { cause?: unknown; headers?: Readonly<Record<string, string>> }) {
    super(status.message ?? status.reason ?? `HTTP ${status.code}`, options);
    this.status = status;
    this.headers = options?.headers ?? {};
  }
}

/** e.g. `jobs.batch "x"` or `pods "x"`: how the API server names a resource in messages. */
function qualified(resource: ResourceDef): string {
  return resource.group === '' ? resource.plural : `${resource.plural}.${resource.group}`;
}

/** e.g. `Job.batch` or `ConfigMap`: how validation messages name a kind. */
export function qualifiedKind(resource: ResourceDef): string {
  return resource.group === '' ? resource.kind : `${resource.kind}.${resource.group}`;
}

export function notFound(resource: ResourceDef, name: string): KubeApiError {
  return new KubeApiError(
    failureStatus(404, 'NotFound', `${qualified(resource)} "${name}" not found`, { name, group: resource.group || undefined, kind: resource.plural }),
  );
}

export function alreadyExists(resource: ResourceDef, name: string): KubeApiError {
  return new KubeApiError(
    failureStatus(409, 'AlreadyExists', `${qualified(resource)} "${name}" already exists`, { name, group: resource.group || undefined, kind: resource.plural }),
  );
}

export function conflict(resource: ResourceDef, name: string, why: string): KubeApiError {
  return new KubeApiError(
    failureStatus(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(resource)} "${name}": ${why}`, {
      name,
      group: resource.group || undefined,
      kind: resource.plural,
    }),
  );
}

export function invalid(resource: ResourceDef, name: string, causes: StatusCause[]): KubeApiError {
  const parts = causes.map((cause) => `${cause.field}: ${cause.message}`);
  const summary = parts.length === 1 ? parts[0] : `[${parts.join(', ')}]`;
  return new KubeApiError(
    failureStatus(422, 'Invalid', `${qualifiedKind(resource)} "${name}" is invalid: ${summary}`, {
      name,
      group: resource.group || undefined,
      kind: resource.kind,
      causes,
    }),
  );
}

export function badRequest(message: string): KubeApiError {
  return new KubeApiError(failureStatus(400, 'BadRequest', message));
}

export function pathNotFound(): KubeApiError {
  return new KubeApiError(failureStatus(404, 'NotFound', 'the server could not find the requested resource', {}));
}

export function methodNotAllowed(): KubeApiError {
  return new KubeApiError(failureStatus(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {}));
}

export function unsupportedMediaType(contentType: string, accepted: readonly string[]): KubeApiError {
  return new KubeApiError(
    failureStatus(415, 'UnsupportedMediaType', `the body of the request was in an unknown format ${JSON.stringify(contentType)} - accepted media types include: ${accepted.join(', ')}`),
  );
}

export function unauthorized(): KubeApiError {
  return new KubeApiError(failureStatus(401, 'Unauthorized', 'Unauthorized'));
}

/** The ERROR event object a watch gets when its resourceVersion is older than the kept history. */
export function expiredStatus(requested: string, oldest: string): StatusBody {
  return failureStatus(410, 'Expired', `too old resource version: ${requested} (${oldest})`);
}

/** The reason and message the API server uses for a bare HTTP status (what injected faults answer). */
export function statusForCode(code: number): { reason: string; message: string } {
  switch (code) {
    case 400: return { reason: 'BadRequest', message: 'the server rejected our request for an unknown reason' };
    case 401: return { reason: 'Unauthorized', message: 'Unauthorized' };
    case 403: return { reason: 'Forbidden', message: 'forbidden: the user cannot perform this operation' };
    case 404: return { reason: 'NotFound', message: 'the server could not find the requested resource' };
    case 409: return { reason: 'Conflict', message: 'the object has been modified; please apply your changes to the latest version and try again' };
    case 410: return { reason: 'Expired', message: 'the resource version is too old' };
    case 422: return { reason: 'Invalid', message: 'the request is invalid' };
    case 429: return { reason: 'TooManyRequests', message: 'Too many requests, please try again later.' };
    case 500: return { reason: 'InternalError', message: 'Internal error occurred: injected fault' };
    case 503: return { reason: 'ServiceUnavailable', message: 'the server is currently unable to handle the request' };
    case 504: return { reason: 'Timeout', message: 'the server was unable to return a response in the time allotted, but may still be processing the request' };
    default: return { reason: 'Unknown', message: `the server responded with the status code ${code} but did not return more information` };
  }
}
