/**
 * The Makefile's targets, dry-run with `make -n` (no Docker engine here), the compose command
 * fallback, and the .env it writes on first use (run for real in a scratch folder).
 */
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './helpers';

const run = promisify(execFile);
const USAGE = 'usage: make scale-agents num=N';

type Outcome = { code: number; stdout: string; stderr: string };

/** Runs make in `cwd` with a `docker` stand-in whose `compose version` succeeds or fails. */
async function make(args: string[], opts: { cwd?: string; composeV2?: boolean } = {}): Promise<Outcome> {
  const bin = mkdtempSync(join(tmpdir(), 'make-bin-'));
  writeFileSync(join(bin, 'docker'), `#!/bin/sh\n[ "$1 $2" = "compose version" ] && exit ${opts.composeV2 ? 0 : 1}\nexit 1\n`);
  chmodSync(join(bin, 'docker'), 0o755);
  try {
    const { stdout, stderr } = await run('make', args, {
      cwd: opts.cwd ?? ROOT,
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: err.code ?? 1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
}

const commands = (out: Outcome) => out.stdout.split('\n').filter((l) => /^(docker|echo)/.test(l));

describe('the Makefile (make -n)', () => {
  it.each([
    ['run', ['docker compose up -d --build']],
    ['down', ['docker compose down']],
    ['down-prune-db', ['docker compose down -v']],
    ['logs', ['docker compose logs -f']],
  ])('%s runs the seed command with docker compose', async (target, expected) => {
    const out = await make(['-n', target], { composeV2: true });
    expect(out.code).toBe(0);
    expect(commands(out)).toEqual(expected);
  });

  it('falls back to docker-compose when docker has no compose plugin', async () => {
    const out = await make(['-n', 'down'], { composeV2: false });
    expect(commands(out)).toEqual(['docker-compose down']);
  });

  it('scales the agents with scale-agents num=3', async () => {
    const out = await make(['-n', 'scale-agents', 'num=3'], { composeV2: true });
    expect(out.code).toBe(0);
    expect(commands(out)).toEqual(['echo "Scaling task-exec-agent to 3 instance(s)..."', 'docker compose up -d --scale task-exec-agent=3']);
  });

  it('writes the tokens and the database password before every compose command (the compose file has no default password)', async () => {
    for (const target of [['run'], ['scale-agents', 'num=2'], ['down'], ['down-prune-db'], ['logs']]) {
      const out = await make(['-n', ...target], { composeV2: true });
      expect(out.stdout).toMatch(/API_TOKEN=\$\(openssl rand -hex 32/);
      expect(out.stdout).toMatch(/AGENT_TOKEN=\$\(openssl rand -hex 32/);
      expect(out.stdout).toMatch(/DB_PASSWORD=\$\(openssl rand -hex 32/);
    }
  });

  it.each([[[]], [['num=abc']], [['num=3x']], [['num=']], [['num=1 2']]])(
    'refuses scale-agents %j with the usage line and a non-zero exit',
    async (extra) => {
      const out = await make(['-n', 'scale-agents', ...extra], { composeV2: true });
      expect(out.code).not.toBe(0);
      expect(out.stderr).toContain(USAGE);
      expect(out.stdout).not.toContain('docker');
    },
  );

  it.each([
    ['dev', 'npm start'],
    ['test', 'npm test'],
    ['lint', 'npm run lint'],
    ['bench', 'npm run bench'],
    ['smoke', 'npm run test:compose'],
  ])('%s runs %s', async (target, command) => {
    const out = await make(['-n', target]);
    expect(out.stdout.trim()).toBe(command);
  });
});

describe('the .env that make writes', () => {
  it('adds only DB_PASSWORD to an .env from before it, keeping the tokens there', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'make-env-'));
    try {
      copyFileSync(join(ROOT, 'Makefile'), join(dir, 'Makefile'));
      const old = `API_TOKEN=${'a'.repeat(64)}\nAGENT_TOKEN=${'b'.repeat(64)}\nDB_PUBLISH_PORT=15433\n`;
      writeFileSync(join(dir, '.env'), old);
      const made = await make(['env'], { cwd: dir });
      expect(made.stdout.trim().split('\n')).toEqual([expect.stringMatching(/^wrote a new DB_PASSWORD to \.env .*make down-prune-db\)$/)]);
      const now = readFileSync(join(dir, '.env'), 'utf8');
      expect(now.startsWith(old)).toBe(true);
      expect(now.slice(old.length)).toMatch(/^DB_PASSWORD=[0-9a-f]{64}\n$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('holds two random 64-hex tokens and a random 64-hex DB_PASSWORD, is private to its owner, is kept on later runs, and is git-ignored', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'make-env-'));
    try {
      copyFileSync(join(ROOT, 'Makefile'), join(dir, 'Makefile'));
      const made = await make(['env'], { cwd: dir });
      expect(made.code).toBe(0);
      expect(made.stdout).toContain('wrote a new DB_PASSWORD to .env');
      const first = readFileSync(join(dir, '.env'), 'utf8');
      expect(first).toMatch(/^API_TOKEN=[0-9a-f]{64}$/m);
      expect(first).toMatch(/^AGENT_TOKEN=[0-9a-f]{64}$/m);
      expect(first).toMatch(/^DB_PASSWORD=[0-9a-f]{64}$/m);
      const values = ['API_TOKEN', 'AGENT_TOKEN', 'DB_PASSWORD'].map((k) => new RegExp(`^${k}=(\\w+)$`, 'm').exec(first)?.[1]);
      expect(new Set(values).size).toBe(3);
      expect(statSync(join(dir, '.env')).mode & 0o777).toBe(0o600);
      expect((await make(['env'], { cwd: dir })).stdout).toBe('');
      expect(readFileSync(join(dir, '.env'), 'utf8')).toBe(first);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const ignored = await run('git', ['check-ignore', '-q', '.env'], { cwd: ROOT }).then(
      () => true,
      () => false,
    );
    expect(ignored).toBe(true);
  });
});
