/**
 * Yardsticks from `../shared/peer-bench` (beside the project's folder), run in the same bench run
 * when that folder is there: the reference pipeline (its `e2e.mjs`, with the settings its
 * `compare.sh` uses: express, 10 agents) and graphile-worker's and pg-boss's idle pickup latency
 * (`SECTIONS="gw boss" peers.sh`). Their scripts are run where they are, never copied into the
 * project; their own dependencies (pg, express; the peers) are installed by them or, for e2e.mjs,
 * as compare.sh does, into PEER_BENCH_DEPS (default ~/.cache/peer-bench).
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../../test/support/processes';
import type { BenchContext } from '../context';
import type { Row } from '../report';

const run = promisify(execFile);
export const PEER_BENCH = join(ROOT, '..', 'shared', 'peer-bench');

export type PeerFigure = { section: string; metric: string; value: number; unit: string };
export type PeersResult = { absent: string | null; reference: PeerFigure[]; peers: PeerFigure[]; errors: string[] };

/** `RESULT\tsection\tmetric\tvalue\tunit\tnote` lines (peer-bench's lib.mjs), and its e2e.mjs's tab-separated table lines. */
export function parseTabbed(out: string): PeerFigure[] {
  const figures: PeerFigure[] = [];
  for (const line of out.split('\n')) {
    const cols = line.split('\t');
    if (cols[0] === 'RESULT') cols.shift();
    const [section, metric, value, unit] = cols;
    if (section && metric && unit !== undefined && value !== undefined && Number.isFinite(Number(value)) && value.trim() !== '') {
      figures.push({ section, metric, value: Number(value), unit });
    }
  }
  return figures;
}

/** peers.sh's final table: SECTION (26 wide), METRIC (66 wide), VALUE, UNIT, NOTE. */
export function parsePeersTable(out: string): PeerFigure[] {
  const figures: PeerFigure[] = [];
  for (const line of out.split('\n')) {
    if (line.length < 95 || line.startsWith('SECTION')) continue;
    const section = line.slice(0, 27).trim();
    const metric = line.slice(27, 94).trim();
    const [value, unit] = line.slice(94).trim().split(/\s+/);
    if (section && metric && value !== undefined && Number.isFinite(Number(value)))
      figures.push({ section, metric, value: Number(value), unit: unit ?? '' });
  }
  return figures;
}

/** The reference's dependencies where compare.sh keeps them, and its scripts beside them. */
async function referenceDir(): Promise<string> {
  const deps = process.env.PEER_BENCH_DEPS ?? join(os.homedir(), '.cache', 'peer-bench');
  mkdirSync(deps, { recursive: true });
  if (!existsSync(join(deps, 'node_modules', 'express'))) {
    writeFileSync(join(deps, 'package.json'), '{"name":"peer-bench","private":true,"type":"module"}\n');
    await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', 'pg', 'express@5'], { cwd: deps });
  }
  // The scripts import each other and resolve pg/express from their own folder (as compare.sh runs them).
  for (const f of readdirSync(PEER_BENCH).filter((n) => n.endsWith('.mjs'))) copyFileSync(join(PEER_BENCH, f), join(deps, f));
  return deps;
}

/** Runs both yardsticks; says why a part is missing instead of failing the bench. */
export async function measurePeers(ctx: BenchContext): Promise<PeersResult> {
  const result: PeersResult = { absent: null, reference: [], peers: [], errors: [] };
  if (!existsSync(join(PEER_BENCH, 'e2e.mjs'))) {
    result.absent = `${PEER_BENCH} is not there: no reference or peer rows`;
    return result;
  }
  const dbEnv = { ...process.env, BENCH_DATABASE_URL: ctx.options.adminUrl.replace(/\/[^/]*$/, '') };
  ctx.say('reference pipeline (../shared/peer-bench/e2e.mjs, express, 10 agents)');
  try {
    const cwd = await referenceDir();
    const { stdout } = await run('node', ['e2e.mjs'], {
      cwd,
      env: { ...dbEnv, E2E_SERVERS: 'express', PIPE_AGENTS: '10', AGENTS: '10', E2E_CREATE: '1000', LAT_SAMPLES: '50' },
      maxBuffer: 16 * 1024 * 1024,
      timeout: 600000,
    });
    result.reference = parseTabbed(stdout).filter((f) => /pipeline 10 agents: create->pick->sh|pickup latency|POST \/tasks/.test(f.metric));
  } catch (error) {
    result.errors.push(`reference: ${(error as Error).message.split('\n')[0]}`);
  }
  ctx.say('graphile-worker and pg-boss pickup latency (SECTIONS="gw boss" ../shared/peer-bench/peers.sh)');
  try {
    const { stdout } = await run('bash', [join(PEER_BENCH, 'peers.sh')], {
      env: { ...dbEnv, SECTIONS: 'gw boss', JOBS: '1000', LAT_SAMPLES: '100' },
      maxBuffer: 16 * 1024 * 1024,
      timeout: 900000,
    });
    result.peers = parsePeersTable(stdout).filter((f) => /pickup latency/.test(f.metric));
  } catch (error) {
    result.errors.push(`peers: ${(error as Error).message.split('\n')[0]}`);
  }
  return result;
}

const fig = (figures: PeerFigure[], metric: RegExp, section?: RegExp) =>
  figures.find((f) => metric.test(f.metric) && (section === undefined || section.test(f.section)));
const msOf = (f: PeerFigure | undefined) => (f ? `${f.value.toFixed(1)} ms` : 'n/a');

/** The table's rows for the yardsticks: the reference pipeline beside ours (a ratio), and each one's pickup latency. */
export function peerRows(p: PeersResult, ours: { pipelineRate: number; embedded: boolean }): Row[] {
  if (p.absent) return [{ what: 'reference pipeline and peers', result: p.absent }];
  const rows: Row[] = [];
  const ref = fig(p.reference, /^pipeline 10 agents: create->pick->sh/);
  const want = ours.embedded ? 0.8 : 1.0;
  if (ref) {
    const ratio = ours.pipelineRate / ref.value;
    rows.push({
      what: 'reference pipeline, 10 agents (peer-bench e2e.mjs, express; same run)',
      result: `${ref.value.toFixed(1)}/s; ours ${ours.pipelineRate.toFixed(1)}/s = ${ratio.toFixed(2)}x`,
      target: `>= ${want.toFixed(1)}x`,
      met: ratio >= want,
    });
  }
  const refPick = [fig(p.reference, /pickup latency p50/), fig(p.reference, /pickup latency p99/)];
  if (refPick[0])
    rows.push({ what: '  reference pickup latency, long-poll, 10 agents', result: `p50 ${msOf(refPick[0])}, p99 ${msOf(refPick[1])}` });
  for (const [name, section] of [
    ['graphile-worker', /graphile/i],
    ['pg-boss', /boss/i],
  ] as const) {
    const p50 = fig(p.peers, /pickup latency p50/, section);
    if (p50)
      rows.push({
        what: `  ${name} pickup latency, idle (${p50.section})`,
        result: `p50 ${msOf(p50)}, p99 ${msOf(fig(p.peers, /pickup latency p99/, section))}`,
      });
  }
  for (const e of p.errors) rows.push({ what: '  (a yardstick failed)', result: e.slice(0, 160) });
  return rows;
}
