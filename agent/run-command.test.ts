/**
 * runCommand against the real /bin/sh: exit codes, capture, the output cap, timeouts, stops,
 * the environment, the working directory and what a command leaves behind.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor as waitUntil } from '../test/support/clock';
import { processAlive } from '../test/support/processes';
import { loadAgentConfig, resolveRunAs } from './config';
import { type RunOptions, type RunResult, runCommand } from './run-command';

const MiB = 1048576;
const BASE_ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

function run(command: string, overrides: Partial<RunOptions> = {}): Promise<RunResult> {
  return runCommand({ command, timeoutSeconds: 30, env: BASE_ENV, outputLimitBytes: MiB, killGraceMs: 2000, ...overrides });
}

/** The kit's poll, checking every 25 ms, giving up after 15 s unless told. */
const waitFor = <T>(what: string, probe: () => T | Promise<T>, timeoutMs = 15000) => waitUntil(what, probe, timeoutMs, 25);

/** True while the process exists and is not a zombie (PID 1 here may never reap orphans). */
const isAlive = processAlive;

const pidsIn = (text: string) =>
  text
    .split('\n')
    .filter((l) => /^\d+$/.test(l))
    .map(Number);

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'run-command-test-'));
});
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

describe('runCommand', () => {
  it('reports a command that exits 0 as succeeded with its stdout', async () => {
    const { capture, ...r } = await run('echo hello');
    expect(r).toEqual({ state: 'succeeded', exitCode: 0, stdout: 'hello\n', stderr: '', outputTruncated: false, error: null });
    expect(capture?.stdout.totalBytes).toBe(6);
  });

  it('hands each piece of output to onOutput as the command writes it, before it exits', async () => {
    // The command goes on only once onOutput has seen its first line.
    const flag = join(scratch, 'seen-one');
    const seen: string[] = [];
    const r = await run(`printf 'one\\n'; printf 'err' >&2; while [ ! -e '${flag}' ]; do sleep 0.02; done; printf 'two\\n'`, {
      timeoutSeconds: 10,
      onOutput: (stream, chunk) => {
        seen.push(`${stream}:${chunk.toString()}`);
        if (chunk.toString().includes('one')) writeFileSync(flag, '');
      },
    });
    expect(r.state).toBe('succeeded');
    expect(seen.filter((s) => s.startsWith('stdout:')).join('')).toBe('stdout:one\nstdout:two\n');
    expect(seen).toContain('stderr:err');
    expect(r.stdout).toBe('one\ntwo\n');
  });

  it('reports a non-zero exit as failed with its exit code', async () => {
    const r = await run('echo partial; exit 3');
    expect(r).toMatchObject({ state: 'failed', exitCode: 3, stdout: 'partial\n', error: null });
  });

  it('captures stderr apart from stdout', async () => {
    const r = await run('echo to-out; echo to-err >&2');
    expect(r.stdout).toBe('to-out\n');
    expect(r.stderr).toBe('to-err\n');
    expect(r.state).toBe('succeeded');
  });

  it('replaces bytes that are not UTF-8 with U+FFFD and keeps the rest', async () => {
    const r = await run("printf '\\377\\376abc'; printf 'x\\377y' >&2");
    expect(r.stdout).toBe('\uFFFD\uFFFDabc');
    expect(r.stderr).toBe('x\uFFFDy');
  });

  it('replaces NUL bytes, which PostgreSQL text cannot hold', async () => {
    const r = await run("printf 'a\\000b\\000'");
    expect(r.stdout).toBe('a\uFFFDb\uFFFD');
  });

  it('keeps the head and the tail of 3 MB of output within the limit, with a marker counting the bytes left out', async () => {
    const last = 450000;
    const r = await run(`seq 1 ${last}`);
    let full = '';
    for (let i = 1; i <= last; i++) full += `${i}\n`;
    expect(Buffer.byteLength(full)).toBeGreaterThan(3_000_000);

    expect(r.state).toBe('succeeded');
    expect(r.outputTruncated).toBe(true);
    expect(Buffer.byteLength(r.stdout)).toBeLessThanOrEqual(MiB);
    const markers = [...r.stdout.matchAll(/\n\[\.\.\. (\d+) bytes omitted \.\.\.\]\n/g)];
    expect(markers).toHaveLength(1);
    const marker = markers[0] as RegExpMatchArray;
    const head = r.stdout.slice(0, marker.index);
    const tail = r.stdout.slice((marker.index as number) + marker[0].length);
    expect(full.startsWith(head)).toBe(true);
    expect(full.endsWith(tail)).toBe(true);
    expect(tail.endsWith(`${last}\n`)).toBe(true);
    expect(Buffer.byteLength(head)).toBeGreaterThan(MiB / 4);
    expect(Buffer.byteLength(tail)).toBeGreaterThan(MiB / 4);
    expect(Buffer.byteLength(head) + Number(marker[1]) + Buffer.byteLength(tail)).toBe(Buffer.byteLength(full));
  });

  it('does not mark output that fits as truncated', async () => {
    const r = await run('head -c 1000 /dev/zero | tr "\\000" a', { outputLimitBytes: 1024 });
    expect(r.stdout).toBe('a'.repeat(1000));
    expect(r.outputTruncated).toBe(false);
  });

  it('runs the command as the leader of its own process group', async () => {
    const r = await run('echo $$; ps -o pgid= -p $$');
    const [pid, pgid] = r.stdout.split('\n').map((s) => s.trim());
    expect(pid).toMatch(/^\d+$/);
    expect(pgid).toBe(pid);
  });

  it('stops a command that outlives its timeout as timed_out, killing the children it started too', async () => {
    const r = await run('sleep 300 & echo $!; echo $$; sleep 30', { timeoutSeconds: 1 });
    expect(r.state).toBe('timed_out');
    expect(r.error).toBe('timed out after 1s');
    expect(r.exitCode).toBeNull();
    const pids = pidsIn(r.stdout);
    expect(pids).toHaveLength(2);
    for (const pid of pids) await waitFor(`process ${pid} to be gone`, () => !isAlive(pid));
  });

  it('sends SIGKILL after killGraceMs to a command that ignores SIGTERM', async () => {
    const ready = join(scratch, 'ignores-term');
    const stopper = new AbortController();
    const result = run(`trap '' TERM; echo $$ > ${ready}.tmp && mv ${ready}.tmp ${ready}; sleep 300`, {
      signal: stopper.signal,
      killGraceMs: 200,
    });
    const pid = Number(await waitFor('the command to start', () => existsSync(ready) && readFileSync(ready, 'utf8').trim()));
    stopper.abort({ state: 'canceled', error: 'canceled by user' });
    // `sleep 300` inherits the ignored SIGTERM: only SIGKILL can end this before the test times out.
    const r = await result;
    expect(r).toMatchObject({ state: 'canceled', error: 'canceled by user', exitCode: null });
    await waitFor(`process ${pid} to be gone`, () => !isAlive(pid));
  });

  it('sends SIGTERM first, and SIGKILL to a command that survives it', async () => {
    const ready = join(scratch, 'survives-term');
    const stopper = new AbortController();
    const result = run(`trap 'echo caught TERM >&2' TERM; touch ${ready}; while :; do sleep 1; done`, {
      signal: stopper.signal,
      killGraceMs: 3000,
    });
    await waitFor('the command to start', () => existsSync(ready));
    stopper.abort({ state: 'canceled', error: 'canceled by user' });
    const r = await result;
    expect(r.stderr).toContain('caught TERM');
    expect(r).toMatchObject({ state: 'canceled', exitCode: null });
  });

  it('reports a command killed by a signal as failed, naming the signal', async () => {
    const r = await run('echo before; kill -KILL $$');
    expect(r).toMatchObject({ state: 'failed', exitCode: null, stdout: 'before\n', error: 'killed by signal SIGKILL' });
  });

  it('gives the command an empty stdin, so a command reading it does not hang', async () => {
    const r = await run('cat; echo done');
    expect(r).toMatchObject({ state: 'succeeded', stdout: 'done\n' });
  });

  it('reports a command that does not exist as failed with exit code 127 and "not found" on stderr', async () => {
    const r = await run('no-such-command-3f9a');
    expect(r).toMatchObject({ state: 'failed', exitCode: 127, error: null });
    expect(r.stderr).toMatch(/no-such-command-3f9a.*not found/);
  });

  it('reports a command the system refuses to execute as failed with "could not start", never by rejecting', async () => {
    // One argument over MAX_ARG_STRLEN (128 KiB on Linux): execve fails with E2BIG.
    const r = await run(`: ${'x'.repeat(200 * 1024)}`);
    expect(r).toMatchObject({ state: 'failed', exitCode: null, stdout: '', stderr: '' });
    expect(r.error).toMatch(/^could not start: .*E2BIG/);
  });

  it('stops the command when its signal aborts, with the reason as state and error', async () => {
    const ready = join(scratch, 'abort');
    const stopper = new AbortController();
    const result = run(`echo $$ > ${ready}.tmp && mv ${ready}.tmp ${ready}; sleep 300`, { signal: stopper.signal });
    const pid = Number(await waitFor('the command to start', () => existsSync(ready) && readFileSync(ready, 'utf8').trim()));
    stopper.abort({ state: 'canceled', error: 'canceled by user' });
    const r = await result;
    expect(r).toMatchObject({ state: 'canceled', error: 'canceled by user', exitCode: null });
    await waitFor(`process ${pid} to be gone`, () => !isAlive(pid));
  });

  it('stops the command at once when its signal was aborted before it started', async () => {
    const stopper = new AbortController();
    stopper.abort({ state: 'failed', error: 'agent stopped' });
    const r = await run('sleep 300', { signal: stopper.signal });
    expect(r).toMatchObject({ state: 'failed', error: 'agent stopped', exitCode: null });
  });

  it('passes no tokens or database secrets into the command, and TASK_ENV_FOO as FOO', async () => {
    const config = loadAgentConfig({
      PATH: BASE_ENV.PATH,
      HOME: '/root',
      AGENT_TOKEN: 'agent-secret-1-0123456789',
      API_TOKEN: 'api-secret-2-0123456789',
      DB_PASSWORD: 'db-secret-3',
      DATABASE_URL: 'postgres://u:db-secret-4@db/tasks',
      TASK_ENV_FOO: 'bar',
    });
    // The environment the agent gives every command (agent.ts).
    const r = await run('env', { env: { ...config.commandEnv, TASK_ID: 'task-42' } });
    const vars = r.stdout.split('\n');
    expect(vars).toEqual(expect.arrayContaining(['FOO=bar', 'TASK_ID=task-42', 'HOME=/root']));
    expect(r.stdout).not.toMatch(/AGENT_TOKEN|API_TOKEN|DB_PASSWORD|DATABASE_URL|TASK_ENV_|secret/);
  });

  it('runs the command in a fresh empty temporary directory that is removed afterwards', async () => {
    const r = await run('pwd; ls -A | wc -l; touch left-behind');
    const [dir, entries] = r.stdout.split('\n');
    expect(dir?.startsWith(join(tmpdir(), 'task-'))).toBe(true);
    expect(entries?.trim()).toBe('0');
    expect(existsSync(dir as string)).toBe(false);
    const again = await run('pwd');
    expect(again.stdout).not.toBe(r.stdout.split('\n')[0]);
  });

  it.each([
    ['a file made and removed', 'touch x; rm x'],
    ['chmod', 'chmod 777 .'],
    ['a hidden directory', 'mkdir .d'],
  ])('reuses a directory only while no command touched it: %s', async (_what, touch) => {
    const first = (await run('pwd')).stdout.trim();
    const second = (await run(`pwd; ${touch}`)).stdout.split('\n')[0];
    // An untouched directory may be the next command's (it is as it was made) ...
    expect(second).toBe(first);
    // ... a touched one never is, and it is gone.
    const third = await run('pwd; ls -A | wc -l; stat -c %a .');
    const [dir, entries, mode] = third.stdout.split('\n');
    expect(dir).not.toBe(second);
    expect(existsSync(second as string)).toBe(false);
    expect(entries?.trim()).toBe('0');
    expect(mode).toBe('700');
  });

  it('kills a background process that a finished command left behind', async () => {
    const r = await run('sleep 300 > /dev/null 2>&1 & echo $!');
    expect(r.state).toBe('succeeded');
    const [pid] = pidsIn(r.stdout);
    expect(pid).toBeDefined();
    await waitFor(`process ${pid} to be gone`, () => !isAlive(pid as number));
  });

  it('returns emoji, quotes, $(...), newlines and right-to-left text byte-exact', async () => {
    const text = 'emoji 😀👍🏽 🇫🇷\n"double" \'single\' `tick` $(echo not-run) $HOME \\n\nשלום עולם مرحبا بالعالم\n\ttab end\n';
    const r = await run(`cat <<'END_OF_TEXT'\n${text}END_OF_TEXT`);
    expect(r.stdout).toBe(text);
    expect(Buffer.from(r.stdout)).toEqual(Buffer.from(text));
  });
});

