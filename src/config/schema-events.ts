/**
 * The config schema of what flows back out of jobwire: the top-level `events:` section (sinks
 * for lifecycle CloudEvents) and a job's `events:` and `then:` (Keptn answers, chaining).
 */
import { Type, type Static } from '@sinclair/typebox';
import { Duration, Size, StringEnum, Text } from './schema-parts.js';

const SinkSchema = Type.Object(
  {
    // A bus: one of the configured sources, and where on it.
    source: Type.Optional(Text('a configured source name')),
    topic: Type.Optional(Text('a queue, destination, subject or routing key')),
    // Or an HTTP endpoint.
    webhook: Type.Optional(Text('an http(s) URL')),
    headers: Type.Optional(Type.Record(Type.String(), Type.String(), { expect: 'a map of header: value' })),
    timeout: Type.Optional(Duration),
    types: Type.Optional(Type.Array(Text('a CloudEvents type (wildcards allowed)'), { minItems: 1, expect: 'a list of event types' })),
    jobs: Type.Optional(Type.Array(Text('a job name'), { minItems: 1, expect: 'a list of job names' })),
    maxPending: Type.Optional(Type.Integer({ minimum: 1, expect: 'a whole number ≥ 1' })),
  },
  { additionalProperties: false, expect: 'a map like { source: rabbit, topic: jobwire.events } or { webhook: https://… }' },
);

export const EventsSchema = Type.Object(
  {
    source: Type.Optional(Text('a URI naming this jobwire, like urn:jobwire:prod')),
    logTail: Type.Optional(Size),
    sinks: Type.Record(Type.String(), SinkSchema, { expect: 'a map of sink name: { source, topic } or { webhook }' }),
  },
  { additionalProperties: false },
);

const WHEN_VALUES = ['succeeded', 'failed', 'always'] as const;

export const ThenSchema = Type.Object(
  {
    when: Type.Optional(StringEnum(WHEN_VALUES, 'succeeded, failed or always')),
    forEach: Type.Optional(Text('${{ <CEL list> }}, like ${{ run.output.files }}')),
    publish: Type.Optional(
      Type.Object(
        {
          source: Text('a configured source name'),
          topic: Text('a queue, destination or subject (or ${{ <CEL> }})'),
          headers: Type.Optional(Type.Record(Type.String(), Type.String(), { expect: 'a map of header: value' })),
          body: Type.Optional(Type.String({ expect: 'a text or ${{ <CEL> }}' })),
        },
        { additionalProperties: false },
      ),
    ),
    run: Type.Optional(Text('a job name')),
    with: Type.Optional(Type.String({ expect: 'a text or ${{ <CEL> }} giving the chained message body' })),
  },
  { additionalProperties: false, expect: 'a map like { when: succeeded, publish: { source, topic } } or { run: <job> }' },
);

export const JOB_EVENT_FIELDS = {
  events: Type.Optional(
    Type.Object({ keptn: Type.Optional(Type.Boolean({ expect: 'true or false' })) }, { additionalProperties: false }),
  ),
  then: Type.Optional(Type.Array(ThenSchema, { expect: 'a list of { when, publish | run }' })),
};

export type RawEvents = Static<typeof EventsSchema>;
export type RawThen = Static<typeof ThenSchema>;
