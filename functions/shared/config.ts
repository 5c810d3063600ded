/**
 * Server configuration: read once from the environment, validated, frozen.
 * Nothing else in functions/ or infra/ reads process.env for settings.
 */
import { isLoopbackHost, MIN_TOKEN_LENGTH } from '../../contract/http';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type DbConfig =
  | { kind: 'postgres'; connectionString?: string; host?: string; port?: number; user?: string; password?: string; database?: string }
  | { kind: 'embedded'; dataDir: string };

export type ServerConfig = Readonly<{
  port: number;
  host: string;
  logLevel: LogLevel;
  db: DbConfig;
  apiToken: string | undefined;
  agentToken: string | undefined;
  allowUnauthenticated: boolean;
  agents: number;
  leaseSeconds: number;
  outputLimitBytes: number;
  /** Pool size per process; Lambda wants 1-2, a long-running server more. */
  dbPoolMax: number;
  /** TASK_RETENTION: ended tasks are deleted this many seconds after they finished; 0 keeps them all. */
  taskRetentionSeconds: number;
  /** Tokens under MIN_TOKEN_LENGTH taken on a loopback bind (refused anywhere else); start-up warns of them. */
  shortTokens: readonly string[];
  /** Running inside AWS Lambda (no long-lived LISTEN connection, no reaper timer). */
  lambda: boolean;
}>;

/** Timings derived from LEASE_SECONDS, in one place. */
export type LeasePolicy = Readonly<{
  leaseSeconds: number;
  /** how often agents heartbeat: a third of the lease, at most 3 s, so cancels arrive quickly */
  heartbeatSeconds: number;
  /** a running task ends timed_out this long after its timeout if its agent never reports */
  deadlineGraceSeconds: number;
  /** a cancel of a running task is final this long after it was asked, agent or not */
  cancelGraceSeconds: number;
  /** how often the local server's reaper looks for expired leases */
  reaperIntervalMs: number;
  /**
   * a longer pause between two expiry runs means nobody watched (database or servers down):
   * running tasks then get one more lease instead of being ended "agent lost"
   */
  watchGapSeconds: number;
}>;

/** The lease timings for a configuration. */
export function leasePolicy(config: Pick<ServerConfig, 'leaseSeconds'> & Partial<Pick<ServerConfig, 'lambda'>>): LeasePolicy {
  const lease = config.leaseSeconds;
  const reaperIntervalMs = Math.max(1000, Math.min(5000, Math.floor((lease * 1000) / 6)));
  return Object.freeze({
    leaseSeconds: lease,
    heartbeatSeconds: Math.max(1, Math.min(3, Math.floor(lease / 3))),
    // room for the agent's own kill (SIGTERM, AGENT_KILL_GRACE 5 s, SIGKILL) and its report
    deadlineGraceSeconds: lease + 15,
    cancelGraceSeconds: lease,
    reaperIntervalMs,
    // On Lambda expiry runs every minute (schedule) or on picks; locally every reaperIntervalMs.
    watchGapSeconds: config.lambda ? 150 : Math.max(10, (3 * reaperIntervalMs) / 1000),
  });
}

/** Thrown when one or more variables are invalid; the message names each of them. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

type Env = Record<string, string | undefined>;

/** Small helpers that record a problem instead of throwing, so all are reported at once. */
export class EnvReader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  str(name: string): string | undefined {
    const v = this.env[name];
    return v === undefined || v === '' ? undefined : v;
  }

  int(name: string, def: number, min: number, max: number): number {
    const raw = this.str(name);
    if (raw === undefined) return def;
    if (!/^\d+$/.test(raw.trim()) || Number(raw) < min || Number(raw) > max) {
      this.problems.push(`${name}=${JSON.stringify(raw)} must be a whole number from ${min} to ${max}`);
      return def;
    }
    return Number(raw);
  }

  bool(name: string, def: boolean): boolean {
    const raw = this.str(name);
    if (raw === undefined) return def;
    const v = raw.trim().toLowerCase();
    if (['true', '1', 'yes'].includes(v)) return true;
    if (['false', '0', 'no'].includes(v)) return false;
    this.problems.push(`${name}=${JSON.stringify(raw)} must be true or false`);
    return def;
  }

  logLevel(): LogLevel {
    const raw = this.str('LOG_LEVEL');
    if (raw === undefined) return 'info';
    const v = raw.trim().toLowerCase();
    if ((LOG_LEVELS as readonly string[]).includes(v)) return v as LogLevel;
    this.problems.push(`LOG_LEVEL=${JSON.stringify(raw)} must be one of ${LOG_LEVELS.join(', ')}`);
    return 'info';
  }
}

/**
 * Why a token is refused, or null: under MIN_TOKEN_LENGTH characters (unless `shortTaken`), or
 * characters a bearer token cannot carry (the Authorization header is matched as
 * `Bearer <no spaces>`). Never echoes the token.
 */
export function tokenProblem(name: string, token: string | undefined, shortTaken = false): string | null {
  if (token === undefined) return null;
  if (token.length < MIN_TOKEN_LENGTH && !shortTaken) {
    return `${name} is ${token.length} characters long; use at least ${MIN_TOKEN_LENGTH}, e.g. ${name}=$(openssl rand -hex 32)`;
  }
  if (!/^[\x21-\x7e]+$/.test(token)) return `${name} must be printable ASCII without spaces, e.g. ${name}=$(openssl rand -hex 32)`;
  return null;
}

const RETENTION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
/** The longest TASK_RETENTION accepted: ten years. */
const MAX_RETENTION_SECONDS = 10 * 366 * 86400;

