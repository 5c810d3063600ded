/**
 * The agent's configuration (docs/configuration.md), read once from the environment and validated.
 * The agent ships alone: it shares no config code with the server.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { canonicalLabels, isLoopbackHost, labelProblem, MIN_TOKEN_LENGTH } from '../contract/http';

export type AgentLogLevel = 'debug' | 'info' | 'warn' | 'error';

export type AgentConfig = Readonly<{
  backendUrl: string;
  pollIntervalMs: number;
  pollWaitSeconds: number;
  logLevel: AgentLogLevel;
  agentToken: string | undefined;
  agentId: string;
  stopGraceMs: number;
  killGraceMs: number;
  /** 0: no health endpoint */
  healthPort: number;
  /** the address /healthz listens on: loopback unless a prober outside the host needs it (Kubernetes) */
  healthHost: string;
  /** Variables passed to every command (allow-list plus TASK_ENV_* with the prefix removed). */
  commandEnv: Readonly<Record<string, string>>;
  /** AGENT_RUN_AS: the user commands run as, apart from the agent (which must be root for it). */
  runAs: Readonly<RunAs> | null;
  /** AGENT_CONTAINMENT: how commands are contained (agent/containment.ts); `auto` tries a PID namespace */
  containment: 'auto' | 'pid-namespace' | 'process-group';
  /** AGENT_LIVE_OUTPUT: send output while the command runs (POST /tasks/{id}/output); off, only the finish carries it */
  liveOutput: boolean;
  /** AGENT_LABELS (`gpu,linux`): sent on pick as X-Agent-Labels; only tasks whose every label is here reach this agent */
  labels: readonly string[];
  /**
   * AGENT_NICE (0..19, default 0; `npm start`'s local agents: 10): the niceness the agent takes at
   * start, so that it, its spawner and its commands yield the CPU to the server and the database
   * they share a machine with (agent/priority.ts).
   */
  nice: number;
}>;

export type RunAs = { name: string; uid: number; gid: number; home: string };

/**
 * Resolves AGENT_RUN_AS (a user name from /etc/passwd, or `uid[:gid]`) to ids; null if unknown.
 * Running commands as another user keeps them from reading the agent's own environment
 * (/proc/<agent>/environ holds AGENT_TOKEN) and files.
 */
export function resolveRunAs(spec: string, passwd: string): RunAs | null {
  const numeric = /^(\d+)(?::(\d+))?$/.exec(spec);
  for (const line of passwd.split('\n')) {
    const [name, , uid, gid, , home] = line.split(':');
    if (name === undefined || uid === undefined || gid === undefined) continue;
    if (name === spec || (numeric && uid === numeric[1])) {
      return { name, uid: Number(uid), gid: numeric?.[2] ? Number(numeric[2]) : Number(gid), home: home || '/' };
    }
  }
  if (numeric?.[1]) {
    const uid = Number(numeric[1]);
    return { name: String(uid), uid, gid: numeric[2] ? Number(numeric[2]) : uid, home: '/' };
  }
  return null;
}

