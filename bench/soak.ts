/**
 * Soak (issue 3 item 8; not in CI): `npm run soak -- --tasks 20000 --agents 16`.
 *
 * Against a fresh database on the PostgreSQL server of TEST_DATABASE_URL (or DATABASE_URL), runs
 * the real server and real agents as child processes, submits a mixed load (fast, slow, failing,
 * timing-out and canceled commands) while killing agents at random (SIGKILL or SIGTERM) and
 * starting replacements, then prints tasks/s and checks the invariants: every task terminal,
 * none run twice, none lost. Exits 1 when an invariant does not hold.
 *
 * Options: --tasks N (20000), --agents N (16), --kill-every DURATION_MS (2000; 0: no kills),
 * --lease SECONDS (5), --keep (keep the database).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isTerminal, type Task, type TaskState } from '../contract/task';
import { loadConfig } from '../functions/shared/config';
import type { Db } from '../functions/shared/db/db';
import { selectTaskPage } from '../functions/shared/db/tasks';
import { openDb } from '../functions/shared/deps';
import { type Proc, startAgent, startServerProcess, stopProcess } from '../test/support/processes';
import { createScratchDatabase } from '../test/support/scratch-database';
import { parseSoakOptions } from './options';

const KINDS = ['fast', 'slow', 'failing', 'timeout', 'cancel'] as const;
type Kind = (typeof KINDS)[number];
/** Share of each kind in the load, in percent. */
const MIX: Record<Kind, number> = { fast: 60, slow: 10, failing: 10, timeout: 5, cancel: 15 };

const parsed = parseSoakOptions(process.argv.slice(2), process.env);
if ('error' in parsed) {
  process.stderr.write(`soak: ${parsed.error}\n`);
  process.exit(2);
}
const options = parsed;
const { tasks: TASKS, agents: AGENTS, killEveryMs: KILL_EVERY_MS, leaseSeconds: LEASE } = options;

const say = (line: string) => process.stdout.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every task of the tasks table (as GET /tasks lists them), through the project's SQL, newest first. */
async function allTasks(db: Db, states: TaskState[] | null = null): Promise<Task[]> {
  const tasks: Task[] = [];
  for (let beforeSeq: string | null = null; ; ) {
    const page = await selectTaskPage(db, { states, beforeSeq, limit: 5000 });
    tasks.push(...page.slice(0, 5000).map((row) => JSON.parse(row.json) as Task));
    if (page.length <= 5000) return tasks;
    beforeSeq = (page[4999] as (typeof page)[number]).seq;
  }
}

/** JSON in and out, retrying network errors and 503 (the server may be busy, never down here). */
async function api(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await fetch(base + path, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      if (res.status === 503 && attempt < 20) {
        await sleep(200 * (attempt + 1));
        continue;
      }
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    } catch (error) {
      if (attempt >= 20) throw error;
      await sleep(200 * (attempt + 1));
    }
  }
}

function pickKind(): Kind {
  let r = Math.random() * 100;
  for (const k of KINDS) {
    r -= MIX[k];
    if (r < 0) return k;
  }
  return 'fast';
}

function taskFor(kind: Kind, ran: string): { command: string; timeoutSeconds?: number } {
  const mark = `echo "$TASK_ID" >> '${ran}'`;
  switch (kind) {
    case 'fast':
      return { command: mark };
    case 'slow':
      return { command: `${mark}; sleep ${(0.5 + Math.random() * 1.5).toFixed(2)}` };
    case 'failing':
      return { command: `${mark}; echo boom >&2; exit 3` };
    case 'timeout':
      return { command: `${mark}; sleep 30`, timeoutSeconds: 1 };
    case 'cancel':
      return { command: `${mark}; sleep 3` };
  }
}

