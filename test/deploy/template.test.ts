/**
 * template.yaml, openapi.yaml and the Express adapter held against the one route table
 * (functions/routes.ts); then cfn-lint on the template.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { routes } from '../../functions/routes';
import { loadConfig } from '../../functions/shared/config';
import type { Deps } from '../../functions/shared/deps';
import { createLogger } from '../../functions/shared/logger';
import { createMetrics } from '../../functions/shared/metrics';
import { createApp } from '../../infra/local/app';
import { itUnless } from '../support/conditional';
import { ROOT, readYaml, samFunctions, type Template, toolMissing } from './helpers';

const run = promisify(execFile);
const template = readYaml<Template>('template.yaml');
const functions = samFunctions(template);
/** Entry points beyond handler.ts: the dashboard's browser bundle, built beside the Root function's handler. */
const EXTRA_ENTRIES: Record<string, string[]> = { root: ['functions/root/browser.ts'] };
/** Functions that answer no route: run on a schedule. */
const SCHEDULED: Record<string, string> = { 'expire-leases': 'rate(1 minute)', 'run-schedules': 'rate(1 minute)' };

const key = (method: string, path: string) => `${method.toUpperCase()} ${path}`;
/** The routes template.yaml deploys: all but the local-only ones (GET /metrics: on Lambda the figures go to CloudWatch). */
const lambdaRoutes = routes.filter((r) => r.lambda !== false);
const tableRoutes = lambdaRoutes.map((r) => `${key(r.method, r.path)} -> ${r.dir}`).sort();

function templateRoutes(): string[] {
  const out: string[] = [];
  for (const f of functions) {
    for (const event of Object.values(f.events)) {
      if (event.Type !== 'HttpApi') continue;
      const p = event.Properties ?? {};
      out.push(`${key(String(p.Method), String(p.Path))} -> ${f.dir}`);
    }
  }
  return out.sort();
}

