/**
 * infra/k8s: the kustomize base and the example overlay, built (by `kubectl kustomize` where it
 * exists, and by the reader in kustomize.ts everywhere), validated against the Kubernetes and KEDA
 * schemas (kubernetes-models, @kubernetes-models/keda), held against the compose file, the
 * Dockerfile and the route table, and the ScaledObject's query run on a real PostgreSQL.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseDuration } from '../../agent/config';
import { routes } from '../../functions/routes';
import { describeUnless, itUnless } from '../support/conditional';
import { postgresStore } from '../support/databases';
import { agentHeaders, call, startTestServer, type TestServer } from '../support/server';
import { parseYamlAll, ROOT, readYaml, which } from './helpers';
import { buildKustomization, type Resource } from './kustomize';

const run = promisify(execFile);
const BASE = 'infra/k8s/base';
const OVERLAY = 'infra/k8s/overlays/example';
const noKubectl = which('kubectl') === null ? 'kubectl is not installed (its kustomize is compared with this reader)' : null;

type Json = Record<string, unknown>;
type EnvVar = { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: unknown } };
type Probe = { httpGet?: { path: string; port: string | number } };
type Container = {
  name: string;
  image: string;
  command?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: EnvVar[];
  envFrom?: unknown[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
};
type PodSpec = {
  containers: Container[];
  initContainers?: Container[];
  terminationGracePeriodSeconds?: number;
  automountServiceAccountToken?: boolean;
  lifecycle?: unknown;
};
type Deployment = Resource & {
  spec: {
    replicas?: number;
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
  };
};
type ScaledObject = Resource & {
  spec: {
    scaleTargetRef: { apiVersion?: string; kind?: string; name: string };
    minReplicaCount: number;
    maxReplicaCount: number;
    cooldownPeriod: number;
    pollingInterval: number;
    advanced?: { horizontalPodAutoscalerConfig?: { behavior?: { scaleDown?: { stabilizationWindowSeconds?: number } } } };
    triggers: { type: string; metadata: Record<string, string>; authenticationRef?: { name: string } }[];
  };
};

const base = buildKustomization(join(ROOT, BASE));
const overlay = buildKustomization(join(ROOT, OVERLAY));

const find = <T extends Resource>(resources: Resource[], kind: string, name: string) => {
  const r = resources.find((x) => x.kind === kind && x.metadata.name === name);
  if (!r) throw new Error(`no ${kind} ${name}`);
  return r as T;
};
const api = find<Deployment>(base, 'Deployment', 'task-executor-api');
const agent = find<Deployment>(base, 'Deployment', 'task-executor-agent');
const scaled = find<ScaledObject>(base, 'ScaledObject', 'task-executor-agent');
const container = (d: Deployment) => d.spec.template.spec.containers[0] as Container;
const envOf = (c: Container) => Object.fromEntries((c.env ?? []).map((e) => [e.name, e]));
const value = (c: Container, name: string) => envOf(c)[name]?.value;

/** Sorted `Kind/name` of each resource. */
const names = (resources: Resource[]) => resources.map((r) => `${r.kind}/${r.metadata.name}`).sort();
/** A stable order for comparing two builds. */
const byName = (resources: Resource[]) =>
  [...resources].sort((a, b) => `${a.kind}/${a.metadata.name}`.localeCompare(`${b.kind}/${b.metadata.name}`));

/** Validates resources with kubernetes-models in a plain node process (the packages are ESM-only). */
async function validate(resources: unknown[]): Promise<{ kind: string; name: string | null; error: string | null }[]> {
  const child = execFile(process.execPath, [join(__dirname, 'k8s-validate.mjs')], { cwd: ROOT });
  const out = new Promise<string>((resolve, reject) => {
    let text = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => {
      text += d;
    });
    child.stderr?.on('data', (d: Buffer) => {
      err += d;
    });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`k8s-validate.mjs exited ${code}: ${err}`))));
  });
  child.stdin?.end(JSON.stringify(resources));
  return JSON.parse(await out);
}

