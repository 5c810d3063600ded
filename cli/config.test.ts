import { DEFAULT_URL, resolveConfig } from './config';
import { UsageError } from './errors';

describe('resolveConfig', () => {
  it('defaults to the local server without a token', () => {
    expect(resolveConfig({}, {})).toEqual({ url: DEFAULT_URL, token: null, tokenSource: null, dumbTerminal: false });
  });

  it('reads TASKEXEC_URL and API_TOKEN, and --url and --token override them', () => {
    const env = { TASKEXEC_URL: 'http://env:1', API_TOKEN: 'from-env' };
    expect(resolveConfig({}, env)).toMatchObject({ url: 'http://env:1', token: 'from-env', tokenSource: 'API_TOKEN' });
    expect(resolveConfig({ url: 'https://flag:2', token: 'from-flag' }, env)).toMatchObject({
      url: 'https://flag:2',
      token: 'from-flag',
      tokenSource: '--token',
    });
  });

  it('keeps an API Gateway stage path and drops trailing slashes', () => {
    expect(resolveConfig({ url: 'https://abc.execute-api.eu-west-1.amazonaws.com/prod/' }, {}).url).toBe(
      'https://abc.execute-api.eu-west-1.amazonaws.com/prod',
    );
  });

  it.each([
    ['not a url', 'is not a URL'],
    ['ftp://host/', 'must start with http:// or https://'],
    ['http://host/?x=1', 'without ?query'],
  ])('refuses --url %p as a usage error naming it', (url, message) => {
    expect(() => resolveConfig({ url }, {})).toThrow(UsageError);
    expect(() => resolveConfig({ url }, {})).toThrow(message);
  });

  it('names TASKEXEC_URL when that is the bad one', () => {
    expect(() => resolveConfig({}, { TASKEXEC_URL: 'localhost:3500' })).toThrow(/^TASKEXEC_URL must start with http/);
  });

  it('sees TERM=dumb as a terminal that cannot redraw a line', () => {
    expect(resolveConfig({}, { TERM: 'dumb' }).dumbTerminal).toBe(true);
  });
});
