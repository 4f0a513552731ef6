/**
 * Building blocks of the config schemas (schema.ts, schema-runtime.ts). `expect` is our own
 * annotation keyword: the human wording of what a value must be, used in error messages (see
 * validate.ts). Unions differ by JSON type so the error reporter can pick the branch meant.
 */
import { Type } from '@sinclair/typebox';
import { DURATION_PATTERN, SIZE_PATTERN } from './units.js';

export function StringEnum<const T extends readonly string[]>(values: T, expect?: string) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...(expect ? { expect } : {}) });
}

const DURATION_EXPECT = 'a duration like 30s, 10m, 1h';
export const Duration = Type.Union(
  [
    Type.String({ pattern: DURATION_PATTERN, expect: DURATION_EXPECT }),
    Type.Integer({ minimum: 0, expect: DURATION_EXPECT }),
  ],
  { expect: DURATION_EXPECT },
);

const SIZE_EXPECT = 'a size like 1MiB, 512KiB or a number of bytes';
export const Size = Type.Union(
  [Type.String({ pattern: SIZE_PATTERN, expect: SIZE_EXPECT }), Type.Integer({ minimum: 1, expect: SIZE_EXPECT })],
  { expect: SIZE_EXPECT },
);

export const Text = (expect = 'a non-empty string') => Type.String({ minLength: 1, expect });

/** YAML turns `8080` and `true` into numbers and booleans; where a string is meant, take them. */
export const ScalarText = (expect: string) =>
  Type.Union([Type.String({ expect }), Type.Number({ expect }), Type.Boolean({ expect })], { expect });
