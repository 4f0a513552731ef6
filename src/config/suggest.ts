/**
 * "Did you mean" hints for misspelled keys and names. A hint is only offered when it is
 * plausibly a typo (a few edits away), so an unrelated name never gets a misleading suggestion.
 */
import { distance } from 'fastest-levenshtein';

export function closestName(input: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const d = distance(input.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  const allowed = Math.max(1, Math.min(3, Math.floor(input.length / 3)));
  return best !== undefined && bestDistance <= allowed ? best : undefined;
}

/** `; did you mean "command"?` or nothing. */
export function didYouMean(input: string, candidates: readonly string[]): string {
  const suggestion = closestName(input, candidates);
  return suggestion === undefined ? '' : `; did you mean "${suggestion}"?`;
}

/** Joins names for "(allowed: a, b, c)" lists. */
export function nameList(names: readonly string[]): string {
  return names.join(', ');
}