describe('infra/k8s builds', () => {
  it('has every resource in the base: the API Deployment, Service and PodDisruptionBudget, the agent Deployment, the ScaledObject and its TriggerAuthentication', () => {
    expect(names(base)).toEqual([
      'Deployment/task-executor-agent',
      'Deployment/task-executor-api',
      'PodDisruptionBudget/task-executor-api',
      'ScaledObject/task-executor-agent',
      'Service/task-executor-api',
      'TriggerAuthentication/task-executor-db',
    ]);
  });

  it('keeps them all in the example overlay, adds its Namespace and puts every other resource in it', () => {
    expect(names(overlay)).toEqual([...names(base), 'Namespace/task-executor'].sort());
    for (const r of overlay) if (r.kind !== 'Namespace') expect(`${r.kind}/${r.metadata.namespace}`).toBe(`${r.kind}/task-executor`);
  });

  it('applies the overlay: images from its registry, three API replicas, one to fifty agents', () => {
    const images = overlay.flatMap((r) => ((r.spec?.template as { spec?: PodSpec })?.spec ? podImages(r as Deployment) : []));
    expect([...new Set(images)].sort()).toEqual([
      'registry.example.com/task-executor-agent:0.1.0',
      'registry.example.com/task-executor-server:0.1.0',
    ]);
    expect(find<Deployment>(overlay, 'Deployment', 'task-executor-api').spec.replicas).toBe(3);
    expect(find<ScaledObject>(overlay, 'ScaledObject', 'task-executor-agent').spec).toMatchObject({
      minReplicaCount: 1,
      maxReplicaCount: 50,
    });
    // The patch changed only what it names.
    expect(find<ScaledObject>(overlay, 'ScaledObject', 'task-executor-agent').spec.triggers).toEqual(scaled.spec.triggers);
  });

  itUnless(noKubectl).each([BASE, OVERLAY])('builds %s with kubectl kustomize to exactly what this reader builds', async (dir) => {
    const { stdout } = await run('kubectl', ['kustomize', dir], { cwd: ROOT });
    expect(byName(parseYamlAll<Resource>(stdout))).toEqual(byName(buildKustomization(join(ROOT, dir))));
  });
});

function podImages(d: Deployment): string[] {
  const spec = d.spec.template.spec;
  return [...(spec.initContainers ?? []), ...spec.containers].map((c) => c.image);
}

describe('infra/k8s against the Kubernetes and KEDA schemas', () => {
  it.each([
    ['base', base],
    ['example overlay', overlay],
  ])('validates every resource of the %s', async (_name, resources) => {
    const results = await validate(resources);
    expect(results.filter((r) => r.error !== null)).toEqual([]);
    expect(results).toHaveLength(resources.length);
  });

  it('refuses what the schemas forbid, naming the field (the check can fail)', async () => {
    const broken = structuredClone(overlay) as Json[];
    const d = broken.find((r) => r.kind === 'Deployment') as Deployment;
    (d.spec as Json).replicas = 'two';
    const s = broken.find((r) => r.kind === 'ScaledObject') as ScaledObject;
    (s.spec.triggers[0] as Json).type = undefined;
    (s.spec as Json).minReplicaCount = -1;
    const errors = (await validate(broken)).filter((r) => r.error !== null);
    expect(errors.map((e) => e.kind).sort()).toEqual(['Deployment', 'ScaledObject']);
    expect(errors.find((e) => e.kind === 'Deployment')?.error).toContain('spec/replicas must be integer');
    expect(errors.find((e) => e.kind === 'ScaledObject')?.error).toMatch(/type/);
  });
});

