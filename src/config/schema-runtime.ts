/**
 * Schema of what container runtimes read: the pod and Job fields a job may set (`resources`,
 * `serviceAccountName`, …), and the `container` and `kubernetes` executor settings, which take
 * the same fields as defaults. Field names follow Kubernetes' own, so a manifest author can
 * guess them; only what jobwire really maps to a Job (or a container) is accepted.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Duration, ScalarText, StringEnum, Text } from './schema-parts.js';


/** Kubernetes resource.Quantity: 500m, 2, 1.5, 256Mi, 1G, 1e3. */
export const QUANTITY_PATTERN = '^[+]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][+-]?[0-9]+|[KMGTPE]i|[mkMGTPE])?$';
/** A DNS-1123 label: what Kubernetes accepts as a namespace name. */
export const DNS_LABEL_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';

const QUANTITY_EXPECT = 'a quantity like 500m, 2 or 256Mi';
const Quantity = Type.Union(
  [Type.String({ pattern: QUANTITY_PATTERN, expect: QUANTITY_EXPECT }), Type.Number({ minimum: 0, expect: QUANTITY_EXPECT })],
  { expect: QUANTITY_EXPECT },
);
const ResourceList = Type.Record(Type.String({ minLength: 1 }), Quantity, { expect: 'a map like { cpu: 500m, memory: 256Mi }' });
const Resources = Type.Object(
  { requests: Type.Optional(ResourceList), limits: Type.Optional(ResourceList) },
  { additionalProperties: false, expect: 'a map like { requests: { cpu: 100m }, limits: { memory: 256Mi } }' },
);


