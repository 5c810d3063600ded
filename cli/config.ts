/**
 * The CLI's settings: the only place it reads the environment. `--url` and `--token` override
 * TASKEXEC_URL and API_TOKEN.
 */
import { UsageError } from './errors';

export const DEFAULT_URL = 'http://127.0.0.1:3500';

/** Where the token came from, so a refusal can name what to change. */
export type TokenSource = '--token' | 'API_TOKEN';

export type CliConfig = Readonly<{
  /** The API's base URL without a trailing slash (an API Gateway stage path is kept). */
  url: string;
  token: string | null;
  tokenSource: TokenSource | null;
  /** TERM=dumb: a terminal that cannot redraw a line in place. */
  dumbTerminal: boolean;
}>;

export type ConnectionFlags = { url?: string; token?: string };

/** Resolves the settings from the flags and the environment; a URL that is not http(s) is a usage error. */
export function resolveConfig(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env): CliConfig {
  const fromFlag = flags.url !== undefined;
  const raw = (fromFlag ? flags.url : env.TASKEXEC_URL) || DEFAULT_URL;
  const origin = fromFlag ? '--url' : env.TASKEXEC_URL ? 'TASKEXEC_URL' : 'the default URL';
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new UsageError(`${origin} is not a URL: ${raw} (expected e.g. ${DEFAULT_URL})`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new UsageError(`${origin} must start with http:// or https://: ${raw}`);
  }
  if (parsed.search || parsed.hash) throw new UsageError(`${origin} must be the API's base URL, without ?query or #fragment: ${raw}`);
  const token = flags.token !== undefined ? flags.token : env.API_TOKEN || null;
  const tokenSource: TokenSource | null = flags.token !== undefined ? '--token' : token ? 'API_TOKEN' : null;
  return Object.freeze({
    url: parsed.href.replace(/\/+$/, ''),
    token: token || null,
    tokenSource: token ? tokenSource : null,
    dumbTerminal: env.TERM === 'dumb',
  });
}
