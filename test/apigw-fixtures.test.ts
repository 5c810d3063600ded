/**
 * Real API Gateway events (payload v2 and v1, captured from deployments and from AWS's own
 * libraries) fed to every handler of the route table: each answers a well-formed response and
 * none throws. The fixtures are read where they live, next to the repository.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { routes } from '../functions/routes';
import { loadConfig } from '../functions/shared/config';
import type { Db } from '../functions/shared/db/db';
import { buildDeps, closeDeps, type Deps } from '../functions/shared/deps';
import type { Event, Result } from '../functions/shared/http';
import { describeUnless } from './support/conditional';
import { pgliteStore } from './support/databases';
import { buildContext } from './support/events';
import { expectProblem } from './support/problem';

const FIXTURES_DIR = path.resolve(__dirname, '../../shared/fixtures/apigw');
const fixtureNames = existsSync(FIXTURES_DIR) ? readdirSync(FIXTURES_DIR).filter((f) => f.endsWith('.json')) : [];

/** A fresh copy of a fixture, so no test sees another's changes. */
const loadFixture = (name: string): Event => JSON.parse(readFileSync(path.join(FIXTURES_DIR, name), 'utf8')) as Event;

/** Asserts the shape API Gateway needs back; 4xx/5xx must be problem+json. */
function expectWellFormed(result: Result): void {
  expect(typeof result.statusCode).toBe('number');
  expect(result.statusCode).toBeGreaterThanOrEqual(200);
  expect(result.statusCode).toBeLessThanOrEqual(599);
  expect(result.headers).toEqual(expect.any(Object));
  expect(typeof result.body).toBe('string');
  if ((result.statusCode as number) >= 400) expectProblem(result, result.statusCode as number);
}

const describeFixtures = describeUnless(
  fixtureNames.length > 0 ? null : `no API Gateway fixtures in ${FIXTURES_DIR}: the fixture tests are skipped`,
);

describeFixtures('handlers fed real API Gateway events', () => {
  let db: Db;
  let deps: Deps;

  beforeAll(async () => {
    db = await pgliteStore.open();
    deps = await buildDeps(loadConfig({ LOG_LEVEL: 'error' }), db);
  });
  afterAll(async () => {
    await closeDeps(deps);
    await db.close();
  });

  const cases = routes.flatMap((route) => fixtureNames.map((fixture) => [`${route.method} ${route.path}`, fixture, route] as const));

  it.each(cases)('%s answers %s with a well-formed response', async (_route, fixture, route) => {
    const result = await route.build(deps)(loadFixture(fixture), buildContext(route.dir));
    expectWellFormed(result);
    expect(result.statusCode).not.toBeGreaterThanOrEqual(500);
  });

  const createRoute = routes.find((r) => r.method === 'POST' && r.path === '/tasks');

  it.each(fixtureNames)('POST /tasks answers 201 to %s carrying a valid create request', async (fixture) => {
    const event = loadFixture(fixture);
    // POST /tasks takes no query parameters (an unknown one is a 400, checked above).
    event.rawQueryString = '';
    event.queryStringParameters = undefined;
    event.headers = { 'content-type': 'application/json' };
    event.body = JSON.stringify({ command: `echo ${fixture}` });
    event.isBase64Encoded = false;
    const result = await (createRoute?.build(deps) ?? (() => Promise.reject(new Error('no POST /tasks route'))))(
      event,
      buildContext('create-task'),
    );
    expectWellFormed(result);
    expect(result.statusCode).toBe(201);
    const task = JSON.parse(result.body as string) as { id: string; command: string; state: string };
    expect(task).toMatchObject({ command: `echo ${fixture}`, state: 'queued' });
    expect(result.headers?.location).toBe(`/tasks/${task.id}`);
  });
});
