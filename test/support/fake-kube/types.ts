/**
 * The contract of the in-process fake Kubernetes API server (test/support/fake-kube/server.ts).
 *
 * It speaks the real REST/JSON and watch-stream protocol for the resources jobwire uses, so the
 * executor runs against it unchanged through @kubernetes/client-node: batch/v1 Jobs, v1 Pods,
 * v1 ConfigMaps, pods/log, v1 Events (list only). Behind it a tiny "job controller + kubelet"
 * turns each created Job into one Pod per attempt and plays a scripted PodScript for it.
 *
 * Tests steer it through this interface: what each pod does, and which faults to inject.
 */

/**
 * What the fake kubelet does with a pod. Chosen per pod by `FakeKubeOptions.podScript`. The
 * script drives the pod's first container (its exit code and log); other containers exit 0 with
 * an empty log. restartPolicy OnFailure is not modelled: a failing container fails its pod.
 */
export type PodScript =
  /**
   * Pending → Running → Succeeded (exit 0) or Failed (other codes), printing `log`. `writes`: the
   * files the container writes, by absolute path; the one at its terminationMessagePath becomes
   * its termination message, as the kubelet makes it (termination-message.ts).
   */
  | { readonly kind: 'run'; readonly exitCode: number; readonly log: string; readonly runMs?: number; readonly writes?: Readonly<Record<string, string>> }
  /** Pending with container waiting reason ErrImagePull, then ImagePullBackOff, forever. */
  | { readonly kind: 'imagePullBackOff' }
  /** Pending with container waiting reason CreateContainerConfigError (e.g. a missing secret key). */
  | { readonly kind: 'createContainerConfigError'; readonly message: string }
  /** Pending with condition PodScheduled=False reason Unschedulable, forever. */
  | { readonly kind: 'unschedulable'; readonly message?: string }
  /** Running until deleted (or until the Job's activeDeadlineSeconds passes); `writes` as for `run`. */
  | { readonly kind: 'hang'; readonly log?: string; readonly writes?: Readonly<Record<string, string>> };

/** A request the server received, for assertions (rate limit, idempotent retry, bodies). */
export interface RecordedRequest {
  readonly method: string;
  /** Path without the query string, e.g. /apis/batch/v1/namespaces/jobs/jobs */
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  /** Parsed JSON body, when there was one. */
  readonly body?: unknown;
  /** Date.now() when it arrived. */
  readonly at: number;
}

/** A canned reply for the next request(s) matching method + path. */
export interface InjectedFault {
  readonly method?: string;
  /** Matched against the path without query string. */
  readonly path: RegExp;
  readonly status: number;
  /** e.g. { 'retry-after': '1' } */
  readonly headers?: Readonly<Record<string, string>>;
  /** How many matching requests get this reply (default 1). */
  readonly times?: number;
  /** When true the request is also executed (e.g. a create that succeeds, then 500 is returned). */
  readonly afterApplying?: boolean;
  /** Status message (default: the API server's usual words for `status`). */
  readonly message?: string;
  /** Status reason (default: the API server's reason for `status`, e.g. TooManyRequests for 429). */
  readonly reason?: string;
  /** Destroy the connection instead of answering (a network failure); `status` is then unused. */
  readonly dropConnection?: boolean;
}

export interface FakeKubeOptions {
  /**
   * Decides each new pod's behaviour from its Job (default: run, exit 0, empty log, 50 ms). A pod
   * created directly (not by a Job) is passed itself.
   */
  readonly podScript?: (job: KubeObject) => PodScript;
  /** Watch history kept for resourceVersion resumes; older versions get 410 Gone. Default 1000. */
  readonly historyLimit?: number;
  /**
   * Delay before the job controller creates the next pod after a failure. Default 20 ms (a real
   * cluster waits 10 s, doubling up to 6 min; the fake keeps tests fast).
   */
  readonly retryDelayMs?: number;
  /** Pause between the fake kubelet's status steps (scheduled, creating, running…). Default 5 ms. */
  readonly kubeletStepMs?: number;
  /** How often a watch with allowWatchBookmarks=true gets a BOOKMARK. Default 1000 ms (real: ~1 min). */
  readonly bookmarkIntervalMs?: number;
  /** Delay before the garbage collector reacts to a change (Background deletes). Default 10 ms. */
  readonly gcDelayMs?: number;
}

/** Any Kubernetes object as JSON (apiVersion, kind, metadata, spec, status). */
export interface KubeObject {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly uid?: string;
    readonly resourceVersion?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
    readonly ownerReferences?: readonly unknown[];
    readonly creationTimestamp?: string;
  };
  readonly [field: string]: unknown;
}

export interface FakeKube {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** A kubeconfig file (in a temp folder) whose current context points at `url`. */
  readonly kubeconfigPath: string;
  /** The bearer token the kubeconfig carries; requests without it get 401 Unauthorized. */
  readonly token: string;
  close(): Promise<void>;

  // Inspection
  jobs(namespace?: string): KubeObject[];
  pods(namespace?: string): KubeObject[];
  configMaps(namespace?: string): KubeObject[];
  secrets(namespace?: string): KubeObject[];
  /** v1 Events the fake controllers recorded (FailedScheduling, FailedMount, BackOff, Completed…). */
  events(namespace?: string): KubeObject[];
  /** The current (global) resourceVersion. */
  readonly resourceVersion: string;
  /** How many watch streams are open right now (e.g. to wait until a client is watching). */
  openWatches(): number;
  readonly requests: readonly RecordedRequest[];

  // Behaviour and faults
  setPodScript(script: (job: KubeObject) => PodScript): void;
  /** The next matching request(s) get this reply instead of the real one. */
  injectFault(fault: InjectedFault): void;
  /** Destroys every open watch stream mid-way (TCP close without a final event). */
  cutWatches(): void;
  /** Sends an ERROR event with status 410 Gone on every open watch and closes it; also forgets history. */
  expireWatches(): void;
  /** Deletes a Job (and its pods and owned ConfigMaps) as if someone ran kubectl delete. */
  deleteJobBehindBack(namespace: string, name: string): void;
}
