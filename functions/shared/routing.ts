/**
 * Stand-in for the routing validators of CONTRACT §11 (priority and labels), until the `route`
 * branch lands its own functions/shared/routing.ts with the same names: take theirs on merge.
 */
import { ValidationError } from './errors';
import { describeValue } from './http';

/** `priority`: a whole number from -1000 to 1000; absent → 0. */
export function parsePriority(value: unknown, field = 'priority'): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < -1000 || value > 1000) {
    throw new ValidationError(`${field} must be a whole number from -1000 to 1000 (got ${describeValue(value)}).`);
  }
  return value;
}

/** `labels`: an array of up to 16 strings; absent → []. Returned sorted and deduplicated. */
export function parseLabels(value: unknown, field = 'labels'): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > 16 || value.some((l) => typeof l !== 'string' || !/^[a-z0-9][a-z0-9._:-]{0,62}$/.test(l))) {
    throw new ValidationError(
      `${field} must be an array of up to 16 labels of lowercase letters, digits and . _ : - (got ${describeValue(value)}).`,
    );
  }
  return [...new Set(value as string[])].sort();
}
