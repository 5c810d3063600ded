/**
 * The dashboard's Schedules view in Chromium against `npm start`: add a schedule (a bad cron
 * shows the server's words and stores nothing), see its next run, pause, resume and delete it,
 * with no CSP violation, console error or foreign request on the way.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { Schedule } from '../../contract/schedule';
import { describeUnless } from '../support/conditional';
import { chromiumMissing, launchChromium, type NpmStart, startNpmStart, type Watch, watch } from './support';

const TOKEN = 'dashboard-schedules-token-0123456789';

describeUnless(chromiumMissing())('the Schedules view in Chromium against npm start', () => {
  let server: NpmStart;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let seen: Watch;

  beforeAll(async () => {
    [server, browser] = await Promise.all([startNpmStart({ API_TOKEN: TOKEN, AGENTS: '1' }), launchChromium()]);
    context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    await context.addInitScript((token) => sessionStorage.setItem('taskexec.apiToken', token), TOKEN);
    page = await context.newPage();
    seen = await watch(context, page, server.url);
  }, 120000);

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await server?.stop();
  }, 60000);

  const stored = async () => {
    const res = await fetch(`${server.url}/schedules`, { headers: { authorization: `Bearer ${TOKEN}` } });
    return ((await res.json()) as { schedules: Schedule[] }).schedules;
  };
  const row = () => page.locator('tr[data-schedule="nightly"]');

  it('adds, pauses, resumes and deletes a schedule, showing the server’s words for a bad cron', async () => {
    await page.goto(`${server.url}/#/schedules`);
    await page.getByRole('link', { name: 'Schedules' }).waitFor();
    await page.getByText('No schedules yet.').waitFor();

    await page.getByLabel('Name').fill('nightly');
    await page.getByLabel('Cron').fill('61 * * * *');
    await page.getByLabel('Command').fill('echo nightly');
    await page.getByRole('button', { name: 'Add' }).click();
    await page.getByRole('alert').filter({ hasText: 'cron is not a valid' }).waitFor();
    expect(await stored()).toEqual([]);

    await page.getByLabel('Cron').fill('30 2 * * *');
    await page.getByLabel('Time zone').fill('Europe/Berlin');
    await page.getByRole('button', { name: 'Add' }).click();
    await row().waitFor();
    const [s] = await stored();
    expect(s).toMatchObject({ name: 'nightly', cron: '30 2 * * *', timezone: 'Europe/Berlin', command: 'echo nightly' });
    expect(await row().locator('time').first().getAttribute('datetime')).toBe(s?.nextRunAt);

    await row().getByRole('button', { name: 'Pause' }).click();
    await row().getByText('paused').waitFor();
    expect((await stored())[0]?.paused).toBe(true);
    await row().getByRole('button', { name: 'Resume' }).click();
    await row().getByRole('button', { name: 'Pause' }).waitFor();
    expect((await stored())[0]?.paused).toBe(false);

    await row().getByRole('button', { name: 'Delete' }).click();
    await page.getByText('No schedules yet.').waitFor();
    expect(await stored()).toEqual([]);

    // The bad cron's 400 is logged by Chromium as a failed resource: expected, nothing else.
    expect({
      foreign: seen.foreign,
      errors: seen.errors.filter((e) => !/status of 400/.test(e)),
      csp: await seen.violations(),
    }).toEqual({ foreign: [], errors: [], csp: [] });
  }, 60000);
});
