import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { HEADERS } from '../../contract/http';
import type { ServerConfig } from './config';
import { ForbiddenError, MisdirectedRequestError, UnauthorizedError, ValidationError } from './errors';
import { type Event, header } from './http';

export type Audience = 'public' | 'user' | 'agent';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** The configured tokens' digests, made once (a server has one or two). */
const expectedDigests = new Map<string, Buffer>();

/** Compares secrets in constant time (hashing first makes the lengths equal). */
export function tokensEqual(given: string, expected: string): boolean {
  let want = expectedDigests.get(expected);
  if (want === undefined) {
    want = digest(expected);
    if (expectedDigests.size < 16) expectedDigests.set(expected, want);
  }
  return timingSafeEqual(digest(given), want);
}

/** The names a browser can only use for this machine: a DNS rebinding page never carries them. */
const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];

type Authority = { name: string; port: number };

/** A Host value (`name[:port]`, `[v6][:port]`) as a lower-cased name and a port (80 when none); null if malformed. */
function parseAuthority(value: string): Authority | null {
  const m = /^(\[[0-9a-f:.]+\]|[^\s:[\]/@]+)(?::(\d{1,5}))?$/i.exec(value);
  if (!m?.[1]) return null;
  return { name: m[1].toLowerCase(), port: m[2] === undefined ? 80 : Number(m[2]) };
}

const isIpLiteral = (name: string) => isIP(name.replace(/^\[(.*)\]$/, '$1')) !== 0;

/** The configured port, or any on Lambda, where the function never knows the port it is reached on. */
const ourPort = (config: ServerConfig, port: number) => config.lambda || port === config.port;

/**
 * True when `authority` can only be this server as a browser sees it: a loopback name with the
 * server's port; with ALLOW_UNAUTHENTICATED (a deliberately open server off loopback) also an
 * IP address, which no DNS rebinding can produce either. Never a DNS name other than localhost.
 */
function isOwnAuthority(authority: Authority, config: ServerConfig): boolean {
  if (!ourPort(config, authority.port)) return false;
  if (LOOPBACK_NAMES.includes(authority.name)) return true;
  return config.allowUnauthenticated && isIpLiteral(authority.name);
}

/**
 * Without a token anyone who can reach the server may call it, and a web page can reach a
 * loopback server too: through a DNS name that resolves to 127.0.0.1 (DNS rebinding: the Host
 * then names the page's site) or straight at 127.0.0.1 (cross-site requests: the Origin or
 * Sec-Fetch-Site names the page's site). Both are refused here, before any body is read or
 * anything stored, so a token-less server answers only programs (curl, agents) and its own pages.
 */
function checkBrowserReach(audience: 'user' | 'agent', event: Pick<Event, 'headers'>, config: ServerConfig): void {
  const name = audience === 'user' ? 'API_TOKEN' : 'AGENT_TOKEN';
  const own = config.lambda ? 'http://127.0.0.1:<port>' : `http://127.0.0.1:${config.port}`;
  const hostValue = header(event, 'host');
  // No Host at all is an HTTP/1.0 client or a direct Lambda invocation, never a browser.
  if (hostValue !== undefined) {
    const host = parseAuthority(hostValue.trim());
    if (host === null || !isOwnAuthority(host, config)) {
      throw new MisdirectedRequestError(
        `Without ${name} this server answers only requests that name it ${own} (or localhost, [::1]); the Host ${JSON.stringify(hostValue.slice(0, 100))} is another name, as a DNS rebinding web page would send. Use ${own}, or set ${name} to serve other names.`,
      );
    }
  }
  const origin = header(event, 'origin');
  if (origin !== undefined && !isOwnOrigin(origin.trim(), hostValue?.trim(), config)) {
    throw new ForbiddenError(
      `Without ${name} this server refuses requests from web pages of other sites (Origin ${JSON.stringify(origin.slice(0, 100))}); only its own pages at ${own} may call it. Set ${name} and send it as a bearer token to call it from elsewhere.`,
    );
  }
  // Requests that carry no Origin (a page's <img src>, a link) still say where they come from here.
  const site = header(event, 'sec-fetch-site')?.trim().toLowerCase();
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    throw new ForbiddenError(
      `Without ${name} this server refuses requests a web page of another site makes (Sec-Fetch-Site: ${JSON.stringify(site.slice(0, 30))}); only its own pages at ${own} may call it. Set ${name} to call it from elsewhere.`,
    );
  }
}

/** True when an Origin is this server's own: http, and an authority isOwnAuthority accepts and the Host names. */
function isOwnOrigin(origin: string, host: string | undefined, config: ServerConfig): boolean {
  const m = /^http:\/\/([^/]+)$/i.exec(origin);
  const authority = m?.[1] === undefined ? null : parseAuthority(m[1]);
  if (authority === null || !isOwnAuthority(authority, config)) return false;
  if (LOOPBACK_NAMES.includes(authority.name)) return true;
  // An IP address (ALLOW_UNAUTHENTICATED only) must be the very one the request was sent to.
  const sentTo = host === undefined ? null : parseAuthority(host);
  return sentTo !== null && sentTo.name === authority.name && sentTo.port === authority.port;
}

/**
 * Checks what an audience needs: for user endpoints API_TOKEN, for agent endpoints AGENT_TOKEN,
 * as a bearer token. Where that token is not configured, the endpoint is open to programs but
 * not to web pages of other sites (checkBrowserReach). Public endpoints need nothing. Never
 * echoes a token. The local adapter calls it before reading a body (with the headers alone,
 * before it builds the whole event); each handler calls it again.
 */
export function authorize(audience: Audience, event: Pick<Event, 'headers'>, config: ServerConfig): void {
  if (audience === 'public') return;
  const expected = audience === 'user' ? config.apiToken : config.agentToken;
  if (expected === undefined) {
    checkBrowserReach(audience, event, config);
    return;
  }
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
