/**
 * The dashboard in a real browser (Debian's Chromium through playwright-core) against a real
 * `npm start` with API_TOKEN set and two agents: sign-in, creating and following a task, live
 * updates, the state filter, cancel, ANSI colours, escaping, a 3 MB output, keyboard-only use
 * and axe-core. Every page is watched: no request to another origin, no console error, no CSP
 * violation. Screenshots go to test-results/dashboard/. Then `npm start` without API_TOKEN, where
 * the server answers only its own names and pages: the dashboard at 127.0.0.1 and localhost, and
 * a copy of it loaded under a DNS rebinding name.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { eventually } from '../support/clock';
import { describeUnless } from '../support/conditional';
import {
  chromiumMissing,
  createViaApi,
  getViaApi,
  launchChromium,
  type NpmStart,
  ROOT,
  screenshot,
  startNpmStart,
  type Watch,
  watch,
} from './support';

const TOKEN = 'dashboard-test-token-0123456789';
/** Whether npm start's agents get a PID namespace here (then they measure usage). */
const namespaceHere = (() => {
  const args = process.getuid?.() === 0 ? [] : ['--user', '--map-current-user'];
  return spawnSync('unshare', [...args, '--pid', '--fork', '--kill-child', '--mount-proc', 'true']).status === 0;
})();
const TOKEN_KEY = 'taskexec.apiToken';
/** A 3 MB stdout must be stored whole for the big-output case (the default cap is 1 MiB). */
const OUTPUT_LIMIT = 4 * 1024 * 1024;

