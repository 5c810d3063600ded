import { ConfigError, checkExposure, loadConfig } from './config';

/** The ConfigError loadConfig throws for this environment (fails when it throws none). */
function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  it('uses the documented defaults with an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 3500,
      host: '127.0.0.1',
      logLevel: 'info',
      db: { kind: 'embedded', dataDir: './.data' },
      apiToken: undefined,
      agentToken: undefined,
      allowUnauthenticated: false,
      agents: 1,
      leaseSeconds: 30,
      outputLimitBytes: 1048576,
    });
  });

  it('returns a frozen object', () => {
    expect(Object.isFrozen(loadConfig({}))).toBe(true);
  });

  it('reads every documented variable', () => {
    const config = loadConfig({
      SERVER_PORT: '8080',
      SERVER_HOST: '0.0.0.0',
      LOG_LEVEL: 'DEBUG',
      DATA_DIR: 'memory',
      API_TOKEN: 'api-secret-0123456789',
      AGENT_TOKEN: 'agent-secret-0123456789',
      ALLOW_UNAUTHENTICATED: 'true',
      AGENTS: '0',
      LEASE_SECONDS: '45',
      OUTPUT_LIMIT_BYTES: '2048',
    });
    expect(config).toMatchObject({
      port: 8080,
      host: '0.0.0.0',
      logLevel: 'debug',
      db: { kind: 'embedded', dataDir: 'memory' },
      apiToken: 'api-secret-0123456789',
      agentToken: 'agent-secret-0123456789',
      allowUnauthenticated: true,
      agents: 0,
      leaseSeconds: 45,
      outputLimitBytes: 2048,
    });
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ SERVER_PORT: '', API_TOKEN: '', DB_HOST: '' })).toMatchObject({
      port: 3500,
      apiToken: undefined,
      db: { kind: 'embedded' },
    });
  });

  it('selects PostgreSQL when DATABASE_URL is set', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://u:p@db:5432/tasks' }).db).toEqual({
      kind: 'postgres',
      connectionString: 'postgres://u:p@db:5432/tasks',
    });
  });

  it.each(['DB_USER', 'DB_PASSWORD', 'DB_HOST', 'DB_PORT', 'DB_NAME'])('selects PostgreSQL when %s alone is set', (name) => {
    const value = name === 'DB_PORT' ? '6543' : 'x';
    expect(loadConfig({ [name]: value }).db.kind).toBe('postgres');
  });

  it('fills the other DB_* settings with defaults', () => {
    expect(loadConfig({ DB_HOST: 'db', DB_PASSWORD: 'secret' }).db).toEqual({
      kind: 'postgres',
      host: 'db',
      port: 5432,
      user: 'postgres',
      password: 'secret',
      database: 'postgres',
    });
  });

  it('prefers DATABASE_URL over DB_* variables', () => {
    expect(loadConfig({ DATABASE_URL: 'postgresql://db/x', DB_HOST: 'other' }).db).toEqual({
      kind: 'postgres',
      connectionString: 'postgresql://db/x',
    });
  });

  it.each([
    ['SERVER_PORT', 'abc'],
    ['SERVER_PORT', '65536'],
    ['SERVER_PORT', '80.5'],
    ['LOG_LEVEL', 'loud'],
    ['LEASE_SECONDS', '-1'],
    ['LEASE_SECONDS', '0'],
    ['OUTPUT_LIMIT_BYTES', '10'],
    ['AGENTS', 'many'],
    ['ALLOW_UNAUTHENTICATED', 'maybe'],
    ['DB_PORT', 'abc'],
    ['DATABASE_URL', 'mysql://db/x'],
  ])('names %s=%s in the error', (name, value) => {
    const error = configError({ [name]: value });
    expect(error.problems).toHaveLength(1);
    expect(error.message).toContain(name);
    expect(error.message).not.toMatch(/\n\s+at /);
  });

  it('names every bad variable in one error', () => {
    const error = configError({ SERVER_PORT: 'abc', LOG_LEVEL: 'loud', LEASE_SECONDS: '-1' });
    expect(error.problems).toHaveLength(3);
    for (const name of ['SERVER_PORT', 'LOG_LEVEL', 'LEASE_SECONDS']) expect(error.message).toContain(name);
  });

  it.each(['API_TOKEN', 'AGENT_TOKEN'])('refuses a %s under 16 characters off loopback in one line, without echoing it', (name) => {
    const error = configError({ [name]: 'short-token-15c', SERVER_HOST: '0.0.0.0' });
    expect(error.problems).toEqual([expect.stringContaining(`${name} is 15 characters long; use at least 16`)]);
    expect(error.message).not.toContain('short-token-15c');
    expect(loadConfig({ [name]: 'exactly-16-chars' })).toBeDefined();
  });

  it.each(['API_TOKEN', 'AGENT_TOKEN'])('refuses a %s under 16 characters on Lambda, whatever SERVER_HOST says', (name) => {
    const error = configError({ [name]: 'short-token-15c', AWS_LAMBDA_FUNCTION_NAME: 'create-task' });
    expect(error.problems).toEqual([expect.stringContaining(`${name} is 15 characters long; use at least 16`)]);
  });

  it('takes a short token on a loopback bind (where no token at all is allowed) and warns of it at start', () => {
    const config = loadConfig({ API_TOKEN: 'perf12345', AGENT_TOKEN: 'aperf12345', SERVER_HOST: '127.0.0.1' });
    expect(config.shortTokens).toEqual(['API_TOKEN', 'AGENT_TOKEN']);
    const warning = checkExposure(config).warn;
    expect(warning).toContain('API_TOKEN and AGENT_TOKEN are under 16 characters');
    expect(warning).not.toContain('perf12345');
    expect(checkExposure(loadConfig({ API_TOKEN: 'exactly-16-chars' })).warn).toBeUndefined();
  });

  it.each([
    ['a space', 'a token with spaces in it'],
    ['a character outside ASCII', 'token-with-é-0123456789'],
  ])('refuses a token with %s, which no Authorization header can carry', (_what, token) => {
    expect(configError({ API_TOKEN: token }).problems).toEqual([expect.stringContaining('API_TOKEN must be printable ASCII')]);
  });

  it('refuses the same value for API_TOKEN and AGENT_TOKEN', () => {
    const same = 'one-token-for-both-0123456789';
    const error = configError({ API_TOKEN: same, AGENT_TOKEN: same });
    expect(error.problems).toEqual(['API_TOKEN and AGENT_TOKEN are the same; give each its own value']);
    expect(error.message).not.toContain(same);
  });

  it('does not echo a token in an error', () => {
    const error = configError({ API_TOKEN: 'super-secret-token', SERVER_PORT: 'abc' });
    expect(error.message).not.toContain('super-secret-token');
  });
});