async function main(): Promise<void> {
  const scratch = await createScratchDatabase(options.adminUrl, { prefix: 'te_soak', migrated: true });
  const db = await openDb(loadConfig({ DATABASE_URL: scratch.url, DB_POOL_MAX: '2' }), { warn: () => {} });
  const dir = mkdtempSync(join(tmpdir(), 'te-soak-'));
  const ran = join(dir, 'ran.txt');
  say(
    `soak: ${TASKS} tasks, ${AGENTS} agents, an agent killed every ${KILL_EVERY_MS} ms, LEASE_SECONDS=${LEASE}, database ${scratch.name}`,
  );

  const server = await startServerProcess({
    DATABASE_URL: scratch.url,
    LEASE_SECONDS: String(LEASE),
    LOG_LEVEL: 'warn',
    DB_POOL_MAX: '20',
  });
  const base = server.url;

  const agents = new Map<number, Proc>();
  const retired: Proc[] = [];
  let generation = 0;
  const launch = (slot: number) => {
    generation += 1;
    agents.set(
      slot,
      startAgent(`soak-${slot}-${generation}`, base, {
        POLL_INTERVAL: '200ms',
        POLL_WAIT: '10s',
        AGENT_STOP_GRACE: '2s',
        AGENT_KILL_GRACE: '1s',
        LOG_LEVEL: 'warn',
      }),
    );
  };
  for (let i = 0; i < AGENTS; i++) launch(i);

  // Chaos: every KILL_EVERY_MS one agent dies (SIGKILL twice as often as SIGTERM) and a fresh one takes its place.
  const kills = { SIGKILL: 0, SIGTERM: 0 };
  let chaosOn = KILL_EVERY_MS > 0;
  const chaos = (async () => {
    while (chaosOn) {
      await sleep(KILL_EVERY_MS * (0.5 + Math.random()));
      if (!chaosOn) break;
      const slot = Math.floor(Math.random() * AGENTS);
      const victim = agents.get(slot);
      if (!victim?.alive()) continue;
      const signal = Math.random() < 2 / 3 ? 'SIGKILL' : 'SIGTERM';
      victim.child.kill(signal);
      kills[signal] += 1;
      retired.push(victim);
      launch(slot);
    }
  })();

  // The load: submitted by 16 concurrent clients while the agents work; cancels fire 0-2 s later.
  const kindOf = new Map<string, Kind>();
  const cancels: Promise<void>[] = [];
  const cancelAnswers = { 200: 0, 409: 0, other: 0 };
  const started = Date.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < TASKS) {
        next += 1;
        const kind = pickKind();
        const res = await api(base, 'POST', '/tasks', taskFor(kind, ran));
        if (res.status !== 201) throw new Error(`POST /tasks answered ${res.status}: ${JSON.stringify(res.body)}`);
        const id = (res.body as { id: string }).id;
        kindOf.set(id, kind);
        if (kind === 'cancel') {
          cancels.push(
            sleep(Math.random() * 2000).then(async () => {
              const c = await api(base, 'POST', `/tasks/${id}/cancel`);
              if (c.status === 200 || c.status === 409) cancelAnswers[c.status] += 1;
              else cancelAnswers.other += 1;
            }),
          );
        }
      }
    }),
  );
  const submittedIn = (Date.now() - started) / 1000;
  await Promise.all(cancels);

  // Wait for every task to end (lost agents' tasks end a lease later).
  let lastProgress = Date.now();
  let lastEnded = -1;
  for (;;) {
    const ended = TASKS - (await allTasks(db, ['queued', 'running'])).length;
    if (ended === TASKS) break;
    if (ended !== lastEnded) {
      lastEnded = ended;
      lastProgress = Date.now();
    }
    if (Date.now() - lastProgress > 120000) {
      say(`soak: no progress for 120 s (${ended} of ${TASKS} ended); checking what there is`);
      break;
    }
    await sleep(500);
  }
  const seconds = (Date.now() - started) / 1000;
  chaosOn = false;
  await chaos;

  const rows = await allTasks(db);
  const runs = new Map<string, number>();
  for (const id of readFileSync(ran, 'utf8').split('\n').filter(Boolean)) runs.set(id, (runs.get(id) ?? 0) + 1);

  // Stop everything; a SIGTERMed agent must exit 0.
  const live = [...agents.values()].filter((a) => a.alive());
  const codes = (await Promise.all(live.map((a) => stopProcess(a, 30000)))).map((e) => e?.code ?? e?.signal);
  const serverCode = (await stopProcess(server, 30000))?.code;
  await db.close();

  // The invariants.
  const failures: string[] = [];
  const inDb = new Set(rows.map((r) => r.id));
  const lost = [...kindOf.keys()].filter((id) => !inDb.has(id));
  if (lost.length > 0) failures.push(`${lost.length} submitted tasks are missing from the database`);
  const notTerminal = rows.filter((r) => !isTerminal(r.state));
  if (notTerminal.length > 0) failures.push(`${notTerminal.length} tasks never ended (${JSON.stringify(notTerminal.slice(0, 3))})`);
  const twice = [...runs].filter(([, n]) => n > 1);
  if (twice.length > 0) failures.push(`${twice.length} tasks ran more than once (${JSON.stringify(twice.slice(0, 3))})`);
  const succeededNotRun = rows.filter((r) => r.state === 'succeeded' && !runs.has(r.id));
  if (succeededNotRun.length > 0) failures.push(`${succeededNotRun.length} tasks succeeded without having run`);
  const wrong = rows.filter((r) => {
    const kind = kindOf.get(r.id);
    if (r.state === 'failed' && r.error === 'agent lost: lease expired') return false; // its agent was killed
    if (r.state === 'failed' && r.error === 'agent stopped') return false; // its agent was SIGTERMed past the grace
    if (r.state === 'canceled') return kind !== 'cancel';
    switch (kind) {
      case 'fast':
        return r.state !== 'succeeded';
      case 'slow':
        return r.state !== 'succeeded';
      case 'failing':
        return !(r.state === 'failed' && r.exitCode === 3);
      case 'timeout':
        return r.state !== 'timed_out';
      case 'cancel':
        return r.state !== 'succeeded'; // finished before the cancel came
      default:
        return true;
    }
  });
  if (wrong.length > 0) failures.push(`${wrong.length} tasks ended in an unexpected state (${JSON.stringify(wrong.slice(0, 3))})`);
  const everyone = [server, ...agents.values(), ...retired];
  const fiveHundreds = everyone.reduce((n, p) => n + (p.output().match(/"status":500|answered 500/g)?.length ?? 0), 0);
  if (fiveHundreds > 0) failures.push(`${fiveHundreds} answers with status 500`);
  const serverErrors = server.output().match(/"level":"ERROR".*/g) ?? [];
  if (serverErrors.length > 0)
    failures.push(`${serverErrors.length} ERROR lines in the server log (first: ${serverErrors[0]?.slice(0, 300)})`);
  if (codes.some((c) => c !== 0)) failures.push(`agents stopped with SIGTERM exited with ${JSON.stringify(codes)}`);
  if (serverCode !== 0) failures.push(`the server exited with ${serverCode}`);

  // The figures.
  const table: Record<string, Record<string, number>> = {};
  for (const r of rows) {
    const kind = kindOf.get(r.id) ?? '?';
    const key = r.state === 'failed' && r.error ? `failed (${r.error})` : r.state;
    table[kind] ??= {};
    (table[kind] as Record<string, number>)[key] = ((table[kind] as Record<string, number>)[key] ?? 0) + 1;
  }
  const agentLost = rows.filter((r) => r.error === 'agent lost: lease expired');
  say(
    `soak: ${TASKS} tasks ended in ${seconds.toFixed(1)} s: ${(TASKS / seconds).toFixed(1)} tasks/s (submitted in ${submittedIn.toFixed(1)} s)`,
  );
  say(`  agents killed: ${kills.SIGKILL} with SIGKILL, ${kills.SIGTERM} with SIGTERM (each replaced at once)`);
  say(`  cancels: ${cancelAnswers[200]} accepted, ${cancelAnswers[409]} too late (already ended), ${cancelAnswers.other} other`);
  say(
    `  agent lost: ${agentLost.length} tasks (${agentLost.filter((r) => runs.has(r.id)).length} had started, ${agentLost.filter((r) => !runs.has(r.id)).length} had not)`,
  );
  for (const kind of KINDS) say(`  ${kind.padEnd(8)} ${JSON.stringify(table[kind] ?? {})}`);
  say(`  ran twice: ${twice.length}; lost: ${lost.length}; not terminal: ${notTerminal.length}; 500 answers: ${fiveHundreds}`);

  rmSync(dir, { recursive: true, force: true });
  if (!options.keep) await scratch.drop();
  if (failures.length > 0) {
    say(`soak: FAILED\n  ${failures.join('\n  ')}`);
    process.exit(1);
  }
  say('soak: every task terminal, none run twice, none lost');
}

main().catch((error) => {
  process.stderr.write(`soak: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
