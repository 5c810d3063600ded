import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { buildEvent } from '../../test/support/events';
import { HttpError } from '../shared/errors';
import { assetAnswer, CONTENT_SECURITY_POLICY, findDashboardDir, loadDashboard, pageHtml, rootAnswer, STATUS, wantsHtml } from './root';

const CHROME_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8';

/** A fake built dashboard in a temp folder: what esbuild writes for the browser entry. */
function fakeBuild(): string {
  const dir = mkdtempSync(join(tmpdir(), 'te-root-'));
  writeFileSync(join(dir, 'browser.js'), 'console.log("dashboard");\n//# sourceMappingURL=browser.js.map\n');
  writeFileSync(join(dir, 'browser.js.map'), '{"version":3}');
  writeFileSync(join(dir, 'browser.css'), 'body{margin:0}\n');
  return dir;
}

const status = (thrown: unknown) => (thrown instanceof HttpError ? thrown.status : null);

describe('wantsHtml', () => {
  it.each([
    [CHROME_ACCEPT, true],
    ['text/html', true],
    ['TEXT/HTML; charset=utf-8', true],
    ['application/json, text/html;q=0.5', true],
    ['*/*', false],
    ['application/json', false],
    ['text/html;q=0', false],
    ['text/html;q=0.0, */*', false],
    ['text/plain', false],
  ])('reads Accept %j as %s', (accept, expected) => {
    expect(wantsHtml(accept)).toBe(expected);
  });

  it('gives the JSON to a request with no Accept header (curl without -H, the compose healthcheck)', () => {
    expect(wantsHtml(undefined)).toBe(false);
  });
});

