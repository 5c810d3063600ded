/**
 * X-Agent-Labels as GET /agents records it: the header's comma-separated labels, trimmed, those
 * of the label syntax only (CONTRACT §11), at most 16. Lenient on purpose: whether a pick may
 * go on with bad labels is the pick's rule, not this record's.
 */
import { HEADERS } from '../../contract/http';
import { type Event, header } from './http';

const LABEL = /^[A-Za-z0-9][A-Za-z0-9._:=-]{0,62}$/;

/** The labels an agent sent on this request ([] when none). */
export function agentLabelsOf(event: Event): string[] {
  const value = header(event, HEADERS.agentLabels);
  if (value === undefined) return [];
  return [...new Set(value.split(',').map((l) => l.trim()))].filter((l) => LABEL.test(l)).slice(0, 16);
}
