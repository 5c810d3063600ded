/**
 * How `npm start` hands AGENT_TOKEN to the agents it starts: over their IPC channel, never in
 * their environment, which a command running as the same user could read in
 * /proc/<agent pid>/environ (docs/security.md).
 */

/** Set (to `ipc`) in a local agent's environment: its token comes as the first IPC message. */
export const AGENT_TOKEN_FROM = 'AGENT_TOKEN_FROM';

/** The first message `npm start` sends each local agent; null when the server has no AGENT_TOKEN. */
export type TokenMessage = { agentToken: string | null };

/** True for a TokenMessage (anything else on the channel is ignored). */
export function isTokenMessage(value: unknown): value is TokenMessage {
  if (value === null || typeof value !== 'object' || !('agentToken' in value)) return false;
  const token = (value as { agentToken: unknown }).agentToken;
  return token === null || typeof token === 'string';
}