describe('infra/k8s agrees with the compose file, the Dockerfile and the route table', () => {
  type ComposeService = { image: string; environment: string[] };
  const compose = readYaml<{ services: Record<string, ComposeService> }>('docker-compose.yaml').services;
  const composeEnv = (s: string) =>
    Object.fromEntries((compose[s]?.environment ?? []).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  const dockerfile = readFileSync(join(ROOT, 'infra', 'Dockerfile'), 'utf8');
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  /** What a `${NAME:-default}` in the compose file is when .env does not set it. */
  const composeDefault = (v: string | undefined) => /^\$\{[A-Z_]+:-(.*)\}$/.exec(v ?? '')?.[1] ?? v;

  it('runs the images compose builds, tagged with the package version', () => {
    const repo = (image: string) => image.slice(0, image.lastIndexOf(':'));
    expect(podImages(api).map(repo)).toEqual([
      repo(compose['backend-api-server']?.image as string),
      repo(compose['backend-api-server']?.image as string),
    ]);
    expect(podImages(agent).map(repo)).toEqual([repo(compose['task-exec-agent']?.image as string)]);
    for (const image of [...podImages(api), ...podImages(agent)]) expect(image.endsWith(`:${version}`)).toBe(true);
  });

  it("serves the API on compose's SERVER_PORT and the Dockerfile's port, behind a Service the agents' BACKEND_URL names", () => {
    const port = Number(composeEnv('backend-api-server').SERVER_PORT);
    expect(port).toBe(3500);
    expect(dockerfile).toMatch(new RegExp(`^EXPOSE ${port}$`, 'm'));
    expect(value(container(api), 'SERVER_PORT')).toBe(String(port));
    expect(container(api).ports).toEqual([{ name: 'http', containerPort: port }]);
    const service = find<Resource & { spec: { ports: { port: number; targetPort: string }[]; selector: Json } }>(
      base,
      'Service',
      'task-executor-api',
    );
    expect(service.spec.ports).toEqual([{ name: 'http', port, targetPort: 'http' }]);
    expect(service.spec.selector).toEqual(api.spec.template.metadata.labels);
    expect(value(container(agent), 'BACKEND_URL')).toBe(`http://${service.metadata.name}:${port}`);
  });

  it('probes routes of the route table: ready on GET /health (the database answers), alive on GET / (touches no database)', () => {
    const get = routes.filter((r) => r.method === 'GET').map((r) => r.path);
    const c = container(api);
    expect(c.readinessProbe?.httpGet).toEqual({ path: '/health', port: 'http' });
    expect(c.livenessProbe?.httpGet).toEqual({ path: '/', port: 'http' });
    expect(get).toEqual(expect.arrayContaining(['/health', '/']));
  });

  it("probes the agent's /healthz on compose's AGENT_HEALTH_PORT, listening on the pod IP (AGENT_HEALTH_HOST=0.0.0.0)", () => {
    const c = container(agent);
    const port = Number(composeEnv('task-exec-agent').AGENT_HEALTH_PORT);
    expect(port).toBe(3000);
    expect(dockerfile).toMatch(new RegExp(`^EXPOSE ${port}$`, 'm'));
    expect(value(c, 'AGENT_HEALTH_PORT')).toBe(String(port));
    expect(c.ports).toEqual([{ name: 'health', containerPort: port }]);
    expect(c.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'health' });
    expect(value(c, 'AGENT_HEALTH_HOST')).toBe('0.0.0.0');
    expect(composeEnv('task-exec-agent').AGENT_HEALTH_HOST).toBe('127.0.0.1');
  });

  it('sets the variables compose sets to the same values, and only variables the docs describe', () => {
    const server = composeEnv('backend-api-server');
    for (const name of ['SERVER_HOST', 'SERVER_PORT', 'LEASE_SECONDS', 'LOG_LEVEL']) {
      expect(`${name}=${value(container(api), name)}`).toBe(`${name}=${composeDefault(server[name])}`);
    }
    const docs = readFileSync(join(ROOT, 'docs', 'configuration.md'), 'utf8');
    for (const c of [container(api), container(agent), ...(api.spec.template.spec.initContainers ?? [])]) {
      for (const e of c.env ?? []) expect(`${e.name}: ${docs.includes(`\`${e.name}\``)}`).toBe(`${e.name}: true`);
    }
  });

  it('takes the database URL and the tokens from the Secret, never as a literal, and gives the agents only AGENT_TOKEN', () => {
    const secret = (c: Container, name: string) => envOf(c)[name]?.valueFrom?.secretKeyRef;
    const everyContainer = [...podImagesContainers(api), ...podImagesContainers(agent)];
    for (const c of everyContainer) {
      expect(c.envFrom).toBeUndefined();
      for (const e of c.env ?? []) {
        if (/TOKEN|PASSWORD|DATABASE_URL/.test(e.name)) expect({ [e.name]: e.value }).toEqual({ [e.name]: undefined });
      }
    }
    for (const name of ['DATABASE_URL', 'API_TOKEN', 'AGENT_TOKEN'])
      expect(secret(container(api), name)).toEqual({ name: 'task-executor', key: name });
    expect(secret(api.spec.template.spec.initContainers?.[0] as Container, 'DATABASE_URL')).toEqual({
      name: 'task-executor',
      key: 'DATABASE_URL',
    });
    expect(secret(container(agent), 'AGENT_TOKEN')).toEqual({ name: 'task-executor', key: 'AGENT_TOKEN' });
    expect(Object.keys(envOf(container(agent))).filter((n) => /TOKEN|DATABASE|DB_/.test(n))).toEqual(['AGENT_TOKEN']);
    expect(overlay.filter((r) => r.kind === 'Secret')).toEqual([]);
    const auth = find<Resource & { spec: Json }>(base, 'TriggerAuthentication', 'task-executor-db');
    expect(auth.spec).toEqual({ secretTargetRef: [{ parameter: 'connection', name: 'task-executor', key: 'DATABASE_URL' }] });
  });

  it('migrates in an init container with the server image and the npm run migrate entry point', () => {
    const init = api.spec.template.spec.initContainers ?? [];
    expect(init.map((c) => c.name)).toEqual(['migrate']);
    expect(init[0]?.image).toBe(container(api).image);
    expect(init[0]?.command).toEqual(['node', 'dist/infra/local/migrate-main.js']);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.migrate).toContain('infra/local/migrate-main.ts');
  });

  it('gives each container resource requests and a memory limit', () => {
    for (const c of [...podImagesContainers(api), ...podImagesContainers(agent)]) {
      expect(Object.keys(c.resources?.requests ?? {}).sort()).toEqual(['cpu', 'memory']);
      expect(c.resources?.limits?.memory).toMatch(/^\d+(Mi|Gi)$/);
    }
  });

  it('keeps at least one API replica through voluntary disruptions', () => {
    const pdb = find<Resource & { spec: { minAvailable: number; selector: { matchLabels: Json } } }>(
      base,
      'PodDisruptionBudget',
      'task-executor-api',
    );
    expect(pdb.spec.minAvailable).toBe(1);
    expect(pdb.spec.selector.matchLabels).toEqual(api.spec.selector.matchLabels);
    expect(api.spec.replicas).toBeGreaterThan(pdb.spec.minAvailable);
  });
});

function podImagesContainers(d: Deployment): Container[] {
  return [...(d.spec.template.spec.initContainers ?? []), ...d.spec.template.spec.containers];
}

describe('the agents scale-in without losing tasks', () => {
  it('lets a stopping agent finish: terminationGracePeriodSeconds above AGENT_STOP_GRACE + AGENT_KILL_GRACE, with time to report', () => {
    const c = container(agent);
    const stop = parseDuration(value(c, 'AGENT_STOP_GRACE') as string) as number;
    const kill = parseDuration(value(c, 'AGENT_KILL_GRACE') as string) as number;
    expect(stop).toBe(600000);
    expect(kill).toBe(5000);
    expect((agent.spec.template.spec.terminationGracePeriodSeconds as number) * 1000).toBeGreaterThanOrEqual(stop + kill + 20000);
  });

  it('drains on SIGTERM alone: no preStop hook, no Kubernetes API token for the commands, a unique AGENT_ID per pod', () => {
    expect(JSON.stringify(agent)).not.toContain('preStop');
    expect(agent.spec.template.spec.automountServiceAccountToken).toBe(false);
    expect(envOf(container(agent)).AGENT_ID?.valueFrom).toEqual({ fieldRef: { fieldPath: 'metadata.name' } });
  });

  it('leaves the agent count to KEDA: no replicas in the Deployment, the ScaledObject targets it', () => {
    expect(agent.spec.replicas).toBeUndefined();
    expect(scaled.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: agent.metadata.name });
  });

  it('scales 0 to 20 on queued + running tasks, one agent per task, from the first queued task, and in slowly', () => {
    expect(scaled.spec).toMatchObject({ minReplicaCount: 0, maxReplicaCount: 20, pollingInterval: 15, cooldownPeriod: 300 });
    expect(scaled.spec.triggers).toHaveLength(1);
    const t = scaled.spec.triggers[0] as ScaledObject['spec']['triggers'][number];
    expect(t.type).toBe('postgresql');
    expect(t.metadata).toMatchObject({ targetQueryValue: '1', activationTargetQueryValue: '0' });
    expect(t.authenticationRef).toEqual({ name: 'task-executor-db' });
    expect(scaled.spec.advanced?.horizontalPodAutoscalerConfig?.behavior?.scaleDown?.stabilizationWindowSeconds).toBe(300);
  });
});

const KEDA_QUERY = scaled.spec.triggers[0]?.metadata.query as string;

describeUnless(postgresStore ? null : 'TEST_DATABASE_URL is not set: the KEDA query needs a real PostgreSQL')(
  "the ScaledObject's query on a real PostgreSQL",
  () => {
    let server: TestServer;
    const count = async () => {
      const rows = await server.db.query<Record<string, string | number>>(KEDA_QUERY);
      expect(rows).toHaveLength(1);
      const only = Object.values(rows[0] as Json);
      expect(only).toHaveLength(1);
      return Number(only[0]);
    };
    const create = async (command = 'true') => (await call(server.url, 'POST', '/tasks', { body: { command } })).body as { id: string };
    const pick = async (agentId: string) =>
      (await call(server.url, 'GET', '/tasks/pick', { headers: agentHeaders(agentId) })).body as { id: string; leaseToken: string };

    beforeAll(async () => {
      server = await startTestServer(postgresStore as NonNullable<typeof postgresStore>);
    });
    afterAll(async () => {
      await server.stop();
    });

    it('returns the number of queued plus running tasks, as the API moves them through their states', async () => {
      expect(await count()).toBe(0);
      const ids = [];
      for (let i = 0; i < 10; i++) ids.push((await create()).id);
      expect(await count()).toBe(10); // 10 queued
      const picked = [await pick('keda-a'), await pick('keda-b'), await pick('keda-c')];
      expect(await count()).toBe(10); // 7 queued + 3 running: busy agents stay counted
      const [first, second] = picked as [(typeof picked)[0], (typeof picked)[0]];
      const finish = (t: typeof first, agentId: string, exitCode: number) =>
        call(server.url, 'POST', `/tasks/${t.id}/finish`, {
          headers: agentHeaders(agentId, { 'x-lease-token': t.leaseToken }),
          body: { exitCode, stdout: '', stderr: '' },
        });
      expect((await finish(first, 'keda-a', 0)).status).toBe(200);
      expect((await finish(second, 'keda-b', 1)).status).toBe(200);
      expect(await count()).toBe(8); // 7 queued + 1 running
      const queued = ids.filter((id) => !picked.some((p) => p.id === id));
      for (const id of queued.slice(0, 4)) expect((await call(server.url, 'POST', `/tasks/${id}/cancel`)).status).toBe(200);
      expect(await count()).toBe(4); // 3 queued + 1 running; canceled, succeeded and failed are not
      const states = await server.db.query<{ state: string; n: string }>(
        'select state, count(*) as n from tasks group by state order by state',
      );
      expect(states.map((r) => `${r.state}=${r.n}`)).toEqual(['canceled=4', 'failed=1', 'queued=3', 'running=1', 'succeeded=1']);
    });

    it('is answered from an index, not a scan of the table, with 20,000 finished tasks beside the queue', async () => {
      await server.db.query(
        `insert into tasks (id, command, state, timeout_seconds, created_at, finished_at, run_at)
         select gen_random_uuid(), 'true', 'succeeded', 60, now(), now(), now() from generate_series(1, 20000)`,
      );
      await server.db.query('vacuum (analyze) tasks');
      const plan = await server.db.query<{ 'QUERY PLAN': unknown }>(`explain (format json) ${KEDA_QUERY}`);
      const text = JSON.stringify(plan[0]?.['QUERY PLAN']);
      expect(text).not.toContain('Seq Scan');
      expect(text).toMatch(/"Index Name":"tasks_/);
      expect(await count()).toBe(4);
    });
  },
);
