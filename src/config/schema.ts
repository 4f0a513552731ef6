/**
 * The shape of a config file as JSON Schema (TypeBox), validated by ajv before anything is
 * compiled. `expect` is our own annotation keyword: the human wording of what a value must be,
 * used in error messages instead of ajv's generic text (see validate.ts).
 *
 * Unions are written so their branches differ by JSON type (string | integer | map), which lets
 * the error reporter pick the branch the user meant from the value's type.
 */
import { Type, type Static } from '@sinclair/typebox';
import { EventsSchema, JOB_EVENT_FIELDS } from './schema-events.js';
import { ExecutorSchema, JOB_RUNTIME_FIELDS } from './schema-runtime.js';
import { Duration, ScalarText, Size, StringEnum, Text } from './schema-parts.js';

export const JOB_NAME_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
export const JOB_NAME_MAX_LENGTH = 52;
export const SOURCE_TYPES = ['amqp', 'stomp', 'nats'] as const;

const Tls = Type.Object(
  {
    ca: Type.Optional(Text('a path or PEM text')),
    cert: Type.Optional(Text('a path or PEM text')),
    key: Type.Optional(Text('a path or PEM text')),
    passphrase: Type.Optional(Type.String()),
    servername: Type.Optional(Text()),
    rejectUnauthorized: Type.Optional(Type.Boolean({ expect: 'true or false' })),
  },
  { additionalProperties: false },
);

/** Broker connection settings. Explicit keys catch typos; rarely used knobs go in `options`. */
export const SourceSchema = Type.Object(
  {
    type: StringEnum(SOURCE_TYPES),
    url: Type.Optional(Text('a URL like amqp://host:5672')),
    urls: Type.Optional(Type.Array(Text('a URL'), { minItems: 1, expect: 'a list of at least one URL' })),
    login: Type.Optional(Type.String()),
    passcode: Type.Optional(Type.String()),
    username: Type.Optional(Type.String()),
    password: Type.Optional(Type.String()),
    token: Type.Optional(Type.String()),
    vhost: Type.Optional(Type.String()),
    clientId: Type.Optional(Text()),
    prefetch: Type.Optional(Type.Integer({ minimum: 1, expect: 'a whole number ≥ 1' })),
    heartbeatMs: Type.Optional(Type.Integer({ minimum: 0, expect: 'a whole number of milliseconds ≥ 0' })),
    reconnectDelayMs: Type.Optional(Type.Integer({ minimum: 0, expect: 'a whole number of milliseconds ≥ 0' })),
    ackWaitMs: Type.Optional(Type.Integer({ minimum: 1, expect: 'a whole number of milliseconds ≥ 1' })),
    stream: Type.Optional(Text()),
    durable: Type.Optional(
      Type.Union([Type.String({ minLength: 1 }), Type.Boolean()], { expect: 'a consumer name or true/false' }),
    ),
    tls: Type.Optional(Tls),
    // amqp: queues to declare/bind, by queue name (a trigger's topic); where rejects go.
    queues: Type.Optional(
      Type.Record(
        Type.String(),
        Type.Object(
          {
            exchange: Type.Optional(Text('an exchange name')),
            exchangeType: Type.Optional(StringEnum(['direct', 'topic', 'fanout', 'headers'] as const)),
            routingKey: Type.Optional(Type.String({ expect: 'a routing key' })),
            durable: Type.Optional(Type.Boolean({ expect: 'true or false' })),
            deadLetterExchange: Type.Optional(Type.String({ expect: 'an exchange name' })),
            deadLetterRoutingKey: Type.Optional(Type.String({ expect: 'a routing key' })),
          },
          { additionalProperties: false },
        ),
        { expect: 'a map of queue name: { exchange, routingKey, … }' },
      ),
    ),
    deadLetterExchange: Type.Optional(Type.String({ expect: 'an exchange name' })),
    // stomp: where rejected messages are sent (else NACK, and the broker's own DLQ policy applies).
    deadLetterQueue: Type.Optional(Text('a destination like /queue/jobwire.DLQ')),
    // nats: JetStream (at-least-once, the default) or core NATS (at-most-once).
    mode: Type.Optional(StringEnum(['jetstream', 'core'] as const)),
    maxAckPending: Type.Optional(Type.Integer({ minimum: 1, expect: 'a whole number ≥ 1' })),
    nakDelayMs: Type.Optional(Type.Integer({ minimum: 0, expect: 'a whole number of milliseconds ≥ 0' })),
    options: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { expect: 'a map of extra settings' })),
  },
  { additionalProperties: false },
);

