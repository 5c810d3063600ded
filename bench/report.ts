/** The bench's report: the phases' results as one table of rows (with targets and the floor), and the profile summaries. */
import os from 'node:os';
import { ROOT } from '../test/support/processes';
import { ms, num, percentile } from './http';
import type { BenchOptions } from './options';
import type { BacklogResult } from './phases/backlog';
import type { FloorResult } from './phases/floor';
import type { IdleResult } from './phases/idle';
import type { LambdaResult } from './phases/lambda';
import { type PeersResult, peerRows } from './phases/peers';
import type { LongPollResult, PickupResult } from './phases/pickup';
import type { PipelineResult, PipelineRun } from './phases/pipeline';
import type { RateResult } from './phases/throughput';
import type { CpuResult } from './procs';
import { summariseProfile } from './profile';

export type Row = { what: string; result: string; target?: string; met?: boolean; vsFloor?: string };

/** Everything one table run measured. */
export type Results = {
  floor: FloorResult;
  creates: RateResult;
  pickFinish: RateResult;
  polling: PickupResult;
  pipelines: PipelineResult;
  idle: IdleResult;
  longPoll: LongPollResult;
  backlog: BacklogResult;
  /** peak VmRSS (kB) of the server from the creates to the pipelines, and its VmHWM before the backlog */
  serverRss: number;
  serverHwm: number | null;
  lambda: LambdaResult;
  /** the yardsticks of ../shared/peer-bench (absent with --quick) */
  peers?: PeersResult;
};

const median = (xs: number[]) => percentile(xs, 50);
const p50p99 = (xs: number[]) => `p50 ${ms(percentile(xs, 50))}, p99 ${ms(percentile(xs, 99))}`;
const mb = (kb: number | null | undefined) => (kb ? `${num(kb / 1024)} MB` : 'n/a');

/** A row saying where the CPU went during a phase: each group as % of one core (the machine has os.cpus().length). */
export function cpuRow(m: CpuResult): Row {
  const pct = (v: number) => `${Math.round(v)}%`;
  const parts = Object.entries(m.shares)
    .filter(([, v]) => v.user + v.sys >= 0.5)
    .map(([k, v]) => (k === 'everything else' ? `${k} ${pct(v.user)}` : `${k} ${pct(v.user + v.sys)} (sys ${pct(v.sys)})`));
  const total = Object.values(m.shares).reduce((a, v) => a + v.user + v.sys, 0);
  return { what: '  CPU, % of one core', result: `${parts.join(', ')}; machine ${pct(total)} of ${os.cpus().length * 100}%` };
}

function pipelineRow(agents: number, run: PipelineRun, target: number, vsFloor: (rate: number) => string): Row {
  return {
    what: `pipeline create->pick->sh -c true->finish, ${agents} agent${agents > 1 ? 's' : ''} (${num(run.count)})`,
    result: `${num(run.rate)}/s (${num(run.ms / 1000, 1)} s)`,
    target: `>= ${target}/s`,
    met: run.rate >= target,
    vsFloor: vsFloor(run.rate),
  };
}