const Toleration = Type.Object(
  {
    key: Type.Optional(Type.String()),
    operator: Type.Optional(StringEnum(['Exists', 'Equal'] as const)),
    value: Type.Optional(Type.String()),
    effect: Type.Optional(StringEnum(['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const)),
    tolerationSeconds: Type.Optional(Type.Integer({ minimum: 0, expect: 'a whole number of seconds' })),
  },
  { additionalProperties: false, expect: 'a map like { key: dedicated, operator: Equal, value: ci, effect: NoSchedule }' },
);

const SecurityContext = Type.Object(
  {
    runAsNonRoot: Type.Optional(Type.Boolean({ expect: 'true or false' })),
    runAsUser: Type.Optional(Type.Integer({ minimum: 0, expect: 'a user id' })),
    runAsGroup: Type.Optional(Type.Integer({ minimum: 0, expect: 'a group id' })),
    allowPrivilegeEscalation: Type.Optional(Type.Boolean({ expect: 'true or false' })),
    readOnlyRootFilesystem: Type.Optional(Type.Boolean({ expect: 'true or false' })),
    privileged: Type.Optional(Type.Boolean({ expect: 'true or false' })),
    capabilities: Type.Optional(
      Type.Object(
        { add: Type.Optional(Type.Array(Text('a capability like NET_BIND_SERVICE'))), drop: Type.Optional(Type.Array(Text('a capability like ALL'))) },
        { additionalProperties: false },
      ),
    ),
    seccompProfile: Type.Optional(
      Type.Object(
        { type: StringEnum(['RuntimeDefault', 'Unconfined', 'Localhost'] as const), localhostProfile: Type.Optional(Text()) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false, expect: 'a map like { runAsNonRoot: true, allowPrivilegeEscalation: false }' },
);

const EnvFrom = Type.Object(
  {
    secret: Type.Optional(Text('a Secret name')),
    configMap: Type.Optional(Text('a ConfigMap name')),
    prefix: Type.Optional(Type.String({ expect: 'a prefix for the variable names' })),
    optional: Type.Optional(Type.Boolean({ expect: 'true or false' })),
  },
  { additionalProperties: false, expect: 'a map like { secret: db-credentials } or { configMap: settings, prefix: APP_ }' },
);

/** Pod and Job fields, on a job (its own) or on an executor (defaults for its jobs). */
export const RUNTIME_FIELDS = {
  resources: Type.Optional(Resources),
  ttlSecondsAfterFinished: Type.Optional(Type.Integer({ minimum: 0, expect: 'a whole number of seconds ≥ 0' })),
  restartPolicy: Type.Optional(StringEnum(['Never', 'OnFailure'] as const)),
  serviceAccountName: Type.Optional(Text('a ServiceAccount name')),
  securityContext: Type.Optional(SecurityContext),
  nodeSelector: Type.Optional(Type.Record(Type.String({ minLength: 1 }), ScalarText('a label value'), { expect: 'a map of node label: value' })),
  tolerations: Type.Optional(Type.Array(Toleration, { expect: 'a list of tolerations' })),
  priorityClassName: Type.Optional(Text('a PriorityClass name')),
  imagePullPolicy: Type.Optional(StringEnum(['Always', 'IfNotPresent', 'Never'] as const)),
  imagePullSecrets: Type.Optional(Type.Array(Text('a Secret name'), { expect: 'a list of Secret names' })),
  envFrom: Type.Optional(Type.Array(EnvFrom, { expect: 'a list like [{ secret: db-credentials }]' })),
};

const Namespace = Type.String({ pattern: DNS_LABEL_PATTERN, maxLength: 63, expect: 'a namespace name (lowercase letters, digits and "-")' });
const ImagePatterns = Type.Array(Text('an image pattern like quay.io/myorg/**'), {
  minItems: 1,
  expect: 'a list of image patterns like [quay.io/myorg/**, registry.access.redhat.com/ubi9*]',
});

/** Job keys that only a kubernetes executor honours (`namespace` included). */
export const KUBERNETES_ONLY_JOB_KEYS = [
  'namespace',
  'ttlSecondsAfterFinished',
  'restartPolicy',
  'serviceAccountName',
  'securityContext',
  'nodeSelector',
  'tolerations',
  'priorityClassName',
  'imagePullSecrets',
  'envFrom',
] as const;
/** Job keys a container executor honours too. */
export const CONTAINER_JOB_KEYS = ['resources', 'imagePullPolicy'] as const;

export const JOB_RUNTIME_FIELDS = { namespace: Type.Optional(Namespace), ...RUNTIME_FIELDS };

const KubernetesExecutorSchema = Type.Object(
  {
    type: Type.Literal('kubernetes'),
    namespace: Type.Optional(Namespace),
    namespaces: Type.Optional(Type.Array(Namespace, { minItems: 1, expect: 'a list of namespaces jobs may choose' })),
    images: Type.Optional(ImagePatterns),
    kubeconfig: Type.Optional(Text('a kubeconfig file path')),
    context: Type.Optional(Text('a kubeconfig context name')),
    qps: Type.Optional(Type.Number({ minimum: 0, expect: 'API requests per second (0 turns the limit off)' })),
    burst: Type.Optional(Type.Integer({ minimum: 1, expect: 'a whole number ≥ 1' })),
    imagePullGrace: Type.Optional(Duration),
    unschedulableTimeout: Type.Optional(Duration),
    workingDir: Type.Optional(Text('an absolute folder path in the container')),
    ...RUNTIME_FIELDS,
  },
  { additionalProperties: false },
);

const ContainerExecutorSchema = Type.Object(
  {
    type: Type.Literal('container'),
    engine: Type.Optional(StringEnum(['auto', 'docker', 'podman'] as const)),
    network: Type.Optional(Text('a network like none, bridge or host')),
    images: Type.Optional(ImagePatterns),
    workingDir: Type.Optional(Text('an absolute folder path in the container')),
    resources: RUNTIME_FIELDS.resources,
    imagePullPolicy: RUNTIME_FIELDS.imagePullPolicy,
  },
  { additionalProperties: false },
);

const ProcessExecutorSchema = Type.Object({ type: Type.Literal('process') }, { additionalProperties: false });

export const EXECUTOR_TYPES = ['process', 'container', 'kubernetes'] as const;

/** Each branch applies when `type` names it, so errors list that type's own keys. */
function whenType(type: string, schema: TSchema): Record<string, unknown> {
  return { if: { type: 'object', required: ['type'], properties: { type: { const: type } } }, then: schema };
}

export const ExecutorSchema = Type.Unsafe<RawKubernetesExecutor | RawContainerExecutor | RawProcessExecutor>({
  type: 'object',
  required: ['type'],
  properties: { type: { type: 'string', enum: [...EXECUTOR_TYPES] } },
  allOf: [
    whenType('process', ProcessExecutorSchema),
    whenType('container', ContainerExecutorSchema),
    whenType('kubernetes', KubernetesExecutorSchema),
  ],
  expect: 'a map like { type: kubernetes, namespace: jobs }',
});

export type RawKubernetesExecutor = Static<typeof KubernetesExecutorSchema>;
export type RawContainerExecutor = Static<typeof ContainerExecutorSchema>;
export type RawProcessExecutor = Static<typeof ProcessExecutorSchema>;
const JobRuntimeObject = Type.Object(JOB_RUNTIME_FIELDS);
export type RawRuntimeFields = Static<typeof JobRuntimeObject>;