describe('checkExposure', () => {
  it.each(['127.0.0.1', 'localhost', '::1', '127.0.0.2'])('allows loopback host %s without tokens', (host) => {
    expect(checkExposure(loadConfig({ SERVER_HOST: host }))).toEqual({});
  });

  it('refuses a public host without tokens and says how to set both', () => {
    const { refuse, warn } = checkExposure(loadConfig({ SERVER_HOST: '0.0.0.0' }));
    expect(warn).toBeUndefined();
    expect(refuse).toContain('API_TOKEN');
    expect(refuse).toContain('AGENT_TOKEN');
    expect(refuse).toContain('ALLOW_UNAUTHENTICATED=true');
  });

  it('refuses a public host with only one token, naming the missing one', () => {
    const { refuse } = checkExposure(loadConfig({ SERVER_HOST: '0.0.0.0', API_TOKEN: 'a'.repeat(16) }));
    expect(refuse).toMatch(/without AGENT_TOKEN/);
  });

  it('allows a public host with both tokens', () => {
    expect(checkExposure(loadConfig({ SERVER_HOST: '0.0.0.0', API_TOKEN: 'a'.repeat(16), AGENT_TOKEN: 'b'.repeat(16) }))).toEqual({});
  });

  it('warns instead of refusing when ALLOW_UNAUTHENTICATED=true', () => {
    const { refuse, warn } = checkExposure(loadConfig({ SERVER_HOST: '0.0.0.0', ALLOW_UNAUTHENTICATED: 'true' }));
    expect(refuse).toBeUndefined();
    expect(warn).toContain('ALLOW_UNAUTHENTICATED=true');
    expect(warn).toContain('API_TOKEN and AGENT_TOKEN');
  });
});