/** The table's rows, in the order the table has always had. */
export function tableRows(options: BenchOptions, r: Results): Row[] {
  const { clients, agents, sizes } = options;
  const vsFloor = (rate: number) => `${(rate / r.floor.claimRate).toFixed(2)}x`;
  const { backlog: b } = r;
  const ratio = (after: number[], before: number[]) => median(after) / median(before);
  const pickRatio = ratio(b.after.pick, b.before.pick);
  const listRatio = ratio(b.after.list, b.before.list);
  const sqlMs = (v: number) => `${v.toFixed(2)} ms`;
  const cold = r.lambda.runs;
  const idleTotal = r.idle.serverPct + r.idle.agentsPct;
  return [
    {
      what: `POST /tasks, ${clients} clients (${num(r.creates.count)})`,
      result: `${num(r.creates.rate)}/s, ${p50p99(r.creates.latencies)}`,
      target: '>= 2,000/s',
      met: r.creates.rate >= 2000,
      vsFloor: `${vsFloor(r.creates.rate)} (${(r.creates.rate / r.floor.insertRate).toFixed(2)}x insert floor)`,
    },
    cpuRow(r.creates.cpu),
    {
      what: `pick+finish, ${clients} HTTP loops, no command (${num(r.pickFinish.count)})`,
      result: `${num(r.pickFinish.rate)}/s`,
      target: '>= 1,000/s',
      met: r.pickFinish.rate >= 1000,
      vsFloor: vsFloor(r.pickFinish.rate),
    },
    cpuRow(r.pickFinish.cpu),
    pipelineRow(1, r.pipelines.one, 150, vsFloor),
    cpuRow(r.pipelines.one.cpu),
    pipelineRow(agents, r.pipelines.many, 300, vsFloor),
    cpuRow(r.pipelines.many.cpu),
    {
      what: `pickup latency, long-poll POLL_WAIT=20s, idle, ${agents} agents (${r.longPoll.latencies.length})`,
      result: p50p99(r.longPoll.latencies),
      target: 'p50 <= 3 ms, p99 <= 10 ms',
      met: percentile(r.longPoll.latencies, 50) <= 3 && percentile(r.longPoll.latencies, 99) <= 10,
    },
    {
      what: `pickup latency, polling POLL_WAIT=0 POLL_INTERVAL=5s, 1 agent (${r.polling.latencies.length})`,
      result: p50p99(r.polling.latencies),
      target: '(comparison)',
    },
    {
      what: `floor: claim+finish SQL, ${clients} connections, no HTTP (${num(sizes.floor)})`,
      result: `${num(r.floor.claimRate)}/s (insertTask alone: ${num(r.floor.insertRate)}/s)`,
      vsFloor: '1.00x',
    },
    {
      what: `pick latency, ${num(b.rowsBefore)} -> ${num(b.rowsAfter)} tasks (p50 of ${sizes.latency})`,
      result: `${ms(median(b.before.pick))} -> ${ms(median(b.after.pick))} (${pickRatio.toFixed(2)}x)`,
      target: '<= 2x',
      met: pickRatio <= 2,
    },
    {
      what: `GET /tasks first page (100), ${num(b.rowsBefore)} -> ${num(b.rowsAfter)} tasks (p50 of ${sizes.latency})`,
      result: `${ms(median(b.before.list))} -> ${ms(median(b.after.list))} (${listRatio.toFixed(2)}x)`,
      target: '<= 2x',
      met: listRatio <= 2,
    },
    {
      what: `  the same SQL alone (direct, pick committed, p50 of ${sizes.latency}): pick; list`,
      result:
        b.before.sql && b.after.sql
          ? `${sqlMs(b.before.sql.pick)} -> ${sqlMs(b.after.sql.pick)} (${(b.after.sql.pick / b.before.sql.pick).toFixed(2)}x); ` +
            `${sqlMs(b.before.sql.list)} -> ${sqlMs(b.after.sql.list)} (${(b.after.sql.list / b.before.sql.list).toFixed(2)}x)`
          : 'n/a (PGlite runs inside the server process)',
    },
    {
      what: 'RSS under load: server / one agent',
      result: `${mb(Math.max(r.serverRss, r.pipelines.serverRss))} / ${mb(r.pipelines.agentRss)} (server peak VmHWM ${mb(r.serverHwm)})`,
    },
    {
      what: `Lambda create-task (esbuild, minified, cjs, node24)${cold.length > 0 ? `, cold start median of ${cold.length}` : ''}`,
      result:
        `${num(r.lambda.bytes / 1024)} KiB` +
        (cold.length > 0
          ? `; load ${ms(median(cold.map((c) => c.loadMs)))} + first call ${ms(median(cold.map((c) => c.invokeMs)))} (process wall ${ms(median(cold.map((c) => c.wallMs)))})`
          : ''),
    },
    {
      what: `idle CPU, ${agents} agents long-polling ${sizes.idleMs / 1000} s (% of one core)`,
      result: `server ${num(r.idle.serverPct, 2)}%, ${agents} agents ${num(r.idle.agentsPct, 2)}% (${num(r.idle.agentsPct / agents, 2)}% each); total ${num(idleTotal, 2)}%`,
      target: '< 2%',
      met: idleTotal < 2,
    },
    ...(r.peers ? peerRows(r.peers, { pipelineRate: r.pipelines.many.rate, embedded: options.embedded }) : []),
  ];
}

/** The notes under the table: what happened that the rows cannot say. */
export function tableNotes(r: Results): string[] {
  const notes: string[] = [];
  if (r.longPoll.note) notes.push(r.longPoll.note);
  if (r.lambda.note) notes.push(r.lambda.note);
  // The vacuum after the bulk insert: a table made mostly of finished tasks has few pages with
  // dead rows, and PostgreSQL then skips cleaning the indexes, the queue's partial index included.
  if (r.backlog.vacuum) notes.push(`vacuum (verbose) of tasks after the bulk insert: ${r.backlog.vacuum}`);
  return notes;
}

/** Prints the header lines, then the rows as aligned columns. */
export function printTable(header: string[], rows: Row[]): void {
  const cells = rows.map((r) => [r.what, r.result, r.target ?? '', r.met === undefined ? '' : r.met ? 'met' : 'MISSED', r.vsFloor ?? '']);
  const titles = ['measurement', 'result', 'target (PostgreSQL)', '', 'vs floor'];
  const widths = titles.map((t, i) => Math.max(t.length, ...cells.map((c) => (c[i] as string).length)));
  const line = (c: string[]) =>
    c
      .map((v, i) => v.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  const out = [...header, '', line(titles), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)];
  process.stdout.write(`${out.join('\n')}\n`);
}

/** Prints a profile summary: CPU from /proc, then self time by package and by frame. */
export function printProfile(title: string, file: string, window: { fromUs: number; toUs: number }, cpu: Row): void {
  const s = summariseProfile(file, ROOT, 25, window);
  const pctOf = (x: number) => `${((x / s.busyMs) * 100).toFixed(1)}%`.padStart(6);
  const out = [
    title,
    `CPU from /proc during the phase, % of one core: ${cpu.result}`,
    `profile window ${ms(s.totalMs)}, main thread not idle ${ms(s.busyMs)} (${((s.busyMs / s.totalMs) * 100).toFixed(0)}%; wall-clock samples, so time`,
    'spent descheduled inside a system call counts for that call); shares of that time:',
    '',
    'self time by package / folder:',
    ...s.packages.map((p) => `  ${pctOf(p.selfMs)}  ${p.name}`),
    '',
    'top frames by self time:',
    ...s.frames.map((f) => `  ${pctOf(f.selfMs)}  ${f.name}  ${f.where}`),
    '',
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}
