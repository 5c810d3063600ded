/**
 * The Lambda deployment's Secrets Manager path: Powertools getSecret against a mocked SDK
 * client (aws-sdk-client-mock), its cache, refresh, and the errors a person sees.
 */

import { clearCaches } from '@aws-lambda-powertools/parameters';
import { GetSecretValueCommand, ResourceNotFoundException, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { loadConfig } from '../../functions/shared/config';
import { DEFAULT_SECRET_MAX_AGE, loadSecretOverrides, SecretError } from '../../functions/shared/secrets';

const DB_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1a2b3c-AbCdEf';
const TOKENS_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:task-executor/tokens-XyZ123';
const RDS_SECRET = {
  username: 'taskexec',
  password: 'p@ss word"1',
  host: 'db.cluster-abc.eu-west-1.rds.amazonaws.com',
  port: 5432,
  dbname: 'tasks',
  engine: 'postgres',
};
const TOKENS = { API_TOKEN: 'api-token-from-secrets-manager', AGENT_TOKEN: 'agent-token-from-secrets-manager' };

const sm = mockClient(SecretsManagerClient);
const env = { DB_SECRET_ARN: DB_ARN, TOKENS_SECRET_ARN: TOKENS_ARN };

function serve(secrets: Record<string, string>): void {
  sm.on(GetSecretValueCommand).callsFake((input: { SecretId: string }) => {
    const value = secrets[input.SecretId];
    if (value === undefined) {
      throw new ResourceNotFoundException({ message: "Secrets Manager can't find the specified secret.", $metadata: {} });
    }
    return { ARN: input.SecretId, Name: input.SecretId, SecretString: value };
  });
}

const callsFor = (arn: string) => sm.commandCalls(GetSecretValueCommand, { SecretId: arn }).length;

beforeEach(() => {
  sm.reset();
  clearCaches();
  serve({ [DB_ARN]: JSON.stringify(RDS_SECRET), [TOKENS_ARN]: JSON.stringify(TOKENS) });
});

afterEach(() => {
  jest.useRealTimers();
});

describe('loadSecretOverrides', () => {
  it('fetches nothing when no secret ARN is set (local server, compose, sam local)', async () => {
    expect(await loadSecretOverrides({ DB_HOST: 'db' })).toEqual({});
    expect(await loadSecretOverrides({ DB_SECRET_ARN: '', TOKENS_SECRET_ARN: '' })).toEqual({});
    expect(sm.calls()).toHaveLength(0);
  });

  it('turns the RDS secret and the tokens secret into the variables loadConfig reads', async () => {
    const overrides = await loadSecretOverrides(env);
    expect(overrides).toEqual({
      DB_USER: 'taskexec',
      DB_PASSWORD: 'p@ss word"1',
      DB_HOST: RDS_SECRET.host,
      DB_PORT: '5432',
      DB_NAME: 'tasks',
      API_TOKEN: TOKENS.API_TOKEN,
      AGENT_TOKEN: TOKENS.AGENT_TOKEN,
    });
    const config = loadConfig({ ...env, ...overrides });
    expect(config.db).toEqual({
      kind: 'postgres',
      host: RDS_SECRET.host,
      port: 5432,
      user: 'taskexec',
      password: 'p@ss word"1',
      database: 'tasks',
    });
    expect(config.apiToken).toBe(TOKENS.API_TOKEN);
    expect(config.agentToken).toBe(TOKENS.AGENT_TOKEN);
  });

  it('keeps DB_HOST, DB_PORT and DB_NAME from the environment (an RDS Proxy endpoint) over the secret', async () => {
    const withProxy = { ...env, DB_HOST: 'proxy.proxy-abc.eu-west-1.rds.amazonaws.com', DB_PORT: '6432', DB_NAME: 'postgres' };
    const overrides = await loadSecretOverrides(withProxy);
    expect(overrides).not.toHaveProperty('DB_HOST');
    const config = loadConfig({ ...withProxy, ...overrides });
    expect(config.db).toMatchObject({
      host: 'proxy.proxy-abc.eu-west-1.rds.amazonaws.com',
      port: 6432,
      database: 'postgres',
      user: 'taskexec',
    });
  });

  it('serves a second load from the cache: one call per secret for two loads', async () => {
    await loadSecretOverrides(env);
    await loadSecretOverrides(env);
    expect(callsFor(DB_ARN)).toBe(1);
    expect(callsFor(TOKENS_ARN)).toBe(1);
  });

  it('fetches again once maxAge has passed', async () => {
    jest.useFakeTimers({ now: new Date('2026-11-28T10:00:00Z'), doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'setTimeout'] });
    await loadSecretOverrides(env, { maxAge: 60 });
    jest.setSystemTime(new Date('2026-11-28T10:00:59Z'));
    await loadSecretOverrides(env, { maxAge: 60 });
    expect(callsFor(DB_ARN)).toBe(1);
    jest.setSystemTime(new Date('2026-11-28T10:01:01Z'));
    serve({ [DB_ARN]: JSON.stringify({ ...RDS_SECRET, password: 'rotated' }), [TOKENS_ARN]: JSON.stringify(TOKENS) });
    const overrides = await loadSecretOverrides(env, { maxAge: 60 });
    expect(callsFor(DB_ARN)).toBe(2);
    expect(overrides.DB_PASSWORD).toBe('rotated');
  });

  it('caches for five minutes by default', async () => {
    expect(DEFAULT_SECRET_MAX_AGE).toBe(300);
    jest.useFakeTimers({ now: new Date('2026-11-28T10:00:00Z'), doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'setTimeout'] });
    await loadSecretOverrides(env);
    jest.setSystemTime(new Date('2026-11-28T10:04:59Z'));
    await loadSecretOverrides(env);
    expect(callsFor(DB_ARN)).toBe(1);
    jest.setSystemTime(new Date('2026-11-28T10:05:01Z'));
    await loadSecretOverrides(env);
    expect(callsFor(DB_ARN)).toBe(2);
  });

  it('fetches despite a fresh cache with forceFetch (after a password rotation)', async () => {
    await loadSecretOverrides(env);
    serve({ [DB_ARN]: JSON.stringify({ ...RDS_SECRET, password: 'rotated' }), [TOKENS_ARN]: JSON.stringify(TOKENS) });
    const overrides = await loadSecretOverrides(env, { forceFetch: true });
    expect(callsFor(DB_ARN)).toBe(2);
    expect(overrides.DB_PASSWORD).toBe('rotated');
  });

  it('names the variable and the secret when the secret is not JSON, without echoing it', async () => {
    serve({ [DB_ARN]: 'username=taskexec password=hunter2', [TOKENS_ARN]: JSON.stringify(TOKENS) });
    const error = (await loadSecretOverrides(env).catch((e) => e)) as Error;
    expect(error).toBeInstanceOf(SecretError);
    expect(error.message).toBe(
      `DB_SECRET_ARN: the secret ${DB_ARN} is not valid JSON; store a JSON object like {"username": "...", "password": "..."} (see docs/deployment.md).`,
    );
    expect(error.message).not.toContain('hunter2');
  });

  it('names the secret when it holds JSON that is not an object', async () => {
    serve({ [DB_ARN]: JSON.stringify(RDS_SECRET), [TOKENS_ARN]: '["a", "b"]' });
    await expect(loadSecretOverrides(env)).rejects.toThrow(
      `TOKENS_SECRET_ARN: the secret ${TOKENS_ARN} must hold a JSON object, not an array.`,
    );
  });

  it('names the missing field', async () => {
    serve({ [DB_ARN]: JSON.stringify(RDS_SECRET), [TOKENS_ARN]: JSON.stringify({ API_TOKEN: 'x' }) });
    await expect(loadSecretOverrides(env)).rejects.toThrow(`TOKENS_SECRET_ARN: the secret ${TOKENS_ARN} has no "AGENT_TOKEN" field.`);
    serve({ [DB_ARN]: JSON.stringify({ username: 'u' }), [TOKENS_ARN]: JSON.stringify(TOKENS) });
    clearCaches();
    await expect(loadSecretOverrides(env)).rejects.toThrow(`DB_SECRET_ARN: the secret ${DB_ARN} has no "password" field.`);
  });

  it('says which secret was not found (ResourceNotFoundException)', async () => {
    serve({ [DB_ARN]: JSON.stringify(RDS_SECRET) });
    const error = (await loadSecretOverrides(env).catch((e) => e)) as Error;
    expect(error).toBeInstanceOf(SecretError);
    expect(error.message).toBe(
      `TOKENS_SECRET_ARN: the secret ${TOKENS_ARN} was not found (Secrets Manager can't find the specified secret.); check the ARN and the region.`,
    );
  });

  it('reads each token from a secret of its own, so a function may be allowed only the one it needs', async () => {
    const API_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:task-executor/api-token-AbC123';
    const AGENT_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:task-executor/agent-token-DeF456';
    serve({ [API_ARN]: JSON.stringify({ API_TOKEN: TOKENS.API_TOKEN }), [AGENT_ARN]: JSON.stringify({ AGENT_TOKEN: TOKENS.AGENT_TOKEN }) });
    expect(await loadSecretOverrides({ API_TOKEN_SECRET_ARN: API_ARN })).toEqual({ API_TOKEN: TOKENS.API_TOKEN });
    expect(await loadSecretOverrides({ AGENT_TOKEN_SECRET_ARN: AGENT_ARN })).toEqual({ AGENT_TOKEN: TOKENS.AGENT_TOKEN });
    expect(callsFor(API_ARN)).toBe(1);
    expect(callsFor(AGENT_ARN)).toBe(1);
    serve({ [API_ARN]: JSON.stringify({ AGENT_TOKEN: 'the-wrong-token-0123' }) });
    clearCaches();
    await expect(loadSecretOverrides({ API_TOKEN_SECRET_ARN: API_ARN })).rejects.toThrow(
      `API_TOKEN_SECRET_ARN: the secret ${API_ARN} has no "API_TOKEN" field.`,
    );
  });

  it('says what the function needs when it may not read the secret', async () => {
    sm.on(GetSecretValueCommand).rejects(
      Object.assign(new Error('User is not authorized to perform: secretsmanager:GetSecretValue'), { name: 'AccessDeniedException' }),
    );
    await expect(loadSecretOverrides(env)).rejects.toThrow(
      `DB_SECRET_ARN: the secret ${DB_ARN} could not be read (AccessDeniedException: User is not authorized to perform: secretsmanager:GetSecretValue); the function needs secretsmanager:GetSecretValue on it and a route to Secrets Manager (NAT or VPC endpoint).`,
    );
  });
});