const asRoot = process.getuid?.() === 0;
// "nobody" from /etc/passwd where there is one, else uid 65534 as a bare number.
const nobody = resolveRunAs('nobody', existsSync('/etc/passwd') ? readFileSync('/etc/passwd', 'utf8') : '') ?? resolveRunAs('65534', '');

describe('runCommand as another user (AGENT_RUN_AS)', () => {
  if (!asRoot || nobody === null) {
    it('is refused at start when the agent is not root', () => {
      expect(() => loadAgentConfig({ AGENT_RUN_AS: '65534' })).toThrow(/needs the agent to run as root/);
    });
    return;
  }
  const runAs = { uid: nobody.uid, gid: nobody.gid };

  it('runs the command with that uid and gid, in a working directory it owns', async () => {
    const r = await run('id -u; id -g; touch made-here && echo wrote', { runAs });
    expect(r).toMatchObject({ state: 'succeeded', stdout: `${nobody.uid}\n${nobody.gid}\nwrote\n` });
  });

  it("keeps the command from reading the agent's own environment, where AGENT_TOKEN lives", async () => {
    const r = await run('cat /proc/$PPID/environ', { runAs });
    expect(r.state).toBe('failed');
    expect(r.stderr).toMatch(/Permission denied/);
    const same = await run('cat /proc/$PPID/environ >/dev/null && echo readable');
    expect(same.stdout).toBe('readable\n');
  });

  it('still stops the whole process group of a command running as that user', async () => {
    const r = await run('sleep 300 & echo $!; wait', { runAs, timeoutSeconds: 1 });
    expect(r.state).toBe('timed_out');
    const child = Number.parseInt(r.stdout, 10);
    await waitFor('the child to be gone', () => !isAlive(child));
  });
});

describe('the process check used above', () => {
  it('sees a live process as alive and a reaped one as gone', () => {
    expect(isAlive(process.pid)).toBe(true);
    const pid = Number(execFileSync('/bin/sh', ['-c', 'echo $$']).toString().trim());
    expect(isAlive(pid)).toBe(false);
  });
});
