/**
 * docker-compose.yaml, infra/Dockerfile and .dockerignore, checked without a Docker engine:
 * `docker-compose config -q` validates the file, the rest reads what the seed and issue 5 ask.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { itUnless } from '../support/conditional';
import { parseYaml, ROOT, readYaml, toolMissing } from './helpers';

const run = promisify(execFile);

type Service = {
  build?: { context: string; dockerfile: string; target: string };
  image?: string;
  ports?: string[];
  networks?: string[];
  environment?: string[] | Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  stop_grace_period?: string;
  init?: boolean;
};
type Compose = {
  version?: string;
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
  networks?: Record<string, unknown>;
};

const compose = readYaml<Compose>('docker-compose.yaml');
const composeText = readFileSync(join(ROOT, 'docker-compose.yaml'), 'utf8');
/** Compose interpolation as written in the file (not JavaScript template strings). */
const interpolated = (name: string, def = '') => `\${${name}:-${def}}`;
/** A compose variable that must be set: `${NAME:?message}`. */
const required = (name: string) => new RegExp(`^\\$\\{${name}:\\?[^}]*make env[^}]*\\}$`);
const noDocker = toolMissing('docker-compose', 'apt-get install docker-compose');

/** `docker-compose config` of the file with `env` (and no .env), or its failure. */
async function composeConfig(
  env: Record<string, string>,
  args: string[] = [],
  extraFiles: string[] = [],
): Promise<{ output: string; code: number }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(DB_|SERVER_PUBLISH|API_TOKEN|AGENT_TOKEN)/.test(k)));
  // --project-directory points at an empty folder so that a developer's own .env is not read.
  const empty = mkdtempSync(join(tmpdir(), 'compose-config-'));
  try {
    const files = ['docker-compose.yaml', ...extraFiles].flatMap((f) => ['-f', join(ROOT, f)]);
    const result = await run('docker-compose', [...files, '--project-directory', empty, 'config', ...args], {
      env: { ...clean, ...env },
    }).catch((e: { stdout?: string; stderr?: string; code?: number }) => e);
    return { output: `${result.stdout ?? ''}${result.stderr ?? ''}`, code: (result as { code?: number }).code ?? 0 };
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
}
const dockerfile = readFileSync(join(ROOT, 'infra', 'Dockerfile'), 'utf8');