describeUnless(chromiumMissing())('the dashboard in Chromium against npm start', () => {
  let server: NpmStart;
  let browser: Browser;
  /** The pages of the running test, each with its watch; checked after every test. */
  let opened: { page: Page; context: BrowserContext; watch: Watch; expectedErrors: RegExp[] }[] = [];

  beforeAll(async () => {
    [server, browser] = await Promise.all([
      startNpmStart({ API_TOKEN: TOKEN, AGENTS: '2', OUTPUT_LIMIT_BYTES: String(OUTPUT_LIMIT), POLL_INTERVAL: '200ms' }),
      launchChromium(),
    ]);
  }, 120000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  }, 60000);

  afterEach(async () => {
    const pages = opened;
    opened = [];
    const seen = { foreignRequests: [] as string[], consoleErrors: [] as string[], cspViolations: [] as string[] };
    for (const o of pages) {
      seen.cspViolations.push(...(await o.watch.violations()));
      seen.consoleErrors.push(...o.watch.errors.filter((e) => !o.expectedErrors.some((re) => re.test(e))));
      seen.foreignRequests.push(...o.watch.foreign);
      await o.context.close();
    }
    expect(seen).toEqual({ foreignRequests: [], consoleErrors: [], cspViolations: [] });
  });

  /** A fresh tab (its own sessionStorage), signed in unless told otherwise, at `hash`. */
  async function open(hash = '#/', opts: { signedIn?: boolean; expectedErrors?: RegExp[]; width?: number } = {}): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: opts.width ?? 1280, height: 860 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
    if (opts.signedIn !== false) {
      await context.addInitScript(
        ({ key, token }) => {
          if (sessionStorage.getItem(key) === null) sessionStorage.setItem(key, token);
        },
        { key: TOKEN_KEY, token: TOKEN },
      );
    }
    const page = await context.newPage();
    const w = await watch(context, page, server.url);
    opened.push({ page, context, watch: w, expectedErrors: opts.expectedErrors ?? [] });
    await page.goto(`${server.url}/${hash}`);
    return page;
  }

  const stdoutOf = (page: Page) => page.getByRole('region', { name: 'stdout' }).locator('.stream');
  const stateOf = (page: Page) => page.getByTestId('task-state');

  it('asks for the API token, says plainly when it is wrong, and keeps the right one for the tab', async () => {
    // The wrong token's 401s are logged by Chromium as failed resources: expected here, nowhere else.
    const page = await open('#/', { signedIn: false, expectedErrors: [/status of 401/] });
    await page.getByLabel('API token').fill('not-the-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'not the server’s API token' }).waitFor();
    expect(await page.getByRole('table', { name: 'Tasks' }).count()).toBe(0);

    await page.getByLabel('API token').fill(TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('table', { name: 'Tasks' }).waitFor();
    expect(await page.evaluate((key) => sessionStorage.getItem(key), TOKEN_KEY)).toBe(TOKEN);

    // Kept for the tab: a reload does not ask again.
    await page.reload();
    await page.getByRole('table', { name: 'Tasks' }).waitFor();
    expect(await page.getByLabel('API token').count()).toBe(0);
  });

  it('brings the prompt back with a plain message when the server stops taking the token', async () => {
    const page = await open('#/', { expectedErrors: [/status of 401/] });
    await page.getByRole('table', { name: 'Tasks' }).waitFor();
    await page.evaluate((key) => sessionStorage.setItem(key, 'revoked'), TOKEN_KEY);
    await page.getByLabel('API token').waitFor({ timeout: 10000 });
    expect(await page.getByRole('alert').filter({ hasText: 'The server refused the token' }).count()).toBe(1);
  });

  it('runs a command from the form with Enter and shows its output line by line while it runs', async () => {
    const page = await open();
    await page.getByLabel('Command', { exact: true }).fill('for i in 1 2 3 4 5; do echo "line $i"; sleep 1.5; done');
    await page.getByLabel('Timeout (seconds)').fill('60');
    await page.getByLabel('Command', { exact: true }).press('Enter');
    await page.waitForURL(/#\/tasks\/[0-9a-f-]{36}$/);
    const id = page.url().split('/').pop() as string;

    await stdoutOf(page).filter({ hasText: 'line 2' }).waitFor({ timeout: 15000 });
    // Line 2 is on the page before the command wrote line 5: the output follows, it is not shown at the end.
    const early = (await stdoutOf(page).textContent()) ?? '';
    expect(early).toContain('line 1');
    expect(early).not.toContain('line 5');
    expect(await stateOf(page).textContent()).toBe('running');
    await screenshot(page, 'task-following');

    await eventually(async () => (await stateOf(page).textContent()) === 'succeeded', 30000);
    await stdoutOf(page).filter({ hasText: 'line 5' }).waitFor();
    expect(await stdoutOf(page).textContent()).toBe('line 1\nline 2\nline 3\nline 4\nline 5\n');
    expect((await getViaApi(server.url, TOKEN, id)).stdout).toBe('line 1\nline 2\nline 3\nline 4\nline 5\n');
    // Copy puts the whole stream on the clipboard.
    await page.getByRole('button', { name: 'Copy stdout' }).click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe('line 1\nline 2\nline 3\nline 4\nline 5\n');
  }, 60000);

  it('shows a task created elsewhere through the API, and its state changes, without a reload', async () => {
    const page = await open();
    await page.getByRole('table', { name: 'Tasks' }).waitFor();
    const marker = `created-elsewhere-${Date.now()}`;
    const task = await createViaApi(server.url, TOKEN, { command: `sleep 2; echo ${marker}` });
    const row = page.getByRole('row').filter({ has: page.getByRole('link', { name: task.command }) });
    // The page promises 3 s; the margin is for a loaded 2-core machine.
    await row.waitFor({ timeout: 6000 });
    await row.getByText('succeeded').waitFor({ timeout: 15000 });
    expect(await row.getByRole('link').getAttribute('href')).toBe(`#/tasks/${task.id}`);
  }, 30000);

  it('lists the agents in the Agents view, and shows the usage an agent measured in the task', async () => {
    const page = await open();
    await page.getByRole('link', { name: 'Agents' }).click();
    const table = page.getByRole('table', { name: 'Agents' });
    await table.waitFor();
    // npm start names its agents local-agent-1, local-agent-2 (infra/local/start.ts).
    for (const id of ['local-agent-1', 'local-agent-2']) {
      await table
        .getByRole('row')
        .filter({ hasText: id })
        .filter({ hasText: /idle|busy/ })
        .waitFor({ timeout: 10000 });
    }
    const task = await createViaApi(server.url, TOKEN, {
      command: `perl -e 'until ((times)[0] >= 0.2) { for (1 .. 100000) {} }' # usage-${Date.now()}`,
    });
    await page.goto(`${server.url}/#/tasks/${task.id}`);
    await stateOf(page).getByText('succeeded').waitFor({ timeout: 30000 });
    // npm start's agents run each command in a PID namespace where the host allows one (root here).
    const cpu = (await page.getByTestId('task-cpu').textContent()) ?? '';
    if (namespaceHere) expect(Number(/^(\d+\.\d+) s user/.exec(cpu)?.[1])).toBeGreaterThanOrEqual(0.2);
    else expect(cpu).toBe('—');
  }, 60000);

  it('filters the table by state', async () => {
    const sleeper = await createViaApi(server.url, TOKEN, { command: `sleep 30 # filter-${Date.now()}` });
    const quick = await createViaApi(server.url, TOKEN, { command: `true # filter-${Date.now()}` });
    await eventually(async () => (await getViaApi(server.url, TOKEN, sleeper.id)).state === 'running');
    await eventually(async () => (await getViaApi(server.url, TOKEN, quick.id)).state === 'succeeded');
    const page = await open();
    const table = page.getByRole('table', { name: 'Tasks' });
    await table.getByRole('link', { name: sleeper.command }).waitFor();

    // A new filter first shows the old rows, then an empty table until its first page comes:
    // look once the filtered page is there (the quick task in it, the sleeper not).
    const shown = async (wanted: string, gone: string) =>
      (await table.getByRole('link', { name: wanted }).count()) === 1 && (await table.getByRole('link', { name: gone }).count()) === 0;
    await page.getByLabel('State', { exact: true }).selectOption('succeeded');
    await eventually(() => shown(quick.command, sleeper.command));
    const states = await table.locator('tbody td:first-child').allInnerTexts();
    expect(states.length).toBeGreaterThan(0);
    expect(new Set(states.map((s) => s.replace(/^\W+/, '').trim()))).toEqual(new Set(['succeeded']));

    await page.getByLabel('State', { exact: true }).selectOption('running');
    await eventually(() => shown(sleeper.command, quick.command));
    await fetch(`${server.url}/tasks/${sleeper.id}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
  }, 60000);

  it('loads more rows on demand through the cursor, and keeps them live', async () => {
    const marker = `page-${Date.now()}`;
    const first = await createViaApi(server.url, TOKEN, { command: `true # ${marker} oldest` });
    for (let i = 0; i < 100; i++) await createViaApi(server.url, TOKEN, { command: `true # ${marker} ${i}` });
    const page = await open();
    const rows = page.getByRole('table', { name: 'Tasks' }).locator('tbody tr');
    await eventually(async () => (await rows.count()) === 100);
    expect(await page.getByRole('link', { name: first.command }).count()).toBe(0);
    await page.getByRole('button', { name: 'Load more' }).click();
    await page.getByRole('link', { name: first.command }).waitFor();
    expect(await rows.count()).toBeGreaterThan(100);
    // The loaded page is inside the refreshed window: its rows follow their tasks' states.
    const row = page.getByRole('row').filter({ has: page.getByRole('link', { name: first.command }) });
    await row.getByText('succeeded').waitFor({ timeout: 20000 });
  }, 60000);

  it('cancels a running task from its page', async () => {
    const task = await createViaApi(server.url, TOKEN, { command: 'echo started; sleep 60' });
    const page = await open(`#/tasks/${task.id}`);
    await eventually(async () => (await stateOf(page).textContent()) === 'running', 20000);
    await page.getByRole('button', { name: 'Cancel' }).click();
    await eventually(async () => (await stateOf(page).textContent()) === 'canceled', 20000);
    expect(await page.getByRole('button', { name: 'Cancel' }).count()).toBe(0);
    expect((await getViaApi(server.url, TOKEN, task.id)).state).toBe('canceled');
    await page.getByText('canceled by user').waitFor();
  }, 40000);

  it('shows ANSI colours as colours, and markup in commands and output as text', async () => {
    const hostile = '<img src=x onerror="window.__pwned=1">';
    const task = await createViaApi(server.url, TOKEN, {
      command: `printf '\\033[31mred\\033[0m \\033[1;32mbold green\\033[0m plain ${hostile}\\n'; echo '${hostile}' >&2`,
    });
    const page = await open(`#/tasks/${task.id}`);
    const red = stdoutOf(page).locator('span', { hasText: 'red' }).first();
    await red.waitFor({ timeout: 20000 });
    expect(await red.evaluate((el) => getComputedStyle(el).color)).toBe('rgb(255, 123, 114)');
    const green = stdoutOf(page).locator('span', { hasText: 'bold green' });
    expect(await green.evaluate((el) => [getComputedStyle(el).color, getComputedStyle(el).fontWeight])).toEqual([
      'rgb(86, 211, 100)',
      '700',
    ]);
    expect(await stdoutOf(page).textContent()).toBe(`red bold green plain ${hostile}\n`);
    await page.getByRole('region', { name: 'stderr' }).getByText(hostile).waitFor();

    await page.goto(`${server.url}/#/`);
    await page.getByRole('link', { name: task.command }).waitFor();
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
  }, 40000);

  it('renders a 3 MB output without freezing the page', async () => {
    const lines = 30000;
    const task = await createViaApi(server.url, TOKEN, {
      command: `awk 'BEGIN { for (i = 0; i < ${lines}; i++) printf "\\033[3%dmline %05d\\033[0m %s\\n", i % 8, i, "................................................................................" }'`,
    });
    await eventually(async () => (await getViaApi(server.url, TOKEN, task.id)).state === 'succeeded', 60000, 200);
    const page = await open();
    // Long tasks (main-thread work over 50 ms) while the output is drawn: the longest is the freeze a person would feel.
    await page.evaluate(() => {
      const longest = { ms: 0 };
      (window as unknown as { __longest: { ms: number } }).__longest = longest;
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) longest.ms = Math.max(longest.ms, e.duration);
      }).observe({ type: 'longtask', buffered: false });
    });
    const started = Date.now();
    await page.getByRole('table', { name: 'Tasks' }).waitFor();
    await page.evaluate((id) => {
      location.hash = `#/tasks/${id}`;
    }, task.id);
    await stdoutOf(page)
      .getByText(`line ${String(lines - 1).padStart(5, '0')}`)
      .waitFor({ timeout: 60000 });
    const drawnMs = Date.now() - started;
    const longest = await page.evaluate(() => (window as unknown as { __longest: { ms: number } }).__longest.ms);
    const length = await stdoutOf(page).evaluate((el) => (el.textContent ?? '').length);
    console.log(`3 MB output (${lines} coloured lines): drawn in ${drawnMs} ms, longest main-thread task ${Math.round(longest)} ms`);
    expect(length).toBe(lines * 92);
    // Still answering the keyboard: Tab moves focus while the output is on the page.
    await page.getByRole('button', { name: 'Copy stdout' }).focus();
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.tagName)).toBeTruthy();
    // A freeze is one task holding the page for a second or more; the output is drawn in 64 KB slices.
    expect(longest).toBeLessThan(1000);
  }, 120000);

  it('can be used with the keyboard alone, with a visible focus', async () => {
    const page = await open();
    await page.getByRole('table', { name: 'Tasks' }).waitFor();
    const focused = () =>
      page.evaluate(() => {
        const el = document.activeElement as HTMLElement | null;
        return { id: el?.id ?? '', text: el?.textContent?.trim() ?? '', outline: el ? getComputedStyle(el).outlineStyle : 'none' };
      });
    let f = await focused();
    for (let i = 0; i < 20 && f.id !== 'command'; i++) {
      await page.keyboard.press('Tab');
      f = await focused();
      expect(f.outline).not.toBe('none');
    }
    expect(f.id).toBe('command');
    await page.keyboard.type('echo typed with the keyboard');
    await page.keyboard.press('Enter');
    await page.waitForURL(/#\/tasks\//);
    await eventually(async () => (await stateOf(page).textContent()) === 'succeeded', 20000);
    await stdoutOf(page).getByText('typed with the keyboard').waitFor();

    // Back to the list with the keyboard, then the filter: typing a state's first letter picks it.
    for (let i = 0; i < 10 && (await focused()).text !== '← All tasks'; i++) await page.keyboard.press('Tab');
    expect((await focused()).text).toBe('← All tasks');
    await page.keyboard.press('Enter');
    await page.getByRole('table', { name: 'Tasks' }).waitFor();
    await page.getByLabel('State', { exact: true }).focus();
    await page.keyboard.type('su'); // 's' alone is scheduled, the first state with an s
    expect(await page.getByLabel('State', { exact: true }).inputValue()).toBe('succeeded');
    await page.getByRole('table', { name: 'Tasks' }).getByRole('link', { name: 'echo typed with the keyboard' }).first().waitFor();
  }, 40000);

  it('has no serious or critical axe-core violations on the sign-in prompt, the list and a task', async () => {
    const axe = readFileSync(`${ROOT}/node_modules/axe-core/axe.min.js`, 'utf8');
    const audit = async (page: Page, what: string) => {
      // Evaluated through the DevTools protocol, so the page's CSP (no inline script) does not stop it.
      await page.evaluate(axe);
      const result = await page.evaluate(async () => {
        const r = await (
          window as unknown as { axe: { run(): Promise<{ violations: { id: string; impact: string; nodes: unknown[] }[] }> } }
        ).axe.run();
        return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length }));
      });
      const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
      if (result.length > 0) console.log(`axe on ${what}: ${JSON.stringify(result)}`);
      expect({ what, bad }).toEqual({ what, bad: [] });
    };
    const prompt = await open('#/', { signedIn: false, expectedErrors: [/status of 401/] });
    await prompt.getByLabel('API token').waitFor();
    await audit(prompt, 'the sign-in prompt');

    const task = await createViaApi(server.url, TOKEN, { command: "printf '\\033[33mwarning\\033[0m done\\n'; echo oops >&2; exit 3" });
    await eventually(async () => (await getViaApi(server.url, TOKEN, task.id)).state === 'failed');
    const list = await open();
    await list.getByRole('link', { name: task.command }).waitFor();
    await audit(list, 'the list');
    await list.getByRole('link', { name: task.command }).click();
    await stdoutOf(list).getByText('warning').waitFor();
    await audit(list, 'a failed task');
  }, 60000);

  it('takes the README screenshots: a busy list, and a running task with coloured output', async () => {
    const build = [
      "printf '\\033[1mbuilding site\\033[0m (12 pages)\\n'",
      "for p in 'index 31' 'about 12' 'blog 88' 'docs 54' 'pricing 19'; do set -- $p; printf '  \\033[32m✓\\033[0m %-10s \\033[2m%s ms\\033[0m\\n' $1 $2; sleep 0.4; done",
      "printf '  \\033[33m!\\033[0m blog/draft.md has no title, using the file name\\n' >&2",
      "printf '\\033[36mdeploying\\033[0m to /srv/site …\\n'; sleep 30",
    ].join('; ');
    const running = await createViaApi(server.url, TOKEN, { command: build, timeoutSeconds: 120 });
    const commands = [
      'npm test -- --ci',
      'pg_dump app > /backups/app.sql',
      'sleep 20; echo rebuilt',
      'python3 -c "import sys; sys.exit(2)"',
      'make -C /srv/site deploy',
      'curl -fsS http://127.0.0.1:9/health',
      'echo nightly report',
      'sleep 40',
    ];
    for (const command of commands) await createViaApi(server.url, TOKEN, { command, timeoutSeconds: 120 });
    const page = await open('#/', { width: 1200 });
    await page.getByRole('link', { name: 'sleep 40' }).waitFor();
    await eventually(async () => (await page.getByRole('table', { name: 'Tasks' }).getByText('running').count()) > 0);
    await screenshot(page, 'task-list');
    expect(await page.getByRole('table', { name: 'Tasks' }).locator('tbody tr').count()).toBeGreaterThanOrEqual(commands.length);

    await page.goto(`${server.url}/#/tasks/${running.id}`);
    await stdoutOf(page).getByText('deploying').waitFor({ timeout: 20000 });
    await page.getByRole('region', { name: 'stderr' }).getByText('has no title').waitFor();
    expect(await stateOf(page).textContent()).toBe('running');
    await page.setViewportSize({ width: 1200, height: 1040 });
    await screenshot(page, 'task-running');
    await page.getByRole('button', { name: 'Cancel' }).click();
  }, 60000);
});

