import { createHash, timingSafeEqual } from 'node:crypto';
import { HEADERS } from '../../contract/http';
import type { ServerConfig } from './config';
import { UnauthorizedError, ValidationError } from './errors';
import { type Event, header } from './http';

export type Audience = 'public' | 'user' | 'agent';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Compares secrets in constant time (hashing first makes the lengths equal). */
export function tokensEqual(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/**
 * Checks the bearer token an audience needs: API_TOKEN for user endpoints, AGENT_TOKEN for
 * agent endpoints; open when the token is not configured. Never echoes a token.
 */
export function authorize(audience: Audience, event: Event, config: ServerConfig): void {
  const expected = audience === 'user' ? config.apiToken : audience === 'agent' ? config.agentToken : undefined;
  if (expected === undefined) return;
  const name = audience === 'user' ? 'API_TOKEN' : 'AGENT_TOKEN';
  const value = header(event, 'authorization');
  const match = value === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(value);
  if (!match?.[1]) {
    throw new UnauthorizedError(`This endpoint needs the header Authorization: Bearer <${name}>.`, 'task-executor');
  }
  if (!tokensEqual(match[1], expected)) {
    throw new UnauthorizedError(`The bearer token is not the server's ${name}.`, 'task-executor');
  }
}

/** The calling agent's X-Agent-Id: required on agent endpoints, printable, at most 200 chars. */
export function agentIdOf(event: Event): string {
  const id = header(event, 'x-agent-id')?.trim();
  if (!id) throw new ValidationError('Agent endpoints need the header X-Agent-Id: <a name for this agent>.');
  if (id.length > 200 || !/^[\x21-\x7e][\x20-\x7e]*$/.test(id)) {
    throw new ValidationError('X-Agent-Id must be 1 to 200 printable ASCII characters.');
  }
  return id;
}

/** The X-Lease-Token header (trimmed), or null when absent or blank. */
export function leaseTokenOf(event: Event): string | null {
  const token = header(event, HEADERS.leaseToken)?.trim();
  return token ? token : null;
}

/** The 409 detail for a heartbeat, output send or finish that carries no X-Lease-Token. */
export const MISSING_LEASE_TOKEN =
  'The header X-Lease-Token is missing: send the leaseToken that pick gave this attempt (without it a stale agent cannot be told from the current one).';