function envOf(service: Service): Record<string, string> {
  const e = service.environment ?? {};
  if (!Array.isArray(e)) return e;
  return Object.fromEntries(e.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
}
const seconds = (d: string | undefined) => Number(/^(\d+)s$/.exec(d ?? '')?.[1] ?? Number.NaN);

describe('docker-compose.yaml', () => {
  itUnless(noDocker)('passes docker-compose config -q', async () => {
    expect(await composeConfig({ DB_PASSWORD: 'x' }, ['-q'])).toEqual({ output: '', code: 0 });
  });

  itUnless(noDocker)('passes docker-compose config with the labelled pool of docker-compose.labelled.yaml on top', async () => {
    const out = await composeConfig({ DB_PASSWORD: 'x' }, [], ['docker-compose.labelled.yaml']);
    expect(out.code).toBe(0);
    const resolved = parseYaml<{ services: Record<string, { environment?: Record<string, string> }> }>(out.output);
    expect(resolved.services['task-exec-agent-gpu']?.environment).toMatchObject({
      AGENT_LABELS: 'gpu',
      BACKEND_API_HOST: 'backend-api-server',
    });
    expect(resolved.services['task-exec-agent']?.environment?.AGENT_LABELS).toBe('');
  });

  itUnless(noDocker)('refuses to start without DB_PASSWORD, and says to run make env', async () => {
    const out = await composeConfig({});
    expect(out.code).not.toBe(0);
    expect(out.output).toContain('run make env');
  });

  itUnless(noDocker)(
    'publishes PostgreSQL on 127.0.0.1:15432 and the API on 3500 once interpolated, and neither port of an agent',
    async () => {
      const out = await composeConfig({ DB_PASSWORD: 'x' });
      expect(out.code).toBe(0);
      const resolved = parseYaml<{ services: Record<string, { ports?: unknown[] }> }>(out.output);
      expect(resolved.services.db?.ports).toEqual(['127.0.0.1:15432:5432/tcp']);
      expect(resolved.services['backend-api-server']?.ports).toEqual([{ published: 3500, target: 3500 }]);
      expect(resolved.services['task-exec-agent']?.ports).toBeUndefined();
    },
  );

  it('keeps the seed: its three services, the API on 3500, variables and the db-data volume, without the obsolete version key', () => {
    expect(compose.version).toBeUndefined();
    expect(Object.keys(compose.services).sort()).toEqual(['backend-api-server', 'db', 'task-exec-agent']);
    expect(compose.services['backend-api-server']?.ports).toEqual([`${interpolated('SERVER_PUBLISH_PORT', '3500')}:3500`]);
    expect(Object.keys(compose.volumes ?? {})).toEqual(['db-data']);
    const server = envOf(compose.services['backend-api-server'] as Service);
    expect(server).toMatchObject({ SERVER_PORT: '3500', DB_USER: 'postgres', DB_HOST: 'db', DB_PORT: '5432', DB_NAME: 'postgres' });
    const agent = envOf(compose.services['task-exec-agent'] as Service);
    expect(agent).toMatchObject({ BACKEND_API_HOST: 'backend-api-server', BACKEND_API_PORT: '3500' });
    expect(agent.POLL_INTERVAL).toMatch(/^\$\{POLL_INTERVAL:-5s\}$/);
  });

  it('publishes PostgreSQL on loopback only, on 15432 by default so a PostgreSQL already on the host keeps 5432, both configurable', () => {
    expect(compose.services.db?.ports).toEqual([
      `${interpolated('DB_PUBLISH_HOST', '127.0.0.1')}:${interpolated('DB_PUBLISH_PORT', '15432')}:5432`,
    ]);
  });

  it('puts the database on a network the agents do not join: only the API reaches it', () => {
    expect(Object.keys(compose.networks ?? {})).toEqual(['data']);
    expect(compose.services.db?.networks).toEqual(['data']);
    expect(compose.services['backend-api-server']?.networks).toEqual(['default', 'data']);
    // No networks key: the agents are on `default` alone.
    expect(compose.services['task-exec-agent']?.networks ?? ['default']).toEqual(['default']);
  });

  it('has no default database password: both sides take DB_PASSWORD from .env, and compose refuses without it', () => {
    expect(composeText).not.toMatch(/secretpass/);
    expect(envOf(compose.services['backend-api-server'] as Service).DB_PASSWORD).toMatch(required('DB_PASSWORD'));
    expect(envOf(compose.services.db as Service).POSTGRES_PASSWORD).toMatch(required('DB_PASSWORD'));
  });

  it("publishes no agent port, and keeps the agent's /healthz on the container's loopback where its healthcheck runs", () => {
    const agent = compose.services['task-exec-agent'] as Service;
    expect(agent.ports).toBeUndefined();
    expect(envOf(agent).AGENT_HEALTH_HOST).toBe('127.0.0.1');
    expect(agent.healthcheck?.test[3]).toContain('http://127.0.0.1:');
  });

  it('listens on all interfaces in the server container and takes both tokens from .env', () => {
    const server = envOf(compose.services['backend-api-server'] as Service);
    const agent = envOf(compose.services['task-exec-agent'] as Service);
    expect(server.SERVER_HOST).toBe('0.0.0.0');
    expect(server.API_TOKEN).toBe(interpolated('API_TOKEN'));
    expect(server.AGENT_TOKEN).toBe(interpolated('AGENT_TOKEN'));
    expect(agent.AGENT_TOKEN).toBe(interpolated('AGENT_TOKEN'));
    expect(agent.API_TOKEN).toBeUndefined();
  });

  it('health-checks with what the images contain and starts each service after its dependency is healthy', () => {
    const s = compose.services;
    expect(s['backend-api-server']?.healthcheck?.test.slice(0, 3)).toEqual(['CMD', 'node', '-e']);
    expect(s['backend-api-server']?.healthcheck?.test[3]).toContain("fetch('http://127.0.0.1:3500/health')");
    expect(s['task-exec-agent']?.healthcheck?.test.slice(0, 3)).toEqual(['CMD', 'node', '-e']);
    expect(s['task-exec-agent']?.healthcheck?.test[3]).toContain("fetch('http://127.0.0.1:3000/healthz')");
    expect(envOf(s['task-exec-agent'] as Service).AGENT_HEALTH_PORT).toBe('3000');
    expect(s.db?.healthcheck?.test.join(' ')).toContain('pg_isready');
    expect(s['backend-api-server']?.depends_on).toEqual({ db: { condition: 'service_healthy' } });
    expect(s['task-exec-agent']?.depends_on).toEqual({ 'backend-api-server': { condition: 'service_healthy' } });
  });

  it('gives the agent longer to stop than its own grace plus its kill grace (5s) and report', () => {
    const agent = compose.services['task-exec-agent'] as Service;
    const grace = seconds(envOf(agent).AGENT_STOP_GRACE);
    expect(grace).toBe(25);
    expect(seconds(agent.stop_grace_period)).toBeGreaterThanOrEqual(grace + 5 + 5);
  });

  it('builds both images from infra/Dockerfile targets', () => {
    expect(compose.services['backend-api-server']?.build).toEqual({ context: '.', dockerfile: 'infra/Dockerfile', target: 'server' });
    expect(compose.services['task-exec-agent']?.build).toEqual({ context: '.', dockerfile: 'infra/Dockerfile', target: 'agent' });
  });
});

describe('infra/Dockerfile', () => {
  const stages = [...dockerfile.matchAll(/^FROM\s+(\S+)\s+AS\s+(\S+)/gim)].map((m) => ({ from: m[1], name: m[2] }));
  const stageText = (name: string) => {
    const start = dockerfile.search(new RegExp(`^FROM\\s+\\S+\\s+AS\\s+${name}\\s*$`, 'im'));
    const next = dockerfile.slice(start + 1).search(/^FROM\s/im);
    return next === -1 ? dockerfile.slice(start) : dockerfile.slice(start, start + 1 + next);
  };

  it('is multi-stage on a Node 22 or 24 slim image', () => {
    expect(stages.map((s) => s.name)).toEqual(['build', 'base', 'agent', 'server']);
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:(22|24)-[a-z]+-slim$/m);
  });

  it('has no `# syntax=` line (BuildKit would fetch that frontend from Docker Hub, so offline builds fail)', () => {
    expect(dockerfile).not.toMatch(/^#\s*syntax=/im);
  });

  it('compiles with npm run build, and installs production dependencies only in the server image', () => {
    expect(stageText('build')).toMatch(/RUN npm run build/);
    expect(stageText('server')).toMatch(/RUN npm ci --omit=dev/);
    expect(stageText('server')).toMatch(/COPY --from=build \/src\/dist \.\/dist/);
  });

  it('ships the agent as its bundle alone: no node_modules, no server build', () => {
    const agent = stageText('agent');
    expect(agent.match(/^COPY .*/gm)).toEqual(['COPY --from=build /src/dist/agent.js ./agent.js']);
    expect(agent).not.toMatch(/npm ci/);
    expect(stageText('base')).not.toMatch(/^COPY /m);
  });

  it('runs compiled JavaScript with plain node under tini, as a non-root user', () => {
    for (const stage of ['agent', 'server']) expect(stageText(stage)).toMatch(/^USER node$/m);
    expect(stageText('base')).toMatch(/^ENTRYPOINT \["\/usr\/bin\/tini", "--"\]$/m);
    expect(stageText('server')).toMatch(/^CMD \["node", "dist\/infra\/local\/server-main\.js"\]$/m);
    expect(stageText('agent')).toMatch(/^CMD \["node", "agent\.js"\]$/m);
    const instructions = dockerfile.split('\n').filter((l) => !l.startsWith('#'));
    expect(instructions.join('\n')).not.toMatch(/\btsx\b/);
  });

  it('ships the migrations where findMigrationsDir looks from dist/ (see image-layout.test.ts)', () => {
    expect(stageText('server')).toMatch(/COPY --from=build \/src\/infra\/migrations \.\/infra\/migrations/);
    expect(stageText('server')).toMatch(/SERVER_HOST=0\.0\.0\.0/);
  });

  it('keeps .env, node_modules and local state out of the build context', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
    for (const entry of ['.env', 'node_modules', 'dist', '.data', '.git']) expect(ignored).toContain(entry);
  });
});