describe('template.yaml against the route table', () => {
  it('serves exactly the routes of functions/routes.ts, each by the function of its handler folder', () => {
    expect(templateRoutes()).toEqual(tableRoutes);
  });

  it('has one function per handler folder, named by its esbuild entry point', () => {
    for (const f of functions) expect(f.entryPoint).toMatch(/^functions\/[a-z0-9-]+\/handler\.ts$/);
    const dirs = functions.map((f) => f.dir).sort();
    const expected = [...new Set([...lambdaRoutes.map((r) => r.dir), ...Object.keys(SCHEDULED)])].sort();
    expect(dirs).toEqual(expected);
  });

  it('builds the dashboard into the Root function from the same folder as its handler, so browser.js lands beside handler.js', () => {
    for (const [dir, extra] of Object.entries(EXTRA_ENTRIES)) {
      for (const entry of extra) {
        expect(entry.startsWith(`functions/${dir}/`)).toBe(true);
        expect(existsSync(join(ROOT, entry))).toBe(true);
      }
    }
  });

  it('points every function at a handler.ts that exports handler', async () => {
    for (const f of functions) {
      const file = join(ROOT, f.entryPoint);
      expect(existsSync(file)).toBe(true);
      const mod = (await import(file)) as { handler?: unknown };
      expect({ entry: f.entryPoint, handler: typeof mod.handler }).toEqual({ entry: f.entryPoint, handler: 'function' });
    }
  });

  it('runs the scheduled functions on their schedule and gives them no route', () => {
    for (const [dir, schedule] of Object.entries(SCHEDULED)) {
      const f = functions.find((x) => x.dir === dir);
      const events = Object.values(f?.events ?? {});
      expect(events).toEqual([{ Type: 'Schedule', Properties: { Schedule: schedule } }]);
    }
    for (const f of functions.filter((x) => !(x.dir in SCHEDULED))) {
      for (const event of Object.values(f.events)) expect(event.Type).toBe('HttpApi');
    }
  });

  it('bundles every function with esbuild for nodejs24.x on arm64, with source maps and the SDK external', () => {
    const globals = template.Globals?.Function ?? {};
    expect(globals.Runtime).toBe('nodejs24.x');
    expect(globals.Architectures).toEqual(['arm64']);
    for (const f of functions) {
      const codeUri = f.properties.CodeUri ?? globals.CodeUri;
      const handler = f.properties.Handler ?? globals.Handler;
      expect({ id: f.logicalId, codeUri, handler }).toEqual({ id: f.logicalId, codeUri: './', handler: 'handler.handler' });
      expect(f.properties.Runtime ?? globals.Runtime).toBe('nodejs24.x');
      expect(f.buildProperties).toEqual({
        BuildMethod: 'esbuild',
        EntryPoints: [f.entryPoint, ...(EXTRA_ENTRIES[f.dir] ?? [])],
        Target: 'node24',
        Format: 'cjs',
        Sourcemap: true,
        External: ['@aws-sdk/*', '@electric-sql/pglite'],
      });
    }
  });

  it('attaches every route to the one HttpApi and outputs its URL', () => {
    const apis = Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::Serverless::HttpApi');
    expect(apis).toHaveLength(1);
    const [apiId] = apis[0] as [string, unknown];
    for (const f of functions) {
      for (const event of Object.values(f.events)) {
        if (event.Type === 'HttpApi') expect(event.Properties?.ApiId).toEqual({ Ref: apiId });
      }
    }
    expect(JSON.stringify(template.Outputs?.ApiUrl?.Value)).toContain(`\${${apiId}}.execute-api`);
  });

  it('reads DB credentials and tokens from Secrets Manager, and takes VPC subnets and security groups as parameters', () => {
    const vars = (template.Globals?.Function?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
    expect(vars.DB_SECRET_ARN).toEqual({ Ref: 'DbSecretArn' });
    // Each token secret is set only on the functions of its audience (below), never globally.
    expect(vars).not.toHaveProperty('TOKENS_SECRET_ARN');
    expect(vars).not.toHaveProperty('API_TOKEN_SECRET_ARN');
    expect(vars).not.toHaveProperty('AGENT_TOKEN_SECRET_ARN');
    expect(vars.DB_POOL_MAX).toEqual({ Ref: 'DbPoolMax' });
    expect(template.Parameters?.DbPoolMax).toMatchObject({ MinValue: 1, MaxValue: 2 });
    expect(template.Parameters?.SubnetIds?.Type).toBe('List<AWS::EC2::Subnet::Id>');
    expect(template.Parameters?.SecurityGroupIds?.Type).toBe('List<AWS::EC2::SecurityGroup::Id>');
    // Nothing secret in plain text: these exist only for `sam local --env-vars` and stay blank.
    for (const name of ['DATABASE_URL', 'API_TOKEN', 'AGENT_TOKEN', 'DB_PASSWORD']) expect(vars[name] ?? '').toBe('');
  });
});

describe('template.yaml: least privilege and log retention', () => {
  type Kind = 'public' | 'database' | 'user' | 'agent';
  /** What each function's routes need: their audience's token and the database (GET / needs neither). */
  const kindOf = (dir: string): Kind => {
    if (dir in SCHEDULED) return 'database';
    const audiences = [...new Set(routes.filter((r) => r.dir === dir).map((r) => r.audience))];
    expect(audiences).toHaveLength(1);
    if (audiences[0] === 'public') return dir === 'root' ? 'public' : 'database';
    return audiences[0] as Kind;
  };
  const SECRETS: Record<Kind, string[]> = {
    public: [],
    database: ['DbSecretArn'],
    user: ['DbSecretArn', 'ApiTokenSecretArn'],
    agent: ['DbSecretArn', 'AgentTokenSecretArn'],
  };
  const TOKEN_VARIABLE: Record<Kind, string | null> = {
    public: null,
    database: null,
    user: 'API_TOKEN_SECRET_ARN',
    agent: 'AGENT_TOKEN_SECRET_ARN',
  };

  /** The secret ARN parameters a role may read with secretsmanager:GetSecretValue. */
  function readableSecrets(roleId: string): string[] {
    const role = template.Resources[roleId];
    expect(role?.Type).toBe('AWS::IAM::Role');
    const policies = (role?.Properties?.Policies as { PolicyDocument: { Statement: { Action: unknown; Resource: unknown }[] } }[]) ?? [];
    const out: string[] = [];
    for (const policy of policies) {
      for (const statement of policy.PolicyDocument.Statement) {
        expect(statement.Action).toBe('secretsmanager:GetSecretValue');
        const resources = Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource];
        for (const r of resources as { Ref: string }[]) out.push(r.Ref);
      }
    }
    return out.sort();
  }

  it.each(functions.map((f) => [f.logicalId, f] as const))('gives %s a role that reads only the secrets its routes need', (_id, f) => {
    const kind = kindOf(f.dir);
    const roleId = (f.properties.Role as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0] as string;
    expect(readableSecrets(roleId)).toEqual([...SECRETS[kind]].sort());
    const vars = (f.properties.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
    const tokenVariable = TOKEN_VARIABLE[kind];
    for (const name of ['API_TOKEN_SECRET_ARN', 'AGENT_TOKEN_SECRET_ARN']) {
      if (name === tokenVariable) expect(vars[name]).toEqual({ Ref: kind === 'user' ? 'ApiTokenSecretArn' : 'AgentTokenSecretArn' });
      else expect(vars).not.toHaveProperty(name);
    }
    // GET / reads no secret at all: the global DB_SECRET_ARN is blanked for it.
    if (kind === 'public') expect(vars.DB_SECRET_ARN).toBe('');
  });

  it('gives no role more than GetSecretValue on the secrets, and no function the old one-secret-for-both role', () => {
    expect(template.Resources).not.toHaveProperty('FunctionRole');
    expect(template.Parameters).not.toHaveProperty('TokensSecretArn');
  });

  it.each(functions.map((f) => [f.logicalId] as const))('gives %s a log group with the LogRetentionDays retention', (id) => {
    const group = template.Resources[`${id}LogGroup`];
    expect(group).toEqual({
      Type: 'AWS::Logs::LogGroup',
      Properties: { LogGroupName: { 'Fn::Sub': `/aws/lambda/\${${id}}` }, RetentionInDays: { Ref: 'LogRetentionDays' } },
    });
    expect(template.Parameters?.LogRetentionDays).toMatchObject({ Type: 'Number', Default: 30 });
  });

  it('throttles every open route apart from the API (GET /health queries the database for anyone)', () => {
    const settingsOf = (method: string, path: string) =>
      functions.flatMap((f) => Object.values(f.events)).find((e) => e.Properties?.Method === method && e.Properties?.Path === path)
        ?.Properties?.RouteSettings as Record<string, number> | undefined;
    expect(settingsOf('GET', '/health')).toEqual({ ThrottlingBurstLimit: 10, ThrottlingRateLimit: 5 });
    expect(settingsOf('GET', '/')).toEqual({ ThrottlingBurstLimit: 20, ThrottlingRateLimit: 10 });
    expect(settingsOf('GET', '/assets/{file}')).toEqual({ ThrottlingBurstLimit: 40, ThrottlingRateLimit: 20 });
    // Every public route is in the list above: a new one gets its own throttle here.
    const open = [...new Set(routes.filter((r) => r.audience === 'public').map((r) => key(r.method, r.path)))].sort();
    expect(open).toEqual(['GET /', 'GET /assets/{file}', 'GET /health']);
  });
});

describe('openapi.yaml against the route table', () => {
  const present = existsSync(join(ROOT, 'openapi.yaml'));
  itUnless(present ? null : 'openapi.yaml does not exist yet: skipping its check against the route table')(
    'documents exactly the routes of functions/routes.ts',
    () => {
      const doc = readYaml<{ paths: Record<string, Record<string, unknown>> }>('openapi.yaml');
      const methods = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
      const documented = Object.entries(doc.paths ?? {})
        .flatMap(([path, item]) =>
          Object.keys(item ?? {})
            .filter((m) => methods.includes(m))
            .map((m) => key(m, path)),
        )
        .sort();
      expect(documented).toEqual([...new Set(routes.map((r) => key(r.method, r.path)))].sort());
    },
  );
});

describe('the Express adapter against the route table', () => {
  it('hands every route to its own handler, exact paths before {id}', async () => {
    const stubs = lambdaRoutes.map((r) => ({
      ...r,
      build: () => async () => ({ statusCode: 200, headers: { 'x-route': `${key(r.method, r.path)} -> ${r.dir}` }, body: '' }),
    }));
    const config = loadConfig({ API_TOKEN: 'template-api-token-0123', AGENT_TOKEN: 'template-agent-token-0123' });
    const server = createApp(stubs, { logger: createLogger('error'), config, metrics: createMetrics() } as Deps).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const { port } = server.address() as AddressInfo;
      const served: string[] = [];
      for (const r of lambdaRoutes) {
        const url = `http://127.0.0.1:${port}${r.path.replace('{id}', '0b8a3c52-8d2e-4f55-9a53-6f0f1a6a2d11')}`;
        // The adapter checks the route's token before its handler runs.
        const token = r.audience === 'user' ? config.apiToken : config.agentToken;
        const res = await fetch(url, { method: r.method, headers: r.audience === 'public' ? {} : { authorization: `Bearer ${token}` } });
        served.push(res.headers.get('x-route') ?? `${key(r.method, r.path)} -> answered ${res.status} by the adapter`);
      }
      expect(served.sort()).toEqual(tableRoutes);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

describe('cfn-lint', () => {
  itUnless(toolMissing('cfn-lint', 'pip install cfn-lint'))(
    'passes on template.yaml',
    async () => {
      const result = await run('cfn-lint', ['template.yaml'], { cwd: ROOT }).catch((e: { stdout?: string; stderr?: string }) => e);
      // cfn-lint prints nothing and exits 0 when the template is clean.
      expect(`${result.stdout ?? ''}${result.stderr ?? ''}`).toBe('');
    },
    120000,
  );
});