/** Thrown for bad variables; its message names each one. */
export class AgentConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration: ${problems.join('; ')}`);
    this.name = 'AgentConfigError';
  }
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60000, h: 3600000 };

/** Parses `5s`, `500ms`, `2m`, `1h` or a bare number of seconds into milliseconds; null if invalid. */
export function parseDuration(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(text.trim());
  if (!m?.[1]) return null;
  return Math.round(Number(m[1]) * (UNITS[m[2] ?? 's'] as number));
}

/** Variables a command inherits from the agent; nothing else (no tokens, no DB_*). */
export const INHERITED_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TZ', 'USER', 'LOGNAME', 'SHELL', 'TMPDIR'] as const;
export const TASK_ENV_PREFIX = 'TASK_ENV_';

type Env = Record<string, string | undefined>;

/** Reads and validates the agent's configuration; throws AgentConfigError naming every bad variable. */
export function loadAgentConfig(env: Env = process.env): AgentConfig {
  const problems: string[] = [];
  const get = (name: string) => (env[name] === undefined || env[name] === '' ? undefined : env[name]);
  const duration = (name: string, def: string, min: number, max: number) => {
    const raw = get(name) ?? def;
    const ms = parseDuration(raw);
    if (ms === null || ms < min || ms > max) {
      problems.push(`${name}=${JSON.stringify(raw)} must be a duration like 5s, 500ms or 2m, from ${min}ms to ${max / 1000}s`);
      return parseDuration(def) as number;
    }
    return ms;
  };
  const port = (name: string, def: number) => {
    const raw = get(name);
    if (raw === undefined) return def;
    if (!/^\d{1,5}$/.test(raw) || Number(raw) > 65535) {
      problems.push(`${name}=${JSON.stringify(raw)} must be a port number from 0 to 65535`);
      return def;
    }
    return Number(raw);
  };

  let backendUrl = get('BACKEND_URL');
  if (backendUrl !== undefined) {
    try {
      const u = new URL(backendUrl);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('protocol');
      backendUrl = backendUrl.replace(/\/+$/, '');
    } catch {
      problems.push(`BACKEND_URL=${JSON.stringify(backendUrl)} must be an http:// or https:// URL`);
    }
  } else {
    const host = get('BACKEND_API_HOST') ?? '127.0.0.1';
    const p = port('BACKEND_API_PORT', 3500);
    if (!/^[\w.-]+$|^\[[0-9a-fA-F:]+\]$/.test(host))
      problems.push(`BACKEND_API_HOST=${JSON.stringify(host)} must be a host name or address`);
    backendUrl = `http://${host}:${p}`;
  }

  // An address to bind, not a name to resolve: a typo must not silently listen elsewhere.
  const healthHost = get('AGENT_HEALTH_HOST') ?? '127.0.0.1';
  if (isIP(healthHost) === 0 && healthHost !== 'localhost') {
    problems.push(`AGENT_HEALTH_HOST=${JSON.stringify(healthHost)} must be an IP address (127.0.0.1, 0.0.0.0, ::1, ::) or localhost`);
  }

  const rawLevel = (get('LOG_LEVEL') ?? 'info').toLowerCase();
  if (!['debug', 'info', 'warn', 'error'].includes(rawLevel)) {
    problems.push(`LOG_LEVEL=${JSON.stringify(get('LOG_LEVEL'))} must be one of debug, info, warn, error`);
  }
  const agentId = get('AGENT_ID') ?? `${hostname()}-${process.pid}`;
  if (agentId.length > 200 || !/^[\x21-\x7e][\x20-\x7e]*$/.test(agentId)) {
    problems.push('AGENT_ID must be 1 to 200 printable ASCII characters');
  }

  const commandEnv: Record<string, string> = {};
  for (const name of INHERITED_ENV) {
    const v = env[name];
    if (v !== undefined) commandEnv[name] = v;
  }
  for (const [name, v] of Object.entries(env)) {
    if (name.startsWith(TASK_ENV_PREFIX) && name.length > TASK_ENV_PREFIX.length && v !== undefined) {
      commandEnv[name.slice(TASK_ENV_PREFIX.length)] = v;
    }
  }
  commandEnv.PATH ??= '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

  let runAs: RunAs | null = null;
  const runAsSpec = get('AGENT_RUN_AS');
  if (runAsSpec !== undefined) {
    let passwd = '';
    try {
      passwd = readFileSync('/etc/passwd', 'utf8');
    } catch {
      // no passwd file: only numeric ids resolve
    }
    runAs = resolveRunAs(runAsSpec.trim(), passwd);
    if (runAs === null)
      problems.push(`AGENT_RUN_AS=${JSON.stringify(runAsSpec)} is not a user of this host (a name from /etc/passwd, or uid[:gid])`);
    else if (process.getuid?.() !== 0)
      problems.push('AGENT_RUN_AS needs the agent to run as root (it switches to that user for each command)');
    else {
      commandEnv.HOME = runAs.home;
      commandEnv.USER = runAs.name;
      commandEnv.LOGNAME = runAs.name;
    }
  }

  const agentToken = get('AGENT_TOKEN');
  // The server refuses to start with a token this weak off loopback (functions/shared/config.ts);
  // an agent holding one would only ever get 401s.
  // On loopback the server takes a short token (it warns instead: no token at all is allowed there).
  const loopbackServer = URL.canParse(backendUrl) && isLoopbackHost(new URL(backendUrl).hostname);
  if (agentToken !== undefined && agentToken.length < MIN_TOKEN_LENGTH && !loopbackServer) {
    problems.push(`AGENT_TOKEN is ${agentToken.length} characters long; the server needs at least ${MIN_TOKEN_LENGTH}`);
  } else if (agentToken !== undefined && !/^[\x21-\x7e]+$/.test(agentToken)) {
    problems.push('AGENT_TOKEN must be printable ASCII without spaces');
  }

  const containment = (get('AGENT_CONTAINMENT') ?? 'auto').trim();
  if (!['auto', 'pid-namespace', 'process-group'].includes(containment)) {
    problems.push(`AGENT_CONTAINMENT=${JSON.stringify(containment)} must be auto, pid-namespace or process-group`);
  }

  const live = (get('AGENT_LIVE_OUTPUT') ?? 'true').toLowerCase();
  if (!['true', 'false', '1', '0'].includes(live)) {
    problems.push(`AGENT_LIVE_OUTPUT=${JSON.stringify(get('AGENT_LIVE_OUTPUT'))} must be true or false`);
  }

  const labelList = (get('AGENT_LABELS') ?? '')
    .split(',')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const labelRule = labelProblem(labelList);
  if (labelRule !== null) problems.push(`AGENT_LABELS=${JSON.stringify(get('AGENT_LABELS')?.slice(0, 80))}: ${labelRule}`);

  const niceRaw = (get('AGENT_NICE') ?? '0').trim();
  const nice = /^\d{1,2}$/.test(niceRaw) && Number(niceRaw) <= 19 ? Number(niceRaw) : null;
  if (nice === null) {
    problems.push(`AGENT_NICE=${JSON.stringify(niceRaw.slice(0, 20))} must be a whole number from 0 (no change) to 19 (yield the most)`);
  }

  const config: AgentConfig = Object.freeze({
    backendUrl: backendUrl as string,
    pollIntervalMs: duration('POLL_INTERVAL', '1s', 50, 3600000),
    pollWaitSeconds: duration('POLL_WAIT', '20s', 0, 20000) / 1000,
    logLevel: rawLevel as AgentLogLevel,
    agentToken,
    agentId,
    stopGraceMs: duration('AGENT_STOP_GRACE', '25s', 0, 3600000),
    killGraceMs: duration('AGENT_KILL_GRACE', '5s', 0, 600000),
    healthPort: port('AGENT_HEALTH_PORT', 3000),
    healthHost,
    commandEnv: Object.freeze(commandEnv),
    runAs: runAs === null ? null : Object.freeze(runAs),
    containment: containment as AgentConfig['containment'],
    liveOutput: live === 'true' || live === '1',
    labels: Object.freeze(canonicalLabels(labelList)),
    nice: nice ?? 0,
  });
  if (problems.length > 0) throw new AgentConfigError(problems);
  return config;
}
