/**
 * `taskexec schedule add|ls|pause|resume|rm` as a user runs it (bin/taskexec, a child process)
 * against a real server on PGlite: what each verb prints, its exit status, and what the server holds.
 */
import type { Schedule } from '../contract/schedule';
import { pgliteStore } from './support/databases';
import { call, startTestServer, type TestServer } from './support/server';
import { stopTaskexecs, taskexec } from './support/taskexec';

const TOKEN = 'cli-schedule-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };

describe('taskexec schedule', () => {
  let server: TestServer;
  let env: Record<string, string>;
  beforeAll(async () => {
    server = await startTestServer(pgliteStore, { API_TOKEN: TOKEN });
    env = { TASKEXEC_URL: server.url, API_TOKEN: TOKEN };
  });
  afterAll(async () => {
    await stopTaskexecs();
    await server?.stop();
  });
  const stored = async () => ((await call(server.url, 'GET', '/schedules', { headers: auth })).body as { schedules: Schedule[] }).schedules;

  it('adds a schedule with its options and prints its id and next run', async () => {
    const r = await taskexec(
      [
        'schedule',
        'add',
        'nightly',
        '30 2 * * *',
        '--timezone',
        'Europe/Berlin',
        '--timeout',
        '60',
        '--label',
        'linux',
        '--',
        'echo',
        'hi',
        '--x',
      ],
      env,
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [s] = await stored();
    expect(s).toMatchObject({
      name: 'nightly',
      cron: '30 2 * * *',
      timezone: 'Europe/Berlin',
      command: 'echo hi --x',
      timeoutSeconds: 60,
      labels: ['linux'],
    });
    expect(r.stdout).toBe(`${s?.id}\nnext run ${s?.nextRunAt?.replace('.000Z', 'Z')}\n`);
  });

  it('lists schedules as a table, and as the API answered with --json', async () => {
    const r = await taskexec(['schedule', 'ls'], env);
    expect(r.code).toBe(0);
    const [head, row] = r.stdout.split('\n');
    expect(head).toMatch(/^ID\s+NAME\s+CRON\s+TIMEZONE\s+NEXT RUN\s+LAST RUN\s+COMMAND$/);
    expect(row).toMatch(/^[0-9a-f]{8}\s+nightly\s+30 2 \* \* \*\s+Europe\/Berlin\s+\d{4}-\d\d-\d\dT\S+Z\s+-\s+echo hi --x$/);
    const json = await taskexec(['schedule', 'ls', '--json'], env);
    expect(JSON.parse(json.stdout)).toEqual({ schedules: await stored(), truncated: false });
  });

  it('pauses and resumes a schedule by name or id', async () => {
    const paused = await taskexec(['schedule', 'pause', 'nightly'], env);
    expect([paused.code, paused.stdout]).toEqual([0, 'paused\n']);
    expect((await stored())[0]).toMatchObject({ paused: true, nextRunAt: null });
    const id = (await stored())[0]?.id as string;
    const resumed = await taskexec(['schedule', 'resume', id], env);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toMatch(/^resumed; next run \d{4}-\d\d-\d\dT\S+Z\n$/);
    expect((await stored())[0]?.paused).toBe(false);
  });

  it('exits 2 naming the problem for a bad cron, a bad zone and an unknown name, storing nothing', async () => {
    const bad = await taskexec(['schedule', 'add', 'bad', '* * * *', 'true'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/cron/);
    const zone = await taskexec(['schedule', 'add', 'bad', '* * * * *', '--timezone', 'Mars/Olympus', 'true'], env);
    expect(zone.code).toBe(2);
    expect(zone.stderr).toMatch(/timezone/);
    const missing = await taskexec(['schedule', 'rm', 'no-such-schedule'], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no schedule is named "no-such-schedule"/);
    expect(await stored()).toHaveLength(1);
  });

  it("exits 1 with the server's words for a repeated name", async () => {
    const r = await taskexec(['schedule', 'add', 'nightly', '0 3 * * *', 'true'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/already exists/);
  });

  it('removes a schedule', async () => {
    const r = await taskexec(['schedule', 'rm', 'nightly'], env);
    expect([r.code, r.stdout]).toEqual([0, 'deleted\n']);
    expect(await stored()).toEqual([]);
    const empty = await taskexec(['schedule', 'ls'], env);
    expect(empty.stdout).toMatch(/^no schedules/);
  });
});
