/**
 * GET /metrics over HTTP on every store: names and types, the gauges against known workloads
 * (with the clock moved, not slept), the process-local counters and histograms, promtool's
 * verdict, the token rule and bad input.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { TASK_STATES } from '../contract/task';
import { createMetrics, DURATION_BUCKETS, renderGauges } from '../functions/shared/metrics';
import { movableClock } from './support/clock';
import { itUnless } from './support/conditional';
import { stores } from './support/databases';
import { expectProblem } from './support/problem';
import { agentHeaders, call, startTestServer, type TestServer } from './support/server';

const TOKEN = 'metrics-api-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };

const promtool = spawnSync('promtool', ['--version']).status === 0;
const noPromtool = promtool ? null : 'promtool is not installed (Debian: apt-get install prometheus): skipping promtool check metrics';

/** Sample lines as `name{labels}` → value; `# TYPE` lines as name → type. */
function parse(text: string): { samples: Map<string, number>; types: Map<string, string> } {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1] as string, type[2] as string);
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    samples.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return { samples, types };
}

/** promtool's complaints about an exposition (empty when it is clean). */
function promtoolCheck(text: string): string {
  try {
    return execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    return `${e.stdout ?? ''}${e.stderr ?? ''}` || String(error);
  }
}

describe.each(stores)('GET /metrics on $name', (store) => {
  let server: TestServer;
  const clock = movableClock();

  beforeAll(async () => {
    server = await startTestServer(store, { API_TOKEN: TOKEN, LEASE_SECONDS: '30' }, clock.now);
  });
  afterAll(async () => {
    await server?.stop();
  });

  const scrape = async () => {
    const reply = await call(server.url, 'GET', '/metrics', { headers: auth });
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    return reply.text;
  };
  const create = async (command: string) => {
    const reply = await call(server.url, 'POST', '/tasks', { body: { command }, headers: auth });
    expect(reply.status).toBe(201);
    return reply.body as { id: string; createdAt: string };
  };

  it('shows every state at 0, no queued age and no agents on an empty table, with the types Prometheus expects', async () => {
    const { samples, types } = parse(await scrape());
    for (const state of TASK_STATES) expect(samples.get(`taskexec_tasks{state="${state}"}`)).toBe(0);
    expect(samples.get('taskexec_oldest_queued_age_seconds')).toBe(0);
    expect(samples.get('taskexec_agents{state="idle"}')).toBe(0);
    expect(samples.get('taskexec_agents{state="busy"}')).toBe(0);
    expect(Object.fromEntries(types)).toEqual({
      taskexec_tasks: 'gauge',
      taskexec_oldest_queued_age_seconds: 'gauge',
      taskexec_agents: 'gauge',
      taskexec_tasks_finished_total: 'counter',
      taskexec_agents_lost_total: 'counter',
      taskexec_outputs_truncated_total: 'counter',
      taskexec_tasks_deleted_total: 'counter',
      taskexec_http_responses_total: 'counter',
      taskexec_schedule_ticks_created_total: 'counter',
      taskexec_schedule_ticks_skipped_total: 'counter',
      taskexec_task_queue_wait_seconds: 'histogram',
      taskexec_task_run_seconds: 'histogram',
    });
    for (const state of ['succeeded', 'failed', 'timed_out', 'canceled']) {
      expect(samples.get(`taskexec_tasks_finished_total{state="${state}"}`)).toBe(0);
    }
    expect(samples.get('taskexec_tasks_deleted_total')).toBe(0);
    expect(samples.get('taskexec_task_run_seconds_bucket{le="+Inf"}')).toBe(0);
  });

  it('counts a running task in running, a queued one by its age on the moved clock, and the agent holding it as busy', async () => {
    const first = await create('echo first');
    clock.advance(5);
    const second = await create('echo second');
    const picked = await call(server.url, 'GET', '/tasks/pick', { headers: agentHeaders('metrics-agent') });
    expect((picked.body as { id: string }).id).toBe(first.id);
    const pickedAt = clock.now();
    clock.advance(2);
    let { samples } = parse(await scrape());
    // Upper bounds from the test's own clock (a loaded machine took 4 s of real time here), never a guessed slack.
    const maxAge = (clock.now().getTime() - Date.parse(second.createdAt)) / 1000;
    const maxWait = (pickedAt.getTime() - Date.parse(first.createdAt)) / 1000;
    expect(samples.get('taskexec_tasks{state="running"}')).toBe(1);
    expect(samples.get('taskexec_tasks{state="queued"}')).toBe(1);
    expect(samples.get('taskexec_agents{state="busy"}')).toBe(1);
    expect(samples.get('taskexec_agents{state="idle"}')).toBe(0);
    expect(samples.get('taskexec_oldest_queued_age_seconds')).toBeGreaterThanOrEqual(2);
    expect(samples.get('taskexec_oldest_queued_age_seconds')).toBeLessThanOrEqual(maxAge);
    // The pick saw the first task wait 5 s.
    expect(samples.get('taskexec_task_queue_wait_seconds_count')).toBe(1);
    expect(samples.get('taskexec_task_queue_wait_seconds_sum')).toBeGreaterThanOrEqual(5);
    expect(samples.get('taskexec_task_queue_wait_seconds_sum')).toBeLessThanOrEqual(maxWait);
    expect(samples.get('taskexec_task_queue_wait_seconds_bucket{le="2.5"}')).toBe(0);
    // 5 s and the test's own milliseconds: in the 10 s bucket.
    expect(samples.get('taskexec_task_queue_wait_seconds_bucket{le="10"}')).toBe(1);

    clock.advance(3);
    const finished = await call(server.url, 'POST', `/tasks/${first.id}/finish`, {
      body: { exitCode: 0, stdout: 'first\n', stderr: '', outputTruncated: true },
      headers: agentHeaders('metrics-agent', { 'x-lease-token': (picked.body as { leaseToken: string }).leaseToken }),
    });
    expect(finished.status).toBe(200);
    const maxRun = (clock.now().getTime() - Date.parse((picked.body as { startedAt: string }).startedAt)) / 1000;
    ({ samples } = parse(await scrape()));
    expect(samples.get('taskexec_tasks{state="running"}')).toBe(0);
    expect(samples.get('taskexec_tasks{state="succeeded"}')).toBe(1);
    expect(samples.get('taskexec_tasks_finished_total{state="succeeded"}')).toBe(1);
    expect(samples.get('taskexec_outputs_truncated_total')).toBe(1);
    expect(samples.get('taskexec_task_run_seconds_count')).toBe(1);
    // Picked, then 2 s and 3 s of clock.
    expect(samples.get('taskexec_task_run_seconds_sum')).toBeGreaterThanOrEqual(5);
    expect(samples.get('taskexec_task_run_seconds_sum')).toBeLessThanOrEqual(maxRun);
    // Answers are counted by route template, never by raw path.
    expect(samples.get('taskexec_http_responses_total{route="POST /tasks/{id}/finish",status="200"}')).toBe(1);
    expect(samples.get('taskexec_http_responses_total{route="GET /tasks/pick",status="200"}')).toBe(1);
    expect([...samples.keys()].some((k) => k.includes(first.id))).toBe(false);
  });

  it('counts a canceled queued task as finished canceled, and a refused request by its route and status', async () => {
    const task = await create('echo cancel me');
    expect((await call(server.url, 'POST', `/tasks/${task.id}/cancel`, { headers: auth })).status).toBe(200);
    expectProblem(await call(server.url, 'GET', '/tasks/not-a-uuid', { headers: auth }), 400);
    const { samples } = parse(await scrape());
    expect(samples.get('taskexec_tasks_finished_total{state="canceled"}')).toBe(1);
    expect(samples.get('taskexec_http_responses_total{route="GET /tasks/{id}",status="400"}')).toBe(1);
  });

  itUnless(noPromtool)('passes promtool check metrics', async () => {
    expect(promtoolCheck(await scrape())).toBe('');
  });

  it('needs the API token when the server has one', async () => {
    expectProblem(await call(server.url, 'GET', '/metrics'), 401);
    expectProblem(await call(server.url, 'GET', '/metrics', { headers: { authorization: 'Bearer wrong' } }), 401);
  });

  it('answers 400 naming the parameter for any query parameter, and 405 for POST (bodies: test/hostile-input.test.ts)', async () => {
    const reply = await call(server.url, 'GET', '/metrics?name=x', { headers: auth });
    expectProblem(reply, 400);
    expect((reply.body as { detail: string }).detail).toContain('"name"');
    expectProblem(await call(server.url, 'POST', '/metrics', { headers: auth }), 405);
  });
});

describe('the metrics text', () => {
  itUnless(noPromtool)('stays promtool-clean with awkward label values, every bucket and an observation past 6 h', () => {
    const metrics = createMetrics();
    metrics.inc('httpResponses', { route: 'GET /a"b\\c\nd', status: '200' });
    for (const b of DURATION_BUCKETS) metrics.observe('run', b);
    metrics.observe('run', 50000);
    metrics.observe('queueWait', -1);
    const text = renderGauges([{ family: 'tasks', label: 'queued', value: 1 }]) + metrics.render();
    expect(promtoolCheck(text)).toBe('');
    const { samples } = parse(text);
    expect(samples.get('taskexec_task_run_seconds_bucket{le="21600"}')).toBe(DURATION_BUCKETS.length);
    expect(samples.get('taskexec_task_run_seconds_bucket{le="+Inf"}')).toBe(DURATION_BUCKETS.length + 1);
    // A negative wait (clocks of two servers apart) counts as 0.
    expect(samples.get('taskexec_task_queue_wait_seconds_bucket{le="0.005"}')).toBe(1);
  });
});
