/**
 * Secrets Manager for the Lambda deployment: when DB_SECRET_ARN, API_TOKEN_SECRET_ARN or
 * AGENT_TOKEN_SECRET_ARN (or the older TOKENS_SECRET_ARN, both tokens in one) are set, the
 * database credentials and the tokens are read from there (through Powertools
 * `getSecret`, cached across invocations) and handed to loadConfig as environment overrides.
 * Without those variables nothing is fetched and the AWS SDK is never loaded.
 */

type Env = Record<string, string | undefined>;

export type SecretOptions = {
  /** Seconds a fetched secret is reused before it is fetched again (Powertools' cache). */
  maxAge?: number;
  /** Fetch even when the cached value is fresh (e.g. after a password rotation). */
  forceFetch?: boolean;
};

/** Thrown when a secret cannot be fetched or read; the message names the variable and the secret. */
export class SecretError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SecretError';
  }
}

/**
 * Five minutes: a cold start fetches once, and a rebuilt deps (after a failed start) does not
 * hammer the API; Secrets Manager bills per 10,000 calls, so per-request fetches would add up.
 */
export const DEFAULT_SECRET_MAX_AGE = 300;

const set = (env: Env, name: string) => env[name] !== undefined && env[name] !== '';

/** The JSON each secret holds (docs/deployment.md, "Deploy to AWS"). */
const SHAPES: Record<string, string> = {
  DB_SECRET_ARN: '{"username": "...", "password": "..."}',
  TOKENS_SECRET_ARN: '{"API_TOKEN": "...", "AGENT_TOKEN": "..."}',
  API_TOKEN_SECRET_ARN: '{"API_TOKEN": "..."}',
  AGENT_TOKEN_SECRET_ARN: '{"AGENT_TOKEN": "..."}',
};

async function fetchSecretJson(variable: string, arn: string, options: SecretOptions): Promise<Record<string, unknown>> {
  // Loaded on demand: the local server and the agent never need the AWS SDK.
  const { getSecret } = await import('@aws-lambda-powertools/parameters/secrets');
  let value: string | Uint8Array | undefined;
  try {
    value = await getSecret(arn, { maxAge: options.maxAge ?? DEFAULT_SECRET_MAX_AGE, forceFetch: options.forceFetch });
  } catch (error) {
    const cause = (error as { cause?: { name?: string } }).cause ?? (error as { name?: string });
    const reason = (error as Error).message;
    if (cause?.name === 'ResourceNotFoundException') {
      throw new SecretError(`${variable}: the secret ${arn} was not found (${reason}); check the ARN and the region.`, { cause: error });
    }
    throw new SecretError(
      `${variable}: the secret ${arn} could not be read (${cause?.name ?? 'Error'}: ${reason}); the function needs secretsmanager:GetSecretValue on it and a route to Secrets Manager (NAT or VPC endpoint).`,
      { cause: error },
    );
  }
  if (value === undefined) throw new SecretError(`${variable}: the secret ${arn} has no value.`);
  const text = typeof value === 'string' ? value : new TextDecoder().decode(value);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Never echo the text: it is a secret.
    throw new SecretError(
      `${variable}: the secret ${arn} is not valid JSON; store a JSON object like ${SHAPES[variable]} (see docs/deployment.md).`,
    );
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new SecretError(
      `${variable}: the secret ${arn} must hold a JSON object, not ${Array.isArray(parsed) ? 'an array' : typeof parsed}.`,
    );
  }
  return parsed as Record<string, unknown>;
}

function field(variable: string, arn: string, secret: Record<string, unknown>, key: string, required: boolean): string | undefined {
  const v = secret[key];
  if (v === undefined || v === null || v === '') {
    if (required) throw new SecretError(`${variable}: the secret ${arn} has no "${key}" field.`);
    return undefined;
  }
  if (typeof v !== 'string' && typeof v !== 'number') {
    throw new SecretError(`${variable}: the field "${key}" of the secret ${arn} must be a string.`);
  }
  return String(v);
}

/**
 * Environment overrides for loadConfig from Secrets Manager.
 *
 * DB_SECRET_ARN: the RDS secret, `{"username", "password", "host"?, "port"?, "dbname"?}` (the
 * shape RDS writes). Username and password always come from it; host, port and dbname only
 * fill in DB_HOST / DB_PORT / DB_NAME when those are unset, so an RDS Proxy endpoint can be
 * set in DB_HOST while the credentials stay in the secret.
 * API_TOKEN_SECRET_ARN: `{"API_TOKEN": "..."}`; AGENT_TOKEN_SECRET_ARN: `{"AGENT_TOKEN": "..."}`.
 * Two secrets, so that each function may read only the token its routes need (template.yaml
 * gives user functions the one, agent functions the other, and the rest neither).
 * TOKENS_SECRET_ARN: `{"API_TOKEN": "...", "AGENT_TOKEN": "..."}`, both required (one secret
 * for both, as before; every function that reads it can read both tokens).
 */
export async function loadSecretOverrides(env: Env = process.env, options: SecretOptions = {}): Promise<Record<string, string>> {
  const overrides: Record<string, string> = {};
  const dbArn = env.DB_SECRET_ARN;
  if (dbArn !== undefined && dbArn !== '') {
    const s = await fetchSecretJson('DB_SECRET_ARN', dbArn, options);
    overrides.DB_USER = field('DB_SECRET_ARN', dbArn, s, 'username', true) as string;
    overrides.DB_PASSWORD = field('DB_SECRET_ARN', dbArn, s, 'password', true) as string;
    const fill: [string, string][] = [
      ['DB_HOST', 'host'],
      ['DB_PORT', 'port'],
      ['DB_NAME', 'dbname'],
    ];
    for (const [name, key] of fill) {
      const v = field('DB_SECRET_ARN', dbArn, s, key, false);
      if (v !== undefined && !set(env, name)) overrides[name] = v;
    }
  }
  const tokensArn = env.TOKENS_SECRET_ARN;
  if (tokensArn !== undefined && tokensArn !== '') {
    const s = await fetchSecretJson('TOKENS_SECRET_ARN', tokensArn, options);
    overrides.API_TOKEN = field('TOKENS_SECRET_ARN', tokensArn, s, 'API_TOKEN', true) as string;
    overrides.AGENT_TOKEN = field('TOKENS_SECRET_ARN', tokensArn, s, 'AGENT_TOKEN', true) as string;
  }
  for (const [variable, key] of [
    ['API_TOKEN_SECRET_ARN', 'API_TOKEN'],
    ['AGENT_TOKEN_SECRET_ARN', 'AGENT_TOKEN'],
  ] as const) {
    const arn = env[variable];
    if (arn === undefined || arn === '') continue;
    overrides[key] = field(variable, arn, await fetchSecretJson(variable, arn, options), key, true) as string;
  }
  return overrides;
}