export const JsonPathMatchSchema = Type.Object(
  {
    property: Text('a JSONPath like $.data.test.teststrategy'),
    match: ScalarText('the value to compare with, like health'),
  },
  { additionalProperties: false },
);

export const TriggerSchema = Type.Object(
  {
    source: Text('a source name like http'),
    topic: Type.Optional(Text('a topic, queue or subject name (wildcards allowed)')),
    type: Type.Optional(Text('a CloudEvents type like sh.keptn.event.*.triggered')),
    if: Type.Optional(Text('a CEL expression (a string)')),
    jsonpath: Type.Optional(JsonPathMatchSchema),
    schedule: Type.Optional(Text('a cron expression like "0 9 * * 1"')),
  },
  { additionalProperties: false, expect: 'a map like { source: http }' },
);

const ENV_VALUE_EXPECT =
  'a string, ${{ <CEL> }}, { jsonpath: "$.x" }, { fromEnv: NAME } or { secret: NAME, key: KEY }';
export const EnvReferenceSchema = Type.Object(
  {
    jsonpath: Type.Optional(Text('a JSONPath like $.data.x')),
    fromEnv: Type.Optional(Text('an environment variable name')),
    secret: Type.Optional(Text('a secret name')),
    key: Type.Optional(Text('a key in the secret')),
  },
  { additionalProperties: false, expect: ENV_VALUE_EXPECT },
);
const EnvValue = Type.Union(
  [
    Type.String({ expect: ENV_VALUE_EXPECT }),
    Type.Number({ expect: ENV_VALUE_EXPECT }),
    Type.Boolean({ expect: ENV_VALUE_EXPECT }),
    EnvReferenceSchema,
  ],
  { expect: ENV_VALUE_EXPECT },
);

const RETRIES_EXPECT = 'a whole number ≥ 0 or { limit, backoff, maxBackoff }';
const Retries = Type.Union(
  [
    Type.Integer({ minimum: 0, expect: RETRIES_EXPECT }),
    Type.Object(
      {
        limit: Type.Integer({ minimum: 0, expect: 'a whole number ≥ 0' }),
        backoff: Type.Optional(Duration),
        maxBackoff: Type.Optional(Duration),
      },
      { additionalProperties: false, expect: RETRIES_EXPECT },
    ),
  ],
  { expect: RETRIES_EXPECT },
);

const SCHEDULE_EXPECT = 'a cron expression like "0 9 * * 1" (or a list of them)';
const COMMAND_EXPECT = 'a program name or a list like [make, test]';
const Command = Type.Union(
  [
    Type.String({ minLength: 1, expect: COMMAND_EXPECT }),
    Type.Array(ScalarText('a string'), { minItems: 1, expect: COMMAND_EXPECT }),
  ],
  { expect: COMMAND_EXPECT },
);
const Args = Type.Array(ScalarText('a string'), { expect: 'a list of strings' });
const Env = Type.Record(Type.String(), EnvValue, { expect: 'a map of NAME: value' });

/** No spaces or ":" — step names are words in the log's `::step` marker lines. */
export const STEP_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]*$';
export const STEP_NAME_MAX_LENGTH = 63;

/** One entry of a job's `steps`: a command or script run in order in the same run. */
export const StepSchema = Type.Object(
  {
    name: Type.Optional(
      Type.String({
        pattern: STEP_NAME_PATTERN,
        maxLength: STEP_NAME_MAX_LENGTH,
        expect: `a step name of letters, digits, "-", "_" and "." (at most ${STEP_NAME_MAX_LENGTH}, starting with a letter or digit)`,
      }),
    ),
    command: Type.Optional(Command),
    args: Type.Optional(Args),
    script: Type.Optional(Text('a shell script (a string)')),
    continueOnError: Type.Optional(Type.Boolean({ expect: 'true or false' })),
    env: Type.Optional(Env),
  },
  { additionalProperties: false, expect: 'a map like { name: build, script: make }' },
);