/**
 * Without API_TOKEN the user endpoints answer only requests that name the server 127.0.0.1,
 * localhost or [::1] and come from no other site's page (functions/shared/auth.ts). The page and
 * its assets are open, so the dashboard loads under any name; its calls must work at 127.0.0.1
 * and localhost (its POSTs carry that Origin), and under a name that resolves to 127.0.0.1
 * (DNS rebinding, here Chromium's host resolver rules) be refused with nothing stored.
 */
describeUnless(chromiumMissing())('the dashboard in Chromium against npm start without API_TOKEN', () => {
  const REBIND = 'rebind.attacker.test';
  let server: NpmStart;
  let browser: Browser;
  let port: string;

  beforeAll(async () => {
    [server, browser] = await Promise.all([
      startNpmStart({ AGENTS: '1', POLL_INTERVAL: '200ms' }),
      launchChromium([`--host-resolver-rules=MAP ${REBIND} 127.0.0.1`]),
    ]);
    port = new URL(server.url).port;
  }, 120000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  }, 60000);

  /** A fresh tab at `origin`, watched; closed by `done`, which returns what the watch saw. */
  async function tab(origin: string) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const page = await context.newPage();
    const w = await watch(context, page, origin);
    return {
      page,
      async done() {
        const seen = { foreign: w.foreign, errors: [...w.errors], violations: await w.violations() };
        await context.close();
        return seen;
      },
    };
  }
  const stdoutOf = (page: Page) => page.getByRole('region', { name: 'stdout' }).locator('.stream');
  const stateOf = (page: Page) => page.getByTestId('task-state');
  const commands = async () =>
    ((await (await fetch(`${server.url}/tasks`)).json()) as { tasks: { command: string }[] }).tasks.map((t) => t.command);

  it.each(['127.0.0.1', 'localhost'])(
    'runs, follows and cancels a task at http://%s:<port> without asking for a token',
    async (name) => {
      const origin = `http://${name}:${port}`;
      const { page, done } = await tab(origin);
      await page.goto(`${origin}/#/`);
      await page.getByRole('table', { name: 'Tasks' }).waitFor();
      expect(await page.getByLabel('API token').count()).toBe(0);
      // The form's POST /tasks carries Origin: http://<name>:<port>, the server's own.
      await page.getByLabel('Command', { exact: true }).fill(`echo from ${name}; sleep 60`);
      await page.getByLabel('Command', { exact: true }).press('Enter');
      await page.waitForURL(/#\/tasks\/[0-9a-f-]{36}$/);
      await stdoutOf(page)
        .filter({ hasText: `from ${name}` })
        .waitFor({ timeout: 20000 });
      await page.getByRole('button', { name: 'Cancel' }).click();
      await eventually(async () => (await stateOf(page).textContent()) === 'canceled', 20000);
      expect(await commands()).toContain(`echo from ${name}; sleep 60`);
      expect(await done()).toEqual({ foreign: [], errors: [], violations: [] });
    },
    60000,
  );

  it('refuses every call of a copy loaded under a DNS rebinding name with 421, saying why, and stores nothing', async () => {
    const origin = `http://${REBIND}:${port}`;
    const { page, done } = await tab(origin);
    const before = await commands();
    await page.goto(`${origin}/#/`);
    // The page and its assets are served (public); the list's calls are refused.
    await page.getByRole('alert').filter({ hasText: 'Without API_TOKEN this server answers only requests that name it' }).waitFor();
    await page.getByLabel('Command', { exact: true }).fill('echo from the rebinding page');
    await page.getByLabel('Command', { exact: true }).press('Enter');
    await page
      .getByRole('alert')
      .filter({ hasText: `the Host "${REBIND}:${port}" is another name` })
      .first()
      .waitFor();
    expect(page.url()).toBe(`${origin}/#/`);
    expect(await commands()).toEqual(before);
    const seen = await done();
    // Chromium logs each refused call as a failed resource: those are the only errors.
    expect(seen.errors.length).toBeGreaterThan(0);
    expect(seen.errors.filter((e) => !/status of 421/.test(e))).toEqual([]);
    expect({ foreign: seen.foreign, violations: seen.violations }).toEqual({ foreign: [], violations: [] });
  }, 60000);
});
