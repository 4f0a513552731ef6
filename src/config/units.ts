/**
 * Durations and sizes as people write them in YAML (`1h30m`, `512KiB`). The patterns are
 * exported so the schema rejects malformed values with a position before these parsers run;
 * the parsers still check on their own, so they are safe to call with any input.
 */
import { InvalidInputError } from '../core/errors.js';

const DURATION_UNITS_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** One or more `<digits><unit>` parts (`1h30m`, `500ms`), or bare digits meaning seconds. */
export const DURATION_PATTERN = '^(?:(?:[0-9]+(?:ms|s|m|h|d))+|[0-9]+)$';
const DURATION_RE = new RegExp(DURATION_PATTERN);
// matchAll copies the regex, so this shared `g` regex never carries lastIndex between calls.
const DURATION_PART = /([0-9]+)(ms|s|m|h|d)/g;

/**
 * Milliseconds in a duration: `30s`, `10m`, `1h30m`, `500ms`, `2d`, or a whole number of
 * seconds (as a number or digit string). Throws InvalidInputError otherwise.
 */
export function parseDuration(value: string | number): number {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new InvalidInputError(`duration ${value} must be a whole number of seconds ≥ 0`);
    }
    return checked(value * 1_000, String(value));
  }
  const text = value.trim();
  if (!DURATION_RE.test(text)) {
    throw new InvalidInputError(`"${value}" is not a duration like 30s, 10m, 1h30m or 500ms`);
  }
  if (/^[0-9]+$/.test(text)) return checked(Number(text) * 1_000, value);
  let total = 0;
  for (const [, amount, unit] of text.matchAll(DURATION_PART)) {
    total += Number(amount) * (DURATION_UNITS_MS[unit ?? ''] ?? Number.NaN);
  }
  return checked(total, value);
}

// Decimal (SI) and binary (IEC) multiples, plus the Kubernetes spellings (`Ki`, `Mi`) people
// copy from resource limits.
const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  B: 1,
  k: 1e3,
  K: 1e3,
  kB: 1e3,
  KB: 1e3,
  M: 1e6,
  MB: 1e6,
  G: 1e9,
  GB: 1e9,
  Ki: 1024,
  KiB: 1024,
  Mi: 1024 ** 2,
  MiB: 1024 ** 2,
  Gi: 1024 ** 3,
  GiB: 1024 ** 3,
};

const SIZE_UNIT_ALTERNATIVES = Object.keys(SIZE_UNITS)
  .filter((unit) => unit !== '')
  .sort((a, b) => b.length - a.length)
  .join('|');

/** `<number>[ ]<unit>` such as `1MiB`, `512KiB`, `1.5 GB`, `64Ki`, or plain bytes. */
export const SIZE_PATTERN = `^[0-9]+(?:\\.[0-9]+)? ?(?:${SIZE_UNIT_ALTERNATIVES})?$`;
const SIZE_PARTS = new RegExp(`^([0-9]+(?:\\.[0-9]+)?) ?(${SIZE_UNIT_ALTERNATIVES})?$`);

/** Bytes in a size (`1MiB`, `512KiB`, `10MB`, or a byte count), rounded down. */
export function parseSize(value: string | number): number {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new InvalidInputError(`size ${value} must be a whole number of bytes ≥ 0`);
    }
    return value;
  }
  const parts = SIZE_PARTS.exec(value.trim());
  const multiplier = SIZE_UNITS[parts?.[2] ?? ''];
  if (parts === null || multiplier === undefined) {
    throw new InvalidInputError(`"${value}" is not a size like 1MiB, 512KiB or 1000000`);
  }
  return checked(Math.floor(Number(parts[1]) * multiplier), value);
}

function checked(result: number, input: string): number {
  if (!Number.isSafeInteger(result)) throw new InvalidInputError(`"${input}" is too large`);
  return result;
}