/** TASK_RETENTION: `30d`, `12h`, `90m`, `3600s` (a bare number is seconds); `0` keeps everything; default 30d. */
function retentionSeconds(r: EnvReader): number {
  const raw = r.str('TASK_RETENTION');
  if (raw === undefined) return 30 * 86400;
  const m = /^(\d{1,12})([smhdw]?)$/.exec(raw.trim());
  const seconds = m ? Number(m[1]) * (RETENTION_UNITS[m[2] || 's'] as number) : Number.NaN;
  if (!(seconds <= MAX_RETENTION_SECONDS)) {
    r.problems.push(
      `TASK_RETENTION=${JSON.stringify(raw)} must be a duration like 30d, 12h, 90m or 3600s (at most 10 years), or 0 to keep every task`,
    );
    return 30 * 86400;
  }
  return seconds;
}

/** Reads and validates the server's configuration; throws ConfigError naming every bad variable. */
export function loadConfig(env: Env = process.env): ServerConfig {
  const r = new EnvReader(env);
  const port = r.int('SERVER_PORT', 3500, 0, 65535);
  const host = r.str('SERVER_HOST') ?? '127.0.0.1';
  const logLevel = r.logLevel();

  const databaseUrl = r.str('DATABASE_URL');
  const dbVars = ['DB_USER', 'DB_PASSWORD', 'DB_HOST', 'DB_PORT', 'DB_NAME'].filter((n) => r.str(n) !== undefined);
  let db: DbConfig;
  if (databaseUrl !== undefined) {
    if (!/^postgres(ql)?:\/\//.test(databaseUrl)) {
      r.problems.push('DATABASE_URL must start with postgres:// or postgresql://');
    }
    db = { kind: 'postgres', connectionString: databaseUrl };
  } else if (dbVars.length > 0) {
    db = {
      kind: 'postgres',
      host: r.str('DB_HOST') ?? '127.0.0.1',
      port: r.int('DB_PORT', 5432, 1, 65535),
      user: r.str('DB_USER') ?? 'postgres',
      password: r.str('DB_PASSWORD'),
      database: r.str('DB_NAME') ?? 'postgres',
    };
  } else {
    db = { kind: 'embedded', dataDir: r.str('DATA_DIR') ?? './.data' };
  }

  const apiToken = r.str('API_TOKEN');
  const agentToken = r.str('AGENT_TOKEN');
  const lambda = r.str('AWS_LAMBDA_FUNCTION_NAME') !== undefined;
  // A short token is refused wherever the API can be reached from elsewhere (and always on
  // Lambda). On a loopback bind, where no token at all is allowed, a short one is still better
  // than none: it is taken, with a warning at start (checkExposure).
  const shortTokensTaken = !lambda && isLoopbackHost(host);
  const shortTokens: string[] = [];
  for (const [name, token] of [
    ['API_TOKEN', apiToken],
    ['AGENT_TOKEN', agentToken],
  ] as const) {
    const problem = tokenProblem(name, token, shortTokensTaken);
    if (problem !== null) r.problems.push(problem);
    else if (token !== undefined && token.length < MIN_TOKEN_LENGTH) shortTokens.push(name);
  }
  // One value for both would let every agent (and every command that can read an agent's
  // environment) submit commands, and every user act as an agent.
  if (apiToken !== undefined && apiToken === agentToken) {
    r.problems.push('API_TOKEN and AGENT_TOKEN are the same; give each its own value');
  }
  const allowUnauthenticated = r.bool('ALLOW_UNAUTHENTICATED', false);
  const config: ServerConfig = Object.freeze({
    port,
    host,
    logLevel,
    db,
    apiToken,
    agentToken,
    allowUnauthenticated,
    agents: r.int('AGENTS', 1, 0, 64),
    leaseSeconds: r.int('LEASE_SECONDS', 30, 3, 3600),
    outputLimitBytes: r.int('OUTPUT_LIMIT_BYTES', 1048576, 1024, 4 * 1048576),
    dbPoolMax: r.int('DB_POOL_MAX', 10, 1, 200),
    taskRetentionSeconds: retentionSeconds(r),
    shortTokens,
    lambda,
  });
  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return config;
}

/**
 * The start-up rule for exposing the API: off loopback, both tokens are needed unless
 * ALLOW_UNAUTHENTICATED=true. Returns a refusal message, a warning, or nothing.
 */
export function checkExposure(config: ServerConfig): { refuse?: string; warn?: string } {
  if (isLoopbackHost(config.host)) {
    if (config.shortTokens.length === 0) return {};
    return {
      warn: `${config.shortTokens.join(' and ')} ${config.shortTokens.length > 1 ? 'are' : 'is'} under ${MIN_TOKEN_LENGTH} characters: taken because SERVER_HOST=${config.host} is loopback only; anywhere else the server refuses ${config.shortTokens.length > 1 ? 'them' : 'it'} (use e.g. $(openssl rand -hex 32)).`,
    };
  }
  const missing = [config.apiToken ? '' : 'API_TOKEN', config.agentToken ? '' : 'AGENT_TOKEN'].filter(Boolean);
  if (missing.length === 0) return {};
  if (config.allowUnauthenticated) {
    return {
      warn: `SERVER_HOST=${config.host} is reachable from other machines and ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not set: anyone who can reach it can run commands (ALLOW_UNAUTHENTICATED=true).`,
    };
  }
  return {
    refuse: `Refusing to listen on SERVER_HOST=${config.host} without ${missing.join(' and ')}: set both, e.g. API_TOKEN=$(openssl rand -hex 32) AGENT_TOKEN=$(openssl rand -hex 32), or set ALLOW_UNAUTHENTICATED=true to accept the risk.`,
  };
}