describe('GET /', () => {
  let dir: string;
  beforeAll(() => {
    dir = fakeBuild();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('answers anything but a browser with the status JSON of before, unchanged', () => {
    const variants: Record<string, string>[] = [{}, { accept: '*/*' }, { accept: 'application/json' }];
    for (const headers of variants) {
      const r = rootAnswer(buildEvent({ headers }), loadDashboard(dir));
      expect(r.statusCode).toBe(200);
      expect(r.headers?.['content-type']).toBe('application/json');
      expect(JSON.parse(r.body as string)).toEqual({
        service: 'task-executor',
        status: 'ok',
        endpoints: '/tasks, /health; see openapi.yaml',
      });
      expect(r.headers?.vary).toBe('Accept');
    }
    expect(STATUS).toEqual({ service: 'task-executor', status: 'ok', endpoints: '/tasks, /health; see openapi.yaml' });
  });

  it('answers a browser with the page, under a strict CSP that allows no inline script or style', () => {
    const r = rootAnswer(buildEvent({ headers: { accept: CHROME_ACCEPT } }), loadDashboard(dir));
    expect(r.statusCode).toBe(200);
    expect(r.headers).toMatchObject({
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': CONTENT_SECURITY_POLICY,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-cache',
    });
    for (const directive of [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      "connect-src 'self'",
      "frame-ancestors 'none'",
    ]) {
      expect(CONTENT_SECURITY_POLICY).toContain(directive);
    }
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
    const html = r.body as string;
    // Every script has a src, no element has a style attribute, no <style> element.
    expect(html.match(/<script[^>]*>/g)).toEqual([expect.stringMatching(/^<script defer src="assets\/browser\.[0-9a-f]{12}\.js">$/)]);
    expect(html).not.toMatch(/\sstyle=|<style|\son[a-z]+=/i);
    expect(html).toMatch(/<link rel="stylesheet" href="assets\/browser\.[0-9a-f]{12}\.css">/);
  });

  it('answers a browser with 503 naming the build command when the dashboard is not built, and scripts still with JSON', () => {
    let thrown: unknown;
    try {
      rootAnswer(buildEvent({ headers: { accept: CHROME_ACCEPT } }), null);
    } catch (error) {
      thrown = error;
    }
    expect(status(thrown)).toBe(503);
    expect((thrown as Error).message).toContain('npm run build:dashboard');
    expect(rootAnswer(buildEvent({ headers: { accept: '*/*' } }), null).statusCode).toBe(200);
  });
});

describe('GET /assets/{file}', () => {
  let dir: string;
  beforeAll(() => {
    dir = fakeBuild();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const get = (file: string, headers: Record<string, string> = {}) =>
    assetAnswer(buildEvent({ path: `/assets/${file}`, pathParameters: { file }, headers }), loadDashboard(dir));

  it('serves the script and stylesheet under names that change with their content, cached for a year', () => {
    const d = loadDashboard(dir);
    expect(d.script).toMatch(/^browser\.[0-9a-f]{12}\.js$/);
    const js = get(d.script);
    expect(js.headers).toMatchObject({
      'content-type': 'text/javascript; charset=utf-8',
      'cache-control': 'public, max-age=31536000, immutable',
      'x-content-type-options': 'nosniff',
    });
    expect(js.body).toContain('console.log("dashboard")');
    expect(get(d.stylesheet).headers?.['content-type']).toBe('text/css; charset=utf-8');
    writeFileSync(join(dir, 'browser.js'), 'console.log("changed");\n');
    expect(loadDashboard(dir).script).not.toBe(d.script);
  });

  it('gzips for a client that takes gzip', () => {
    const d = loadDashboard(dir);
    const r = get(d.stylesheet, { 'accept-encoding': 'gzip, deflate, br' });
    expect(r.headers?.['content-encoding']).toBe('gzip');
    expect(r.isBase64Encoded).toBe(true);
    expect(gunzipSync(Buffer.from(r.body as string, 'base64')).toString()).toBe('body{margin:0}\n');
  });

  it('serves a source map under its own name, revalidated', () => {
    expect(get('browser.js.map').headers).toMatchObject({ 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-cache' });
  });

  it.each(['browser.js', 'browser.000000000000.js', '../package.json', '..%2Fpackage.json', '', 'BROWSER.JS'])(
    'answers 404 for %j, which is not a current asset',
    (file) => {
      let thrown: unknown;
      try {
        get(file);
      } catch (error) {
        thrown = error;
      }
      expect(status(thrown)).toBe(404);
    },
  );
});

describe('findDashboardDir', () => {
  it('finds the bundle beside the module in a Lambda bundle, else the dist/dashboard of the package, from the sources or from dist/', () => {
    const root = mkdtempSync(join(tmpdir(), 'te-find-'));
    try {
      const lambda = join(root, 'lambda');
      mkdirSync(lambda);
      writeFileSync(join(lambda, 'browser.js'), '');
      expect(findDashboardDir(lambda)).toBe(lambda);

      const pkg = join(root, 'pkg');
      mkdirSync(join(pkg, 'functions', 'root'), { recursive: true });
      writeFileSync(join(pkg, 'package.json'), '{}');
      expect(findDashboardDir(join(pkg, 'functions', 'root'))).toBeNull();
      mkdirSync(join(pkg, 'dist', 'dashboard'), { recursive: true });
      writeFileSync(join(pkg, 'dist', 'dashboard', 'browser.js'), '');
      expect(findDashboardDir(join(pkg, 'functions', 'root'))).toBe(join(pkg, 'dist', 'dashboard'));
      // The compiled server of the image: dist/functions/root finds dist/dashboard above it.
      mkdirSync(join(pkg, 'dist', 'functions', 'root'), { recursive: true });
      expect(findDashboardDir(join(pkg, 'dist', 'functions', 'root'))).toBe(join(pkg, 'dist', 'dashboard'));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('pageHtml', () => {
  it('names the two assets relative to the page, so it works behind any host', () => {
    const html = pageHtml('browser.aaaaaaaaaaaa.js', 'browser.bbbbbbbbbbbb.css');
    expect(html).toContain('src="assets/browser.aaaaaaaaaaaa.js"');
    expect(html).toContain('href="assets/browser.bbbbbbbbbbbb.css"');
    expect(html).not.toMatch(/https?:\/\//);
  });
});
