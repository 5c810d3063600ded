/**
 * The browser-test kit: a real `npm start` as a child process, Debian's Chromium driven by
 * playwright-core, and a watch on each page for what must never happen (a request to another
 * origin, a console error, a CSP violation, an uncaught exception).
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { freePort } from '../support/net';

export const ROOT = join(__dirname, '..', '..');
export const CHROMIUM = '/usr/bin/chromium';
/** Where the tests write their screenshots (git-ignored); the README's two are copied to docs/images/. */
export const SCREENSHOTS = join(ROOT, 'test-results', 'dashboard');

/** Why the browser tests cannot run here, or null. */
export function chromiumMissing(): string | null {
  return existsSync(CHROMIUM) ? null : `${CHROMIUM} is missing (apt-get install chromium): the dashboard's browser tests need it`;
}

/** Launches Debian's Chromium headless, as STACK.md says it runs as root here; `extraArgs` go on its command line. */
export function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...extraArgs,
    ],
  });
}

export type NpmStart = {
  url: string;
  output(): string;
  stop(): Promise<void>;
};

/** Runs `npm start` (the server and its agents) on a free port and a fresh data dir; resolves once it is ready. */
export async function startNpmStart(env: Record<string, string>): Promise<NpmStart> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'te-dashboard-data-'));
  const child: ChildProcessByStdio<null, Readable, Readable> = spawn('npm', ['start'], {
    cwd: ROOT,
    // Built from scratch: nothing of the test runner's environment (NODE_OPTIONS included) leaks in.
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/root',
      SERVER_PORT: String(port),
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const append = (c: Buffer) => {
    output += c.toString();
  };
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 90000;
  while (!/ready on (http:\/\/\S+)/.test(output)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`npm start did not become ready:\n${output.slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const url = (/ready on (http:\/\/\S+)/.exec(output) as RegExpExecArray)[1] as string;
  return {
    url,
    output: () => output,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 20000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export type Watch = {
  /** requests to anything but the server's origin */
  foreign: string[];
  /** console errors and uncaught exceptions, with the URL they concern */
  errors: string[];
  /** Content-Security-Policy violations the page reported */
  violations(): Promise<string[]>;
};

/** Records what a page must never do; call before the first navigation. */
export async function watch(context: BrowserContext, page: Page, origin: string): Promise<Watch> {
  const foreign: string[] = [];
  const errors: string[] = [];
  // Runs before the page's own script (injected by the browser, not subject to the page's CSP).
  await context.addInitScript(() => {
    const seen: string[] = [];
    (window as unknown as { __violations: string[] }).__violations = seen;
    document.addEventListener('securitypolicyviolation', (e) => seen.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  page.on('request', (r) => {
    const url = r.url();
    if (!url.startsWith(`${origin}/`) && !url.startsWith('data:')) foreign.push(url);
  });
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  return {
    foreign,
    errors,
    violations: async () => {
      if (page.isClosed()) return [];
      return page.evaluate(() => (window as unknown as { __violations?: string[] }).__violations ?? []).catch(() => []);
    },
  };
}

/** Saves a screenshot under test-results/dashboard/. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: false });
  return path;
}

/** A task created through the API (as curl would), with the token. */
export async function createViaApi(base: string, token: string, body: Record<string, unknown>): Promise<{ id: string; command: string }> {
  const res = await fetch(`${base}/tasks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  if (res.status !== 201) throw new Error(`POST /tasks answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as { id: string; command: string };
}

/** GET /tasks/{id} through the API. */
export async function getViaApi(
  base: string,
  token: string,
  id: string,
): Promise<{ state: string; stdout?: string; error: string | null }> {
  const res = await fetch(`${base}/tasks/${id}`, { headers: { authorization: `Bearer ${token}` } });
  return (await res.json()) as { state: string; stdout?: string; error: string | null };
}
