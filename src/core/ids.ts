import { randomUUID } from 'node:crypto';

const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';

/**
 * A 26-character, lowercase, time-ordered id (ULID layout: 48 bits of milliseconds, 80 random
 * bits, Crockford base32). Lowercase so it can appear in Kubernetes names and label values.
 *
 * The 80 random bits are 20 hex digits of a `randomUUID()`: Node fills UUIDs from a cached block
 * of CSPRNG output, ~25x cheaper than a `randomBytes(16)` call — which was ~7% of jobwire's CPU
 * per message under a broker drain. Digits 0–7 and 12–23 of the 32 are fully random; digit 12
 * (the version) and 16 (the variant) are not, so they are skipped.
 */
export function newId(now: number = Date.now()): string {
  let out = '';
  let time = now;
  for (let i = 0; i < 10; i++) {
    out = CROCKFORD[time % 32] + out;
    time = Math.floor(time / 32);
  }
  // xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx: the first 8 and the last 12 hex digits are random.
  const uuid = randomUUID();
  return out + base32Of40Bits(uuid.slice(0, 8) + uuid.slice(24, 26)) + base32Of40Bits(uuid.slice(26, 36));
}

/** 10 hex digits (40 bits) as 8 Crockford base32 digits. */
function base32Of40Bits(hex: string): string {
  let value = Number.parseInt(hex, 16);
  let out = '';
  for (let i = 0; i < 8; i++) {
    out = CROCKFORD[value % 32] + out;
    value = Math.floor(value / 32);
  }
  return out;
}
