/**
 * The options of `npm run bench` and `npm run soak`, read here and nowhere else: the command
 * line and the few variables they take. Everything else they start is configured through the
 * project's own config (functions/shared/config.ts for the server, agent/config.ts for agents).
 */
import { parseArgs } from 'node:util';

type Env = Record<string, string | undefined>;

export const BENCH_USAGE = `usage: npm run bench [-- --embedded] [-- --quick] [-- --verbose] [-- --profile]
  --embedded  run on the embedded PGlite instead of PostgreSQL
  --quick     smaller counts: a smoke run of every phase (about two minutes)
  --verbose   progress details, tasks per agent, and the EXPLAIN of the pick and list queries
  --profile   instead of the table: CPU profiles (node --cpu-prof) of the server during pick+finish
              and of one agent during the full pipeline, top frames of each
PostgreSQL: BENCH_DATABASE_URL, else TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres
            (a fresh database is created there and dropped at the end).
BENCH_LOG_LEVEL: LOG_LEVEL of the server and agents (default warn).`;

/** How many of each thing a run measures. */
export type Sizes = Readonly<{
  warmup: number;
  /** timed picks and lists per latency figure */
  latency: number;
  floor: number;
  creates: number;
  pipe1: number;
  pipe10: number;
  longPoll: number;
  polling: number;
  /** finished tasks in the big table, and queued ones after them */
  backlog: number;
  backlogQueued: number;
  idleMs: number;
  coldRuns: number;
  profile: number;
}>;

const QUICK_SIZES: Sizes = {
  warmup: 100,
  latency: 30,
  floor: 1000,
  creates: 1000,
  pipe1: 200,
  pipe10: 500,
  longPoll: 15,
  polling: 4,
  backlog: 100_000,
  backlogQueued: 200,
  idleMs: 5000,
  coldRuns: 1,
  profile: 2000,
};

const FULL_SIZES: Sizes = {
  warmup: 300,
  latency: 50,
  floor: 5000,
  creates: 5000,
  pipe1: 1000,
  pipe10: 3000,
  longPoll: 40,
  polling: 12,
  backlog: 1_000_000,
  backlogQueued: 1000,
  idleMs: 10000,
  coldRuns: 3,
  profile: 10000,
};

export type BenchOptions = Readonly<{
  embedded: boolean;
  quick: boolean;
  verbose: boolean;
  profile: boolean;
  /** LOG_LEVEL of the server and the agents */
  logLevel: string;
  /** the PostgreSQL server the scratch database is made on (also for the Lambda cold start in embedded mode) */
  adminUrl: string;
  sizes: Sizes;
  /** HTTP clients (and floor connections) */
  clients: number;
  agents: number;
  /** untimed picks and lists before each latency measurement */
  latencyWarm: number;
}>;

/** Set by `npm run bench` for the worker process it starts (bench/run.ts). */
export const WORKER_VARIABLE = 'BENCH_WORKER';

/** Whether this process is the bench's worker, not the wrapper that relays signals to it. */
export function isBenchWorker(env: Env): boolean {
  return env[WORKER_VARIABLE] === '1';
}

/** The bench's options, or the usage to print (with the exit code) for --help and unknown options. */
export function parseBenchOptions(argv: readonly string[], env: Env): BenchOptions | { usage: string; exitCode: number } {
  const known = ['--embedded', '--quick', '--verbose', '--profile'];
  const unknown = argv.filter((a) => ![...known, '--help', '-h'].includes(a));
  if (unknown.length > 0) return { usage: `unknown option ${unknown.join(' ')}\n${BENCH_USAGE}`, exitCode: 2 };
  if (argv.includes('--help') || argv.includes('-h')) return { usage: BENCH_USAGE, exitCode: 0 };
  const quick = argv.includes('--quick');
  return Object.freeze({
    embedded: argv.includes('--embedded'),
    quick,
    verbose: argv.includes('--verbose'),
    profile: argv.includes('--profile'),
    logLevel: env.BENCH_LOG_LEVEL ?? 'warn',
    adminUrl: env.BENCH_DATABASE_URL ?? env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    sizes: quick ? QUICK_SIZES : FULL_SIZES,
    clients: 10,
    agents: 10,
    latencyWarm: 10,
  });
}

export type SoakOptions = Readonly<{
  tasks: number;
  agents: number;
  /** mean ms between two agent kills; 0: no kills */
  killEveryMs: number;
  leaseSeconds: number;
  /** keep the database afterwards */
  keep: boolean;
  /** the PostgreSQL server the soak's database is made on */
  adminUrl: string;
}>;

/** The soak's options, or what is wrong with them. */
export function parseSoakOptions(argv: readonly string[], env: Env): SoakOptions | { error: string } {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        tasks: { type: 'string', default: '20000' },
        agents: { type: 'string', default: '16' },
        'kill-every': { type: 'string', default: '2000' },
        lease: { type: 'string', default: '5' },
        keep: { type: 'boolean', default: false },
      },
    }));
  } catch (error) {
    return { error: (error as Error).message };
  }
  const adminUrl = env.TEST_DATABASE_URL ?? env.DATABASE_URL;
  if (!adminUrl) return { error: 'set TEST_DATABASE_URL or DATABASE_URL to a PostgreSQL server (a fresh database is created on it)' };
  const options = {
    tasks: Number(values.tasks),
    agents: Number(values.agents),
    killEveryMs: Number(values['kill-every']),
    leaseSeconds: Number(values.lease),
    keep: values.keep === true,
    adminUrl,
  };
  if (!(options.tasks > 0 && options.agents > 0 && options.killEveryMs >= 0 && options.leaseSeconds >= 3)) {
    return { error: '--tasks and --agents must be positive, --kill-every >= 0, --lease >= 3' };
  }
  return Object.freeze(options);
}
