/**
 * What a source does with a message whose delivery failed. A malformed message (not decodable,
 * too large, invalid) is rejected for good — dead-lettered where the broker supports it — so it
 * never blocks the queue behind it; any other failure (the store is unavailable, jobwire is
 * stopping) returns the message to the broker for redelivery.
 */
import { InvalidInputError } from '../core/errors.js';

export type DeliveryFailure = 'reject' | 'requeue';

export function classifyDeliveryError(error: unknown): DeliveryFailure {
  return error instanceof InvalidInputError ? 'reject' : 'requeue';
}
