/**
 * Kubernetes resource quantities (`500m`, `2`, `1.5`, `256Mi`, `1G`, `1e3`) turned into what a
 * container engine's CLI takes: CPUs as a decimal (`--cpus=0.5`) and memory as bytes
 * (`--memory=268435456`). Jobs share one `resources` block between the container and kubernetes
 * executors, so they are written the Kubernetes way and converted here.
 */
import { PermanentError } from '../../core/errors.js';

/** Same grammar as the config schema's QUANTITY_PATTERN, with the parts captured. */
const QUANTITY = /^\+?((?:[0-9]+(?:\.[0-9]*)?)|(?:\.[0-9]+))(?:[eE]([+-]?[0-9]+)|([KMGTPE]i|[mkMGTPE]))?$/;

const SUFFIX_MULTIPLIERS: Readonly<Record<string, number>> = {
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
  Pi: 1024 ** 5,
  Ei: 1024 ** 6,
};

/** The quantity's value as a number (`500m` → 0.5, `256Mi` → 268435456). */
export function parseQuantity(text: string): number {
  const match = QUANTITY.exec(text.trim());
  if (match === null) throw new PermanentError(`"${text}" is not a quantity like 500m, 2 or 256Mi`);
  const [, mantissa = '', exponent, suffix] = match;
  let value = Number(mantissa);
  if (exponent !== undefined) value *= 10 ** Number(exponent);
  if (suffix !== undefined) value *= SUFFIX_MULTIPLIERS[suffix] ?? Number.NaN;
  if (!Number.isFinite(value)) throw new PermanentError(`quantity "${text}" is too large`);
  return value;
}

/** `--cpus` value: CPUs with at most three decimals (a millicpu), `500m` → `0.5`. */
export function cpusArgument(text: string): string {
  const cpus = Math.ceil(parseQuantity(text) * 1000) / 1000;
  if (cpus <= 0) throw new PermanentError(`cpu limit "${text}" must be more than 0`);
  return String(cpus);
}

/** Whole bytes, rounded up as Kubernetes does (`1.5Ki` → 1536, `0.1` → 1). */
export function bytesArgument(text: string): string {
  const bytes = Math.ceil(parseQuantity(text));
  if (!Number.isSafeInteger(bytes)) throw new PermanentError(`memory quantity "${text}" is too large`);
  return String(bytes);
}

/**
 * `--cpu-shares` for a cpu request, the weight Kubernetes derives from it: 1024 per CPU, at
 * least 2 (the kernel's minimum).
 */
export function cpuSharesArgument(text: string): string {
  return String(Math.max(2, Math.round(parseQuantity(text) * 1024)));
}
