/**
 * The token and browser-reach rule of authorize: with a token the token decides; without one,
 * requests a web page of another site could make (DNS rebinding, cross-site) are refused.
 */
import { buildEvent } from '../../test/support/events';
import { authorize } from './auth';
import { loadConfig } from './config';
import { ForbiddenError, MisdirectedRequestError, UnauthorizedError } from './errors';

const open = loadConfig({ SERVER_PORT: '3500' });
const withTokens = loadConfig({ SERVER_PORT: '3500', API_TOKEN: 'user-token-0123456789', AGENT_TOKEN: 'agent-token-0123456789' });
const lambda = loadConfig({ AWS_LAMBDA_FUNCTION_NAME: 'create-task' });
const exposed = loadConfig({ SERVER_PORT: '3500', SERVER_HOST: '0.0.0.0', ALLOW_UNAUTHENTICATED: 'true' });

const request = (headers: Record<string, string>) => buildEvent({ method: 'POST', path: '/tasks', headers });
const verdict = (config: typeof open, headers: Record<string, string>, audience: 'user' | 'agent' | 'public' = 'user') => {
  try {
    authorize(audience, request(headers), config);
    return 'allowed';
  } catch (error) {
    if (error instanceof MisdirectedRequestError) return 421;
    if (error instanceof ForbiddenError) return 403;
    if (error instanceof UnauthorizedError) return 401;
    throw error;
  }
};

describe('authorize without the audience token', () => {
  it.each(['127.0.0.1:3500', 'localhost:3500', 'LOCALHOST:3500', '[::1]:3500', ' 127.0.0.1:3500 '])('accepts Host %s', (host) => {
    expect(verdict(open, { host })).toBe('allowed');
  });

  it.each([
    ['a DNS rebinding name', 'attacker.example:3500'],
    ['a name that ends like localhost', 'evil-localhost:3500'],
    ['a subdomain of localhost', 'a.localhost:3500'],
    ['localhost with a trailing dot', 'localhost.:3500'],
    ['another port', '127.0.0.1:3501'],
    ['no port (80)', '127.0.0.1'],
    ['another loopback address', '127.0.0.2:3500'],
    ['a private address', '192.168.1.5:3500'],
    ['two hosts joined', '127.0.0.1:3500,attacker.example:3500'],
    ['userinfo', 'user@127.0.0.1:3500'],
    ['an empty value', ''],
    ['a port out of range', '127.0.0.1:99999999'],
  ])('answers 421 to Host with %s', (_what, host) => {
    expect(verdict(open, { host })).toBe(421);
  });

  it('applies to agent endpoints without AGENT_TOKEN too', () => {
    expect(verdict(open, { host: 'attacker.example:3500' }, 'agent')).toBe(421);
    expect(verdict(open, { host: '127.0.0.1:3500' }, 'agent')).toBe('allowed');
  });

  it('accepts a request without Host (HTTP/1.0, a direct Lambda invocation): no browser sends one', () => {
    expect(verdict(open, {})).toBe('allowed');
  });

  it.each(['http://127.0.0.1:3500', 'http://localhost:3500', 'http://[::1]:3500'])('accepts the server’s own Origin %s', (origin) => {
    expect(verdict(open, { host: '127.0.0.1:3500', origin })).toBe('allowed');
  });

  it.each([
    ['another site', 'http://attacker.example:3500'],
    ['another local port', 'http://127.0.0.1:8080'],
    ['https', 'https://127.0.0.1:3500'],
    ['null (a sandboxed frame or a file)', 'null'],
    ['a path', 'http://127.0.0.1:3500/x'],
  ])('answers 403 to an Origin of %s', (_what, origin) => {
    expect(verdict(open, { host: '127.0.0.1:3500', origin })).toBe(403);
  });

  it.each(['cross-site', 'same-site'])('answers 403 to Sec-Fetch-Site: %s (an <img> or a link of another page)', (site) => {
    expect(verdict(open, { host: '127.0.0.1:3500', 'sec-fetch-site': site })).toBe(403);
  });

  it.each(['same-origin', 'none'])('accepts Sec-Fetch-Site: %s', (site) => {
    expect(verdict(open, { host: '127.0.0.1:3500', 'sec-fetch-site': site })).toBe('allowed');
  });

  it('names the token to set and the address to use, and does not echo a long Host whole', () => {
    const event = request({ host: `${'a'.repeat(5000)}.example:3500` });
    expect(() => authorize('user', event, open)).toThrow(/Without API_TOKEN .*http:\/\/127\.0\.0\.1:3500/);
    try {
      authorize('user', event, open);
    } catch (error) {
      expect((error as Error).message.length).toBeLessThan(600);
    }
  });

  it('accepts any port on Lambda, which never knows the port it is reached on, but still only loopback names', () => {
    expect(verdict(lambda, { host: '127.0.0.1:3000', origin: 'http://127.0.0.1:3000' })).toBe('allowed');
    expect(verdict(lambda, { host: 'abc123.execute-api.eu-west-1.amazonaws.com' })).toBe(421);
  });

  it('accepts IP addresses, never other names, with ALLOW_UNAUTHENTICATED, and an Origin only of the address sent to', () => {
    expect(verdict(exposed, { host: '192.168.1.5:3500' })).toBe('allowed');
    expect(verdict(exposed, { host: '[fd00::5]:3500' })).toBe('allowed');
    expect(verdict(exposed, { host: 'attacker.example:3500' })).toBe(421);
    expect(verdict(exposed, { host: '192.168.1.5:3500', origin: 'http://192.168.1.5:3500' })).toBe('allowed');
    expect(verdict(exposed, { host: '192.168.1.5:3500', origin: 'http://192.168.1.9:3500' })).toBe(403);
  });
});

describe('authorize with the audience token', () => {
  it('lets the token decide, whatever the Host and Origin', () => {
    const foreign = { host: 'attacker.example:3500', origin: 'http://attacker.example:3500', 'sec-fetch-site': 'cross-site' };
    expect(verdict(withTokens, foreign)).toBe(401);
    expect(verdict(withTokens, { ...foreign, authorization: 'Bearer user-token-0123456789' })).toBe('allowed');
    expect(verdict(withTokens, { ...foreign, authorization: 'Bearer agent-token-0123456789' }, 'agent')).toBe('allowed');
  });
});

describe('authorize on public endpoints', () => {
  it('checks nothing: GET / and /health answer health checkers under any name, and hold nothing secret', () => {
    expect(verdict(open, { host: 'attacker.example:3500', origin: 'http://attacker.example' }, 'public')).toBe('allowed');
  });
});
