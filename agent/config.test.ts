import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { AgentConfigError, loadAgentConfig, parseDuration, resolveRunAs } from './config';

/** The message loadAgentConfig throws for `env`, or fails the test when it accepts it. */
function problemWith(env: Record<string, string>): string {
  try {
    loadAgentConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(AgentConfigError);
    return (error as Error).message;
  }
  throw new Error(`loadAgentConfig accepted ${JSON.stringify(env)}`);
}

describe('loadAgentConfig', () => {
  it('reads AGENT_LABELS sorted and deduplicated, none by default', () => {
    expect(loadAgentConfig({}).labels).toEqual([]);
    expect(loadAgentConfig({ AGENT_LABELS: ' linux, gpu,gpu ' }).labels).toEqual(['gpu', 'linux']);
  });

  it.each(['gpu,-x', 'a b', 'a'.repeat(64), Array.from({ length: 17 }, (_, i) => `l${i}`).join(',')])(
    'refuses AGENT_LABELS=%j naming the variable and the rule',
    (value) => {
      expect(problemWith({ AGENT_LABELS: value })).toMatch(/AGENT_LABELS=.*(at most 16 labels|must be 1-63 characters)/);
    },
  );

  it('reads AGENT_NICE, 0 (no change) by default', () => {
    expect(loadAgentConfig({}).nice).toBe(0);
    expect(loadAgentConfig({ AGENT_NICE: '10' }).nice).toBe(10);
    expect(loadAgentConfig({ AGENT_NICE: ' 19 ' }).nice).toBe(19);
  });

  it.each(['20', '-1', '+5', 'low', '1.5', '100'])('refuses AGENT_NICE=%j naming the variable and the range', (value) => {
    expect(problemWith({ AGENT_NICE: value })).toMatch(/AGENT_NICE=.* must be a whole number from 0 \(no change\) to 19/);
  });

  it('uses the documented defaults when nothing is set', () => {
    const c = loadAgentConfig({});
    expect(c).toMatchObject({
      backendUrl: 'http://127.0.0.1:3500',
      pollIntervalMs: 1000,
      pollWaitSeconds: 20,
      stopGraceMs: 25000,
      healthPort: 3000,
      healthHost: '127.0.0.1',
      logLevel: 'info',
      agentToken: undefined,
      agentId: `${hostname()}-${process.pid}`,
    });
    expect(c.commandEnv.PATH).toBeTruthy();
  });

  it('builds the backend URL from BACKEND_API_HOST and BACKEND_API_PORT', () => {
    expect(loadAgentConfig({ BACKEND_API_HOST: 'backend-api-server', BACKEND_API_PORT: '8080' }).backendUrl).toBe(
      'http://backend-api-server:8080',
    );
    expect(loadAgentConfig({ BACKEND_API_HOST: 'backend-api-server' }).backendUrl).toBe('http://backend-api-server:3500');
  });

  it('prefers BACKEND_URL, without its trailing slash', () => {
    expect(loadAgentConfig({ BACKEND_URL: 'https://tasks.example.com/api/', BACKEND_API_HOST: 'ignored' }).backendUrl).toBe(
      'https://tasks.example.com/api',
    );
  });

  it('treats an empty variable as unset', () => {
    expect(loadAgentConfig({ POLL_INTERVAL: '', BACKEND_API_PORT: '', LOG_LEVEL: '' })).toMatchObject({
      pollIntervalMs: 1000,
      backendUrl: 'http://127.0.0.1:3500',
      logLevel: 'info',
    });
  });

  it.each([
    ['5s', 5000],
    ['500ms', 500],
    ['2m', 120000],
    ['1.5s', 1500],
    ['3', 3000],
  ])('reads the duration %s as %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
    expect(loadAgentConfig({ POLL_INTERVAL: text }).pollIntervalMs).toBe(ms);
  });

  it('reads POLL_WAIT and AGENT_STOP_GRACE as durations', () => {
    const c = loadAgentConfig({ POLL_WAIT: '500ms', AGENT_STOP_GRACE: '1m', AGENT_HEALTH_PORT: '0' });
    expect(c).toMatchObject({ pollWaitSeconds: 0.5, stopGraceMs: 60000, healthPort: 0 });
  });

  it.each(['0.0.0.0', '::', '::1', '10.0.0.7', 'localhost'])('takes AGENT_HEALTH_HOST=%s as the address /healthz listens on', (host) => {
    expect(loadAgentConfig({ AGENT_HEALTH_HOST: host }).healthHost).toBe(host);
  });

  it('accepts the log level in any case', () => {
    expect(loadAgentConfig({ LOG_LEVEL: 'DEBUG' }).logLevel).toBe('debug');
  });

  it.each([
    ['BACKEND_API_PORT', 'abc'],
    ['BACKEND_API_PORT', '70000'],
    ['POLL_INTERVAL', '-1'],
    ['POLL_INTERVAL', 'soon'],
    ['POLL_WAIT', '30s'],
    ['AGENT_STOP_GRACE', '-5s'],
    ['AGENT_HEALTH_PORT', 'http'],
    ['AGENT_HEALTH_HOST', 'all'],
    ['AGENT_HEALTH_HOST', 'example.com'],
    ['AGENT_HEALTH_HOST', '0.0.0.0:3000'],
    ['LOG_LEVEL', 'loud'],
    ['BACKEND_URL', 'ftp://x'],
    ['BACKEND_URL', 'not a url'],
  ])('refuses %s=%s, naming the variable and its value', (name, value) => {
    const message = problemWith({ [name]: value });
    expect(message).toContain(`${name}=${JSON.stringify(value)}`);
  });

  it('names every bad variable in one message', () => {
    const message = problemWith({ BACKEND_API_PORT: 'abc', POLL_INTERVAL: '-1', LOG_LEVEL: 'loud' });
    expect(message).toContain('BACKEND_API_PORT');
    expect(message).toContain('POLL_INTERVAL');
    expect(message).toContain('LOG_LEVEL');
    expect(message.split('\n')).toHaveLength(1);
  });

  it('reads AGENT_CONTAINMENT, auto by default, and names a bad value', () => {
    expect(loadAgentConfig({}).containment).toBe('auto');
    expect(loadAgentConfig({ AGENT_CONTAINMENT: 'process-group' }).containment).toBe('process-group');
    expect(loadAgentConfig({ AGENT_CONTAINMENT: 'pid-namespace' }).containment).toBe('pid-namespace');
    expect(problemWith({ AGENT_CONTAINMENT: 'docker' })).toContain(
      'AGENT_CONTAINMENT="docker" must be auto, pid-namespace or process-group',
    );
  });

  it('refuses an AGENT_TOKEN under 16 characters for a server off loopback, which would refuse it too', () => {
    const remote = { AGENT_TOKEN: 'fifteen-chars-x', BACKEND_URL: 'http://api.internal:3500' };
    expect(problemWith(remote)).toContain('AGENT_TOKEN is 15 characters long; the server needs at least 16');
    expect(problemWith(remote)).not.toContain('fifteen-chars-x');
    // A loopback server takes it (with a warning of its own), so the agent does too.
    expect(loadAgentConfig({ AGENT_TOKEN: 'fifteen-chars-x' }).agentToken).toBe('fifteen-chars-x');
    expect(loadAgentConfig({ AGENT_TOKEN: 'sixteen-chars-xy' }).agentToken).toBe('sixteen-chars-xy');
  });

  it('passes tokens and database settings to no command, and TASK_ENV_* without the prefix', () => {
    const c = loadAgentConfig({
      PATH: '/usr/bin:/bin',
      AGENT_TOKEN: 'agent-secret-0123456789',
      API_TOKEN: 'api-secret-0123456789',
      DB_PASSWORD: 'db-secret',
      DATABASE_URL: 'postgres://u:p@h/d',
      TASK_ENV_FOO: 'bar',
    });
    expect(c.agentToken).toBe('agent-secret-0123456789');
    expect(c.commandEnv).toEqual({ PATH: '/usr/bin:/bin', FOO: 'bar' });
  });

  it('returns a frozen object', () => {
    const c = loadAgentConfig({});
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.commandEnv)).toBe(true);
  });
});

