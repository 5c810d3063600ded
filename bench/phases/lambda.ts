/**
 * The Lambda bundle of create-task: its size, built as SAM builds it (esbuild, minified, cjs,
 * node24), and its cold start: a fresh node process loading the bundle and answering one event.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { baseEnv, ROOT } from '../../test/support/processes';
import { createScratchDatabase } from '../../test/support/scratch-database';
import type { Stage } from '../system';

const COLD_START_RUNNER = `
const t0 = performance.now();
const { handler } = require(process.argv[2]);
const t1 = performance.now();
const now = new Date();
const event = {
  version: '2.0', routeKey: 'POST /tasks', rawPath: '/tasks', rawQueryString: '',
  headers: { 'content-type': 'application/json', host: 'bench.local', authorization: 'Bearer ' + process.env.API_TOKEN },
  requestContext: {
    accountId: 'bench', apiId: 'bench', domainName: 'bench.local', domainPrefix: 'bench',
    http: { method: 'POST', path: '/tasks', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'bench' },
    requestId: 'bench-cold-start', routeKey: 'POST /tasks', stage: '$default', time: now.toUTCString(), timeEpoch: now.getTime(),
  },
  body: JSON.stringify({ command: 'true' }), isBase64Encoded: false,
};
const context = { awsRequestId: 'bench-cold-start', functionName: 'bench-create-task', getRemainingTimeInMillis: () => 30000, callbackWaitsForEmptyEventLoop: true };
handler(event, context).then(
  (r) => { process.stdout.write('BENCH_RESULT ' + JSON.stringify({ loadMs: t1 - t0, invokeMs: performance.now() - t1, status: r.statusCode }) + '\\n'); process.exit(0); },
  (e) => { process.stdout.write('BENCH_RESULT ' + JSON.stringify({ error: String(e && e.stack || e) }) + '\\n'); process.exit(1); },
);
`;

const BENCH_API_TOKEN = `bench-api-${randomBytes(16).toString('hex')}`;
const BENCH_AGENT_TOKEN = `bench-agent-${randomBytes(16).toString('hex')}`;

export type ColdStart = { loadMs: number; invokeMs: number; wallMs: number };
export type LambdaResult = { bytes: number; runs: ColdStart[]; note: string | null };

/** One cold start of the bundle against `databaseUrl`: a new process, one event. */
async function coldStart(dir: string, bundle: string, databaseUrl: string): Promise<ColdStart> {
  const t0 = performance.now();
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      [join(dir, 'runner.js'), bundle],
      {
        cwd: dir,
        timeout: 60000,
        env: {
          ...baseEnv,
          DATABASE_URL: databaseUrl,
          AWS_LAMBDA_FUNCTION_NAME: 'bench-create-task',
          // As deployed: both tokens set (without them the Host rule answers a foreign host 421).
          API_TOKEN: BENCH_API_TOKEN,
          AGENT_TOKEN: BENCH_AGENT_TOKEN,
          LOG_LEVEL: 'warn',
          // Lambda's runtime provides the AWS SDK; here the project's node_modules stand in for it.
          NODE_PATH: join(ROOT, 'node_modules'),
        },
      },
      (error, out, err) => (error ? reject(new Error(`${error.message}\n${out}${err}`)) : resolve(out)),
    );
  });
  const wallMs = performance.now() - t0;
  const line = stdout.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
  const result = line
    ? (JSON.parse(line.slice('BENCH_RESULT '.length)) as { loadMs: number; invokeMs: number; status?: number; error?: string })
    : null;
  if (!result || result.error || result.status !== 201)
    throw new Error(`the bundled handler failed: ${result?.error ?? stdout.slice(0, 500)}`);
  return { loadMs: result.loadMs, invokeMs: result.invokeMs, wallMs };
}

/** Builds the bundle and starts it options.sizes.coldRuns times (on PostgreSQL: Lambda never runs PGlite). */
export async function measureLambda(stage: Stage): Promise<LambdaResult> {
  const { ctx } = stage;
  const dir = join(ctx.tmp, 'lambda');
  const bundle = join(dir, 'create-task.js');
  await build({
    entryPoints: [join(ROOT, 'functions/create-task/handler.ts')],
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    external: ['@aws-sdk/*', '@electric-sql/pglite'],
    minify: true,
    outfile: bundle,
    logLevel: 'error',
  });
  writeFileSync(join(dir, 'runner.js'), COLD_START_RUNNER);
  const bytes = statSync(bundle).size;
  let databaseUrl = stage.bdb.serverEnv.DATABASE_URL ?? null;
  let note: string | null = null;
  if (databaseUrl === null) {
    // --embedded: the cold start needs a PostgreSQL; the local one, when it answers.
    const scratch = await createScratchDatabase(ctx.options.adminUrl, { prefix: 'te_bench', migrated: true, connectTimeoutMs: 3000 }).catch(
      (error: Error) => {
        note = `Lambda cold start not measured: no PostgreSQL at ${ctx.options.adminUrl.replace(/:[^:@/]*@/, ':***@')} (${error.message})`;
        return null;
      },
    );
    if (scratch) ctx.onCleanup(`database ${scratch.name}`, () => scratch.drop());
    databaseUrl = scratch?.url ?? null;
  }
  const runs: ColdStart[] = [];
  for (let i = 0; databaseUrl !== null && i < ctx.options.sizes.coldRuns; i++) runs.push(await coldStart(dir, bundle, databaseUrl));
  return { bytes, runs, note };
}
