/**
 * `npm run bench:dashboard`: what the dashboard costs. Starts the server and two agents as
 * `npm start` does (in-process start.ts, fresh embedded store), fills the list with 1,000 tasks
 * and keeps the agents busy, then measures:
 *   - the first load in Chromium: JavaScript and CSS transferred (gzip), time to the filled table;
 *   - the server's CPU (utime + stime of its process, from /proc/<pid>/stat) for 60 s with no tab,
 *     with 5 tabs on the list (100 rows each), and with 5 tabs that loaded all 1,000 rows.
 * Only loopback traffic; everything it starts is stopped at the end.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { freePort } from '../test/support/net';
import { spawnScript, stopAll } from '../test/support/processes';
import { clkTck } from './procs';

const TOKEN = 'bench-dashboard-token';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

/** The server process's own CPU seconds (not its children's). */
function ownCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clkTck();
}

async function post(base: string, command: string): Promise<void> {
  const res = await fetch(`${base}/tasks`, { method: 'POST', headers: auth, body: JSON.stringify({ command, timeoutSeconds: 600 }) });
  if (res.status !== 201) throw new Error(`POST /tasks answered ${res.status}`);
}

/** Keeps the list busy: a task every 500 ms (each runs 1 s), until stopped. */
function keepBusy(base: string): () => void {
  let on = true;
  let i = 0;
  const loop = async () => {
    while (on) {
      await post(base, `sleep 1; echo busy ${i++}`).catch(() => {});
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  void loop();
  return () => {
    on = false;
  };
}

async function measureCpu(pid: number, seconds: number): Promise<number> {
  const start = ownCpuSeconds(pid);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  return (ownCpuSeconds(pid) - start) / ((performance.now() - t0) / 1000);
}

async function openTab(browser: Browser, base: string, allRows: boolean): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.addInitScript((token) => {
    sessionStorage.setItem('taskexec.apiToken', token);
    // The longest main-thread task (over 50 ms) since the page opened: jank a person would see.
    const longest = { ms: 0 };
    (window as unknown as { __longest: { ms: number } }).__longest = longest;
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) longest.ms = Math.max(longest.ms, e.duration);
    }).observe({ type: 'longtask' });
  }, TOKEN);
  const page = await context.newPage();
  await page.goto(`${base}/`);
  await page.getByRole('table', { name: 'Tasks' }).locator('tbody tr').first().waitFor();
  if (allRows) {
    const more = page.getByRole('button', { name: 'Load more' });
    while ((await more.count()) > 0 && (await page.locator('tbody tr').count()) < 1000) {
      await more.click();
      await page.waitForTimeout(150);
    }
  }
  return page;
}

async function firstLoad(browser: Browser, base: string): Promise<string> {
  const context = await browser.newContext();
  await context.addInitScript((token) => sessionStorage.setItem('taskexec.apiToken', token), TOKEN);
  const page = await context.newPage();
  const t0 = Date.now();
  await page.goto(`${base}/`);
  await page.getByRole('table', { name: 'Tasks' }).locator('tbody tr').nth(99).waitFor();
  const filled = Date.now() - t0;
  const sizes = await page.evaluate(() =>
    performance
      .getEntriesByType('resource')
      .map((e) => e as PerformanceResourceTiming)
      .filter((e) => e.name.includes('/assets/'))
      .map((e) => ({ name: e.name.split('/').pop() as string, transfer: e.encodedBodySize, decoded: e.decodedBodySize })),
  );
  const nav = await page.evaluate(() => {
    const n = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
    return { dcl: Math.round(n.domContentLoadedEventEnd), load: Math.round(n.loadEventEnd) };
  });
  await context.close();
  return `first load: ${sizes.map((s) => `${s.name} ${s.transfer} B gzip (${s.decoded} B)`).join(', ')}; DOMContentLoaded ${nav.dcl} ms, load ${nav.load} ms, 100 rows on screen ${filled} ms after navigation`;
}

async function main(): Promise<void> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'te-bench-dashboard-'));
  let ready = '';
  const server = spawnScript('server', 'infra/local/start.ts', {
    keepOutput: false,
    env: {
      SERVER_PORT: String(port),
      DATA_DIR: dataDir,
      AGENTS: '2',
      API_TOKEN: TOKEN,
      LOG_LEVEL: 'warn',
      POLL_INTERVAL: '200ms',
    },
    logPath: join(dataDir, '..', `te-bench-dashboard-${port}.log`),
    onStdoutLine: (line: string) => {
      if (line.includes('ready on')) ready = line;
    },
  });
  const base = `http://127.0.0.1:${port}`;
  let browser: Browser | undefined;
  try {
    for (let i = 0; !ready; i++) {
      if (i > 900) throw new Error('the server did not start in 90 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    console.log(ready);
    // 1,000 tasks that end at once, then the agents kept busy.
    for (let i = 0; i < 1000; i++) await post(base, i % 10 === 0 ? `exit ${i % 3}` : `echo task ${i}`);
    const stop = keepBusy(base);
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    console.log(await firstLoad(browser, base));

    const idle = await measureCpu(server.pid, SECONDS);
    console.log(`server CPU, no tab, agents busy: ${(idle * 100).toFixed(1)} % of one core over ${SECONDS} s`);
    for (const allRows of [false, true]) {
      const tabs: Page[] = [];
      for (let i = 0; i < 5; i++) tabs.push(await openTab(browser, base, allRows));
      const rows = await tabs[0]?.locator('tbody tr').count();
      const loading = await Promise.all(
        tabs.map((t) => t.evaluate(() => (window as unknown as { __longest: { ms: number } }).__longest.ms)),
      );
      console.log(
        `longest main-thread task per tab while it loaded (${rows} rows): ${loading.map((m) => `${Math.round(m)} ms`).join(', ')}`,
      );
      for (const t of tabs)
        await t.evaluate(() => Object.assign((window as unknown as { __longest: { ms: number } }).__longest, { ms: 0 }));
      const busy = await measureCpu(server.pid, SECONDS);
      const longest = await Promise.all(
        tabs.map((t) => t.evaluate(() => (window as unknown as { __longest: { ms: number } }).__longest.ms)),
      );
      console.log(
        `longest main-thread task per tab over the measured ${SECONDS} s (${rows} rows, refreshed every 2 s): ${longest.map((m) => `${Math.round(m)} ms`).join(', ')}`,
      );
      console.log(
        `server CPU, 5 tabs on the list (${rows} rows each), agents busy: ${(busy * 100).toFixed(1)} % of one core over ${SECONDS} s (+${((busy - idle) * 100).toFixed(1)} points for the tabs)`,
      );
      for (const t of tabs) await t.context().close();
    }
    stop();
  } finally {
    await browser?.close();
    await stopAll();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
