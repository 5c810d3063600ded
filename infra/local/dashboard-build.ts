/**
 * Builds the dashboard (dashboard/ through its entry functions/root/browser.ts) into
 * dist/dashboard with esbuild's JS API: `npm run build:dashboard`, and `npm start` when the
 * bundle is missing or older than its sources. The options are the ones SAM's esbuild build
 * gives the Root function (template.yaml), so the page served here is byte for byte the one
 * Lambda serves (test/deploy/bundles.test.ts compares the hashed names).
 */
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { build, type Metafile } from 'esbuild';

const ROOT = join(__dirname, '..', '..');
export const DASHBOARD_ENTRY = 'functions/root/browser.ts';
export const DASHBOARD_OUT = join(ROOT, 'dist', 'dashboard');

/** What feeds the bundle: its sources, the entry, and the lock file (a dependency's update changes it). */
const SOURCES = ['dashboard', DASHBOARD_ENTRY, 'contract/task.ts', 'contract/http.ts', 'package-lock.json'];

function newestMtime(path: string): number {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (stat === undefined) return 0;
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((name) => newestMtime(join(path, name))));
}

/** True when dist/dashboard lacks the bundle or any source is newer than it. */
export function dashboardIsStale(out = DASHBOARD_OUT): boolean {
  const built = Math.min(newestMtime(join(out, 'browser.js')), newestMtime(join(out, 'browser.css')));
  return built === 0 || SOURCES.some((s) => newestMtime(join(ROOT, s)) > built);
}

export type DashboardBuild = { ms: number; files: { name: string; bytes: number }[]; metafile: Metafile };

/** Bundles the dashboard into `out` (cleared first), with SAM's options for the Root function. */
export async function buildDashboard(out = DASHBOARD_OUT): Promise<DashboardBuild> {
  const started = performance.now();
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: [DASHBOARD_ENTRY],
    bundle: true,
    // As SAM runs esbuild for a function: platform node, CommonJS, minified, source maps. The
    // output references neither require nor module, so it runs as a classic browser script.
    platform: 'node',
    format: 'cjs',
    target: 'node22',
    minify: true,
    sourcemap: true,
    outdir: out,
    metafile: true,
    logLevel: 'warning',
  });
  const files = Object.entries(result.metafile.outputs).map(([name, o]) => ({ name: relative(out, join(ROOT, name)), bytes: o.bytes }));
  return { ms: Math.round(performance.now() - started), files, metafile: result.metafile };
}

/** Builds the dashboard when it is stale; says what it did. */
export async function ensureDashboard(out = DASHBOARD_OUT): Promise<{ built: boolean; ms: number }> {
  if (!dashboardIsStale(out)) return { built: false, ms: 0 };
  const { ms } = await buildDashboard(out);
  return { built: true, ms };
}

if (require.main === module) {
  buildDashboard().then(
    ({ ms, files }) => process.stdout.write(`dashboard built in ${ms} ms: ${files.map((f) => `${f.name} ${f.bytes} B`).join(', ')}\n`),
    (error: Error) => {
      process.stderr.write(`dashboard build failed: ${error.message}\n`);
      process.exit(1);
    },
  );
}
