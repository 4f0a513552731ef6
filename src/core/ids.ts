import { randomBytes } from 'node:crypto';

const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';

/**
 * A 26-character, lowercase, time-ordered id (ULID layout: 48 bits of milliseconds, 80 random
 * bits, Crockford base32). Lowercase so it can appear in Kubernetes names and label values.
 */
export function newId(now: number = Date.now()): string {
  let out = '';
  let time = now;
  for (let i = 0; i < 10; i++) {
    out = CROCKFORD[time % 32] + out;
    time = Math.floor(time / 32);
  }
  const random = randomBytes(16);
  for (let i = 0; i < 16; i++) out += CROCKFORD[(random[i] ?? 0) % 32];
  return out;
}
