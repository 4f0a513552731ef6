/**
 * The compiled, typed form of a config file. YAML is parsed and validated once by
 * `loadConfig`; everything downstream (matcher, dispatcher, executors, API) reads only these
 * types, so hot paths never re-parse or re-validate.
 */
import type { MessageView } from '../core/message.js';

/** Where a config node was written, for `FILE:LINE:COL` messages. */
export interface SourcePosition {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

/** What a `then:` expression sees besides `message`: the finished run, and the `forEach` element. */
export interface ChainBindings {
  readonly run: Readonly<Record<string, unknown>>;
  readonly item?: unknown;
}

/** A compiled CEL expression. Throws ExpressionError when evaluation fails for a message. */
export interface CompiledExpression {
  readonly source: string;
  readonly position: SourcePosition;
  evaluate(message: MessageView, bindings?: ChainBindings): unknown;
}

/** A text that is either literal or one whole `${{ … }}` expression. */
export type TextTemplate =
  | { readonly kind: 'literal'; readonly value: string }
  | { readonly kind: 'expression'; readonly expression: CompiledExpression };

/** One entry of a job's `then:`, done when its run ends in a matching state. */
export interface CompiledThenAction {
  /** `failed` covers failed and timed_out; `always` also covers cancelled. */
  readonly when: 'succeeded' | 'failed' | 'always';
  /** One action per element of this list (CEL), with the element as `item`. */
  readonly forEach?: CompiledExpression;
  readonly action:
    | {
        readonly kind: 'publish';
        readonly source: string;
        readonly topic: TextTemplate;
        readonly headers: readonly { readonly name: string; readonly value: TextTemplate }[];
        /** Absent: `item` with forEach, else the run's output, as JSON. */
        readonly body?: TextTemplate;
      }
    | {
        readonly kind: 'run';
        readonly job: string;
        /** The chained message's body. Absent: `item` with forEach, else the run's output. */
        readonly with?: TextTemplate;
      };
  readonly position: SourcePosition;
}

/** Where lifecycle events go. */
export type CompiledSink = {
  readonly name: string;
  /** Only events whose type matches one of these (all when absent). */
  readonly types?: readonly NameMatcher[];
  /** Only events of these jobs (all when absent). */
  readonly jobs?: readonly string[];
  /** Events kept waiting in the outbox when the sink is down; beyond, the oldest are dropped. */
  readonly maxPending: number;
  readonly position: SourcePosition;
} & (
  | { readonly kind: 'bus'; readonly source: string; readonly topic: string }
  | { readonly kind: 'webhook'; readonly url: string; readonly headers: Readonly<Record<string, string>>; readonly timeoutMs: number }
);

export interface CompiledEvents {
  /** The CloudEvents `source` attribute of every event this jobwire emits. */
  readonly instance: string;
  /** Bytes of log tail an event carries. */
  readonly logTailBytes: number;
  readonly sinks: readonly CompiledSink[];
}

/** Matches a topic or CloudEvents type: exact, or a glob (`*` one segment, `**`/`#`/`>` the rest). */
export interface NameMatcher {
  readonly pattern: string;
  matches(value: string): boolean;
}

export interface CompiledJsonPathMatch {
  /** JSONPath rooted at the message body, e.g. `$.data.test.teststrategy`. */
  readonly property: string;
  /** The value (as text) at least one match must equal. */
  readonly match: string;
}

export interface CompiledTrigger {
  /** `http`, `cron`, or a configured source's name. */
  readonly source: string;
  readonly topic?: NameMatcher;
  readonly type?: NameMatcher;
  readonly filter?: CompiledExpression;
  readonly jsonpath?: CompiledJsonPathMatch;
  /** Cron expression; set exactly when `source` is `cron`. */
  readonly schedule?: string;
  readonly position: SourcePosition;
}

export type EnvValue =
  | { readonly kind: 'literal'; readonly value: string }
  | { readonly kind: 'expression'; readonly expression: CompiledExpression }
  | { readonly kind: 'jsonpath'; readonly path: string; readonly position: SourcePosition }
  | { readonly kind: 'fromEnv'; readonly name: string }
  /** A Kubernetes secret reference; only executors that know secrets can resolve it. */
  | { readonly kind: 'secret'; readonly name: string; readonly key: string };

export interface EnvEntry {
  readonly name: string;
  readonly value: EnvValue;
}

export interface ConfigFile {
  /** Path relative to the config folder, kept in the run's working directory. */
  readonly path: string;
  /** Absolute path on disk. */
  readonly absolutePath: string;
}

export interface RetryPolicy {
  /** Retries after the first attempt (0 = run once). */
  readonly limit: number;
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
}

/** Container resource quantities, as Kubernetes writes them (`cpu: 500m`, `memory: 256Mi`). */
export interface ResourceRequirements {
  readonly requests?: Readonly<Record<string, string>>;
  readonly limits?: Readonly<Record<string, string>>;
}

export interface Toleration {
  readonly key?: string;
  readonly operator?: 'Exists' | 'Equal';
  readonly value?: string;
  readonly effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  readonly tolerationSeconds?: number;
}

/** A container's security context, in Kubernetes' shape. */
export interface SecurityContext {
  readonly runAsNonRoot?: boolean;
  readonly runAsUser?: number;
  readonly runAsGroup?: number;
  readonly allowPrivilegeEscalation?: boolean;
  readonly readOnlyRootFilesystem?: boolean;
  readonly privileged?: boolean;
  readonly capabilities?: { readonly add?: readonly string[]; readonly drop?: readonly string[] };
  readonly seccompProfile?: { readonly type: 'RuntimeDefault' | 'Unconfined' | 'Localhost'; readonly localhostProfile?: string };
}

/** A whole Secret or ConfigMap as env vars (`envFrom`); its values never pass through jobwire. */
export interface EnvFromSource {
  readonly kind: 'secret' | 'configMap';
  readonly name: string;
  readonly prefix?: string;
  readonly optional?: boolean;
}

/**
 * Pod and Job fields for container runtimes. A job sets them; a kubernetes (or container)
 * executor sets the same keys as defaults. Config load rejects them on a job whose executor
 * cannot honour them (`resources` and `imagePullPolicy` also apply to the container executor).
 */
export interface RuntimeOptions {
  /** Only a namespace in the executor's `namespaces` allow-list. */
  readonly namespace?: string;
  readonly resources?: ResourceRequirements;
  readonly ttlSecondsAfterFinished?: number;
  readonly restartPolicy?: 'Never' | 'OnFailure';
  readonly serviceAccountName?: string;
  readonly securityContext?: SecurityContext;
  readonly nodeSelector?: Readonly<Record<string, string>>;
  readonly tolerations?: readonly Toleration[];
  readonly priorityClassName?: string;
  readonly imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  /** Names of docker-registry Secrets in the Job's namespace. */
  readonly imagePullSecrets?: readonly string[];
  readonly envFrom?: readonly EnvFromSource[];
}

/** One of a job's `steps`, run by jobwire's step driver (executors/steps-driver.ts). */
export interface CompiledStep {
  /** Unique in the job; `step-N` when the config names none. */
  readonly name: string;
  /** The bash text the driver runs: the step's `script`, or its `command` + `args` quoted by jobwire. */
  readonly script: string;
  /** A failure of this step is reported but does not stop the run or fail it. */
  readonly continueOnError: boolean;
  /** The step's own env, on top of the job's (same forms, resolved per message). */
  readonly env: readonly EnvEntry[];
  readonly position: SourcePosition;
}

export interface CompiledJob {
  readonly name: string;
  readonly triggers: readonly CompiledTrigger[];
  readonly executor: string;
  /** argv of the attempt: `command` + `args`, `["bash", "-c", script]`, or the step driver's. */
  readonly argv: readonly string[];
  /** Set for a job with `steps` (then `argv` runs the step driver with them). */
  readonly steps?: readonly CompiledStep[];
  readonly image?: string;
  readonly env: readonly EnvEntry[];
  readonly files: readonly ConfigFile[];
  /** Absolute; undefined means a fresh folder per run. */
  readonly workingDir?: string;
  readonly timeoutMs?: number;
  readonly retries: RetryPolicy;
  /** Maximum simultaneous runs of this job; undefined = only the global limit. */
  readonly concurrency?: number;
  /** Higher runs first. */
  readonly priority: number;
  readonly description?: string;
  /** Job-level container runtime fields (empty when none is set). */
  readonly runtime: RuntimeOptions;
  /** `events: { keptn: true }`: answer Keptn task triggers with .started/.finished. */
  readonly keptn: boolean;
  /** What to do when a run ends (`then:`), in order. */
  readonly then: readonly CompiledThenAction[];
  readonly position: SourcePosition;
}

export interface SourceDefinition {
  readonly name: string;
  readonly type: string;
  /** Type-specific settings with `${VAR}` already substituted. */
  readonly settings: Readonly<Record<string, unknown>>;
  readonly position: SourcePosition;
}

/** `kubernetes` executor settings, validated and defaulted at config load. */
export interface KubernetesExecutorSettings {
  /** Namespace of a job that names none. */
  readonly namespace: string;
  /** Namespaces a job may pick with `namespace:`; always contains `namespace`. */
  readonly namespaces: readonly string[];
  /** Image allow-list (globs); undefined allows any image. Checked at config load. */
  readonly images?: readonly NameMatcher[];
  /** Kubeconfig file; unset: in-cluster service account, else $KUBECONFIG, else ~/.kube/config. */
  readonly kubeconfig?: string;
  /** Kubeconfig context; unset: its current context. */
  readonly context?: string;
  /** Client-side rate limit on API requests (token bucket); qps 0 turns it off. */
  readonly qps: number;
  readonly burst: number;
  /** A pod stuck in ErrImagePull/ImagePullBackOff this long fails the run. */
  readonly imagePullGraceMs: number;
  /** A pod unschedulable this long fails the run. */
  readonly unschedulableTimeoutMs: number;
  /** Working directory (and `files` mount point) of jobs that set none. */
  readonly workingDir: string;
  /** Defaults for the jobs' runtime fields; a job's own value wins. */
  readonly defaults: RuntimeOptions;
}

/** `container` executor settings (docker or podman CLI), validated at config load. */
export interface ContainerExecutorSettings {
  /** `auto` tries podman, then docker. */
  readonly engine: 'auto' | 'docker' | 'podman';
  /** `--network` value; unset: the engine's default. */
  readonly network?: string;
  /** Image allow-list (globs); undefined allows any image. Checked at config load. */
  readonly images?: readonly NameMatcher[];
  /** Working directory inside the container, where `files` and the run folder are mounted. */
  readonly workingDir: string;
  /** Defaults for `resources` (limits.cpu → --cpus, limits.memory → --memory) and `imagePullPolicy`. */
  readonly defaults: Pick<RuntimeOptions, 'resources' | 'imagePullPolicy'>;
}

interface ExecutorDefinitionBase {
  readonly name: string;
  readonly position: SourcePosition;
}

export type ExecutorDefinition =
  | (ExecutorDefinitionBase & { readonly type: 'process' })
  | (ExecutorDefinitionBase & { readonly type: 'container'; readonly settings: ContainerExecutorSettings })
  | (ExecutorDefinitionBase & { readonly type: 'kubernetes'; readonly settings: KubernetesExecutorSettings });

export interface CompiledConfig {
  /** Absolute path of the config file and its folder (relative paths resolve against it). */
  readonly file: string;
  readonly dir: string;
  readonly sources: ReadonlyMap<string, SourceDefinition>;
  readonly executors: ReadonlyMap<string, ExecutorDefinition>;
  readonly jobs: readonly CompiledJob[];
  readonly dispatcher: {
    /** Global limit on simultaneous runs. */
    readonly concurrency: number;
    /** How long SIGTERM waits for running attempts before stopping them. */
    readonly shutdownGraceMs: number;
    /**
     * Local attempts (process, container) still running when the grace is over: `wait` stops
     * them (failed by the shutdown, retried at the next start), `leave` leaves them running for
     * the next start to adopt.
     */
    readonly onShutdown: 'wait' | 'leave';
    /** Broker sources stop taking messages while this many runs wait: the broker keeps the rest. */
    readonly maxQueuedRuns: number;
  };
  readonly limits: {
    /** Largest accepted message body. */
    readonly maxMessageBytes: number;
    /** Captured output kept per attempt (head + tail). */
    readonly maxLogBytes: number;
    /** Largest `$JOBWIRE_OUTPUT` JSON object taken from a run (default 64 KiB). */
    readonly maxOutputBytes: number;
    /** Longest chain of `then:` hops a message may start (through brokers too). */
    readonly maxChainDepth: number;
  };
  readonly events: CompiledEvents;
  readonly store: {
    /** `normal` survives a jobwire crash; `full` also survives power loss (slower). */
    readonly synchronous: 'normal' | 'full';
  };
}