describe('the agent process with a bad variable', () => {
  it('exits non-zero at start with one line naming POLL_INTERVAL and no stack trace', async () => {
    const root = join(__dirname, '..');
    const child = spawn('npx', ['tsx', 'agent/main.ts'], {
      cwd: root,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, POLL_INTERVAL: '-1', AGENT_HEALTH_PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));

    expect(code).not.toBe(0);
    expect(code).not.toBeNull();
    const lines = `${stdout}${stderr}`.split('\n').filter((l) => l.trim() !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('POLL_INTERVAL="-1"');
    expect(stderr).not.toMatch(/^\s+at /m);
  });
});

describe('AGENT_RUN_AS', () => {
  const passwd = 'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n';

  it('resolves a user name, a uid, and uid:gid through the passwd file', () => {
    expect(resolveRunAs('nobody', passwd)).toEqual({ name: 'nobody', uid: 65534, gid: 65534, home: '/nonexistent' });
    expect(resolveRunAs('65534', passwd)).toMatchObject({ name: 'nobody', uid: 65534, gid: 65534 });
    expect(resolveRunAs('65534:100', passwd)).toMatchObject({ uid: 65534, gid: 100 });
    expect(resolveRunAs('4242', passwd)).toEqual({ name: '4242', uid: 4242, gid: 4242, home: '/' });
  });

  it('refuses a user that does not exist, naming the variable', () => {
    expect(resolveRunAs('no-such-user', passwd)).toBeNull();
    expect(() => loadAgentConfig({ AGENT_RUN_AS: 'no-such-user-here' })).toThrow(/AGENT_RUN_AS="no-such-user-here" is not a user/);
  });

  it("gives commands that user's HOME, USER and LOGNAME when the agent is root", () => {
    if (process.getuid?.() !== 0)
      return expect(() => loadAgentConfig({ AGENT_RUN_AS: 'nobody' })).toThrow(/needs the agent to run as root/);
    const config = loadAgentConfig({ AGENT_RUN_AS: 'nobody', HOME: '/root', USER: 'root' });
    expect(config.runAs).toMatchObject({ name: 'nobody' });
    expect(config.commandEnv).toMatchObject({ USER: 'nobody', LOGNAME: 'nobody' });
    expect(config.commandEnv.HOME).not.toBe('/root');
  });
});