export const JobSchema = Type.Object(
  {
    name: Type.String({
      pattern: JOB_NAME_PATTERN,
      maxLength: JOB_NAME_MAX_LENGTH,
      expect: `a name of lowercase letters, digits and "-" (at most ${JOB_NAME_MAX_LENGTH}, not starting or ending with "-")`,
    }),
    description: Type.Optional(Type.String()),
    on: Type.Optional(Type.Array(TriggerSchema, { minItems: 1, expect: 'a list of at least one trigger' })),
    // Shorthand for `on: [{ source: cron, schedule: ... }]`, one trigger per schedule.
    schedule: Type.Optional(
      Type.Union(
        [Type.String({ minLength: 1, expect: SCHEDULE_EXPECT }), Type.Array(Text(SCHEDULE_EXPECT), { minItems: 1, expect: SCHEDULE_EXPECT })],
        { expect: SCHEDULE_EXPECT },
      ),
    ),
    executor: Type.Optional(Text('an executor name')),
    command: Type.Optional(Command),
    args: Type.Optional(Args),
    script: Type.Optional(Text('a shell script (a string)')),
    steps: Type.Optional(Type.Array(StepSchema, { minItems: 1, expect: 'a list of at least one step like { name: build, script: make }' })),
    image: Type.Optional(Text('a container image like registry.access.redhat.com/ubi9')),
    env: Type.Optional(Env),
    files: Type.Optional(Type.Array(Text('a path'), { expect: 'a list of paths' })),
    workingDir: Type.Optional(Text('a folder path')),
    timeout: Type.Optional(Duration),
    retries: Type.Optional(Retries),
    concurrency: Type.Optional(Type.Integer({ minimum: 1, expect: 'a whole number ≥ 1' })),
    priority: Type.Optional(Type.Integer({ expect: 'a whole number' })),
    ...JOB_RUNTIME_FIELDS,
    ...JOB_EVENT_FIELDS,
  },
  { additionalProperties: false, expect: 'a map like { name: build, on: [...], script: ... }' },
);

export const ConfigSchema = Type.Object(
  {
    sources: Type.Optional(Type.Record(Type.String(), SourceSchema, { expect: 'a map of source name: settings' })),
    executors: Type.Optional(
      Type.Record(Type.String(), ExecutorSchema, { expect: 'a map of executor name: settings' }),
    ),
    jobs: Type.Array(JobSchema, { minItems: 1, expect: 'a list of at least one job' }),
    dispatcher: Type.Optional(
      Type.Object(
        {
          concurrency: Type.Optional(Type.Integer({ minimum: 1, expect: 'a whole number ≥ 1' })),
          shutdownGrace: Type.Optional(Duration),
          onShutdown: Type.Optional(
            Type.Union([Type.Literal('wait'), Type.Literal('leave')], { expect: '"wait" or "leave"' }),
          ),
          maxQueuedRuns: Type.Optional(Type.Integer({ minimum: 1, expect: 'a whole number ≥ 1' })),
        },
        { additionalProperties: false },
      ),
    ),
    limits: Type.Optional(
      Type.Object(
        {
          maxMessageSize: Type.Optional(Size),
          maxLogSize: Type.Optional(Size),
          maxOutputSize: Type.Optional(Size),
          maxChainDepth: Type.Optional(Type.Integer({ minimum: 1, expect: 'a whole number ≥ 1' })),
        },
        { additionalProperties: false },
      ),
    ),
    events: Type.Optional(EventsSchema),
    store: Type.Optional(
      Type.Object({ synchronous: Type.Optional(StringEnum(['normal', 'full'])) }, { additionalProperties: false }),
    ),
  },
  {
    additionalProperties: false,
    // `x-...` keys are free for YAML anchors shared by jobs (`<<: *defaults`), as in Compose files.
    patternProperties: { '^x-': {} },
    expect: 'a map with at least "jobs"',
  },
);

export type RawConfig = Static<typeof ConfigSchema>;
export type RawSource = Static<typeof SourceSchema>;
export type { RawContainerExecutor, RawKubernetesExecutor, RawProcessExecutor } from './schema-runtime.js';
export type RawExecutor = Static<typeof ExecutorSchema>;
export type RawJob = Static<typeof JobSchema>;
export type RawStep = Static<typeof StepSchema>;
export type RawTrigger = Static<typeof TriggerSchema>;
export type RawEnvReference = Static<typeof EnvReferenceSchema>;
export type RawEnvValue = Static<typeof EnvValue>;
