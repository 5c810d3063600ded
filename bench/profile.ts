/** Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time per frame and per package. */
import { readFileSync } from 'node:fs';

type ProfileNode = {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
};
type CpuProfile = { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };

/** The monotonic clock in microseconds, comparable with a .cpuprofile's sample times on Linux. */
export const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

export type ProfileSummary = {
  /** wall time the profile covers, ms */
  totalMs: number;
  /** time not spent idle, ms */
  busyMs: number;
  frames: { name: string; where: string; selfMs: number }[];
  packages: { name: string; selfMs: number }[];
};

/** The package (or project folder) a script URL belongs to. */
function packageOf(url: string, root: string): string {
  if (url === '') return '(native / V8)';
  if (url.startsWith('node:')) return 'node internals';
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = path.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? path);
  }
  if (path.startsWith(root))
    return path
      .slice(root.length + 1)
      .split('/')
      .slice(0, 2)
      .join('/');
  return path;
}

/**
 * Self time per frame and per package. `window` (microseconds of the monotonic clock, the one
 * V8 stamps samples with and process.hrtime reads) keeps only the samples taken inside it.
 */
export function summariseProfile(file: string, root: string, top = 20, window?: { fromUs: number; toUs: number }): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  let t = profile.startTime;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    if (window && (t < window.fromUs || t > window.toUs)) return;
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  });
  const frames = new Map<string, { name: string; where: string; selfMs: number }>();
  const packages = new Map<string, number>();
  let idleUs = 0;
  let totalUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    totalUs += us;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    const where = url ? `${url.replace(/^file:\/\//, '').replace(`${root}/`, '')}:${lineNumber + 1}` : '';
    const key = `${functionName}|${where}`;
    const f = frames.get(key) ?? { name: functionName || '(anonymous)', where, selfMs: 0 };
    f.selfMs += us / 1000;
    frames.set(key, f);
    const pkg = functionName.startsWith('(') && url === '' ? functionName : packageOf(url, root);
    packages.set(pkg, (packages.get(pkg) ?? 0) + us / 1000);
  }
  return {
    totalMs: totalUs / 1000,
    busyMs: (totalUs - idleUs) / 1000,
    frames: [...frames.values()].sort((a, b) => b.selfMs - a.selfMs).slice(0, top),
    packages: [...packages.entries()]
      .map(([name, selfMs]) => ({ name, selfMs }))
      .sort((a, b) => b.selfMs - a.selfMs)
      .slice(0, top),
  };
}
