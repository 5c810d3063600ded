/**
 * GET / and GET /assets/{file}: the status JSON for scripts, or the dashboard page for a
 * browser, and the page's bundled script and stylesheet. The bundle is built by esbuild
 * (infra/local/dashboard-build.ts locally, SAM's esbuild build on Lambda) and read here from
 * disk once per process; names carry a hash of the content so they can be cached for a year.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { NotFoundError, UnavailableError } from '../shared/errors';
import { type Event, header, json, type Result } from '../shared/http';

/** The browser entry's name: esbuild writes browser.js and browser.css (and their maps) for it. */
export const BUNDLE_NAME = 'browser';

/** What GET / answers a script (the compose healthcheck of the seed calls it with curl). */
export const STATUS = { service: 'task-executor', status: 'ok', endpoints: '/tasks, /health; see openapi.yaml' } as const;

/**
 * The page's Content-Security-Policy: scripts, styles and requests from this origin only, no
 * inline script or style anywhere (the bundle sets no style attribute; colours of output are
 * classes or CSSOM properties), no framing, no base or form target elsewhere.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  // Revalidated every load, so a new deployment's asset names are seen at once.
  'cache-control': 'no-cache',
  vary: 'Accept',
};

export type Asset = { type: string; body: Buffer; gzip: Buffer; cacheControl: string };
export type Dashboard = { html: string; assets: ReadonlyMap<string, Asset>; script: string; stylesheet: string };

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

/**
 * Where the built dashboard is: beside this module in a Lambda bundle (SAM builds browser.ts
 * into the same folder as handler.js), else the dist/dashboard this module is compiled into
 * (the container image's dist/functions/root) or that sits beside its sources (the source
 * under tsx), looked for up to the package's own folder. Null when not built.
 */
export function findDashboardDir(from: string = __dirname): string | null {
  if (existsSync(join(from, `${BUNDLE_NAME}.js`))) return from;
  for (let dir = from; ; dir = dirname(dir)) {
    const inside = basename(dir) === 'dist' ? join(dir, 'dashboard') : join(dir, 'dist', 'dashboard');
    if (existsSync(join(inside, `${BUNDLE_NAME}.js`))) return inside;
    if (existsSync(join(dir, 'package.json')) || dirname(dir) === dir) return null;
  }
}

const hashOf = (body: Buffer) => createHash('sha256').update(body).digest('hex').slice(0, 12);

/** The page that loads the bundle: markup only, no inline script or style (the CSP forbids both). */
export function pageHtml(script: string, stylesheet: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Task executor</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="assets/${stylesheet}">
<script defer src="assets/${script}"></script>
</head>
<body>
<noscript><p>This dashboard needs JavaScript. The HTTP API is at /tasks (see openapi.yaml).</p></noscript>
<div id="app"></div>
</body>
</html>
`;
}

/** Reads a built dashboard from `dir`: the script and stylesheet under hashed names, their maps under their own. */
export function loadDashboard(dir: string): Dashboard {
  const assets = new Map<string, Asset>();
  const add = (name: string, body: Buffer, immutable: boolean) => {
    const type = TYPES[name.slice(name.lastIndexOf('.'))] ?? 'application/octet-stream';
    // Hashed names never change content: a year, immutable. Maps keep their names, so revalidate.
    const cacheControl = immutable ? 'public, max-age=31536000, immutable' : 'no-cache';
    assets.set(name, { type, body, gzip: gzipSync(body, { level: 9 }), cacheControl });
  };
  const hashed = (ext: string) => {
    const body = readFileSync(join(dir, `${BUNDLE_NAME}${ext}`));
    const name = `${BUNDLE_NAME}.${hashOf(body)}${ext}`;
    add(name, body, true);
    const map = join(dir, `${BUNDLE_NAME}${ext}.map`);
    if (existsSync(map)) add(`${BUNDLE_NAME}${ext}.map`, readFileSync(map), false);
    return name;
  };
  const script = hashed('.js');
  const stylesheet = hashed('.css');
  return { html: pageHtml(script, stylesheet), assets, script, stylesheet };
}

/**
 * True when the Accept header asks for HTML (a browser navigating); curl's `*\/*`, an absent
 * header and `application/json` get the status JSON, as before the dashboard existed.
 */
export function wantsHtml(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  return accept.split(',').some((range) => {
    const [type, ...params] = range.split(';').map((p) => p.trim().toLowerCase());
    if (type !== 'text/html') return false;
    const q = params.find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

/** GET /: the page for a browser, the status JSON for anything else. */
export function rootAnswer(event: Event, dashboard: Dashboard | null): Result {
  if (!wantsHtml(header(event, 'accept'))) return json(200, STATUS, { vary: 'Accept' });
  if (dashboard === null) {
    throw new UnavailableError('The dashboard is not built: run npm run build:dashboard (npm start builds it by itself).');
  }
  return { statusCode: 200, headers: PAGE_HEADERS, body: dashboard.html };
}

/** GET /assets/{file}: one of the bundle's files, gzipped when the client takes it. */
export function assetAnswer(event: Event, dashboard: Dashboard | null): Result {
  const name = event.pathParameters?.file ?? '';
  const asset = dashboard?.assets.get(name);
  if (asset === undefined) {
    throw new NotFoundError(`There is no dashboard asset ${JSON.stringify(name.slice(0, 80))}; the page at / names the current ones.`);
  }
  const headers: Record<string, string> = {
    'content-type': asset.type,
    'cache-control': asset.cacheControl,
    'x-content-type-options': 'nosniff',
    vary: 'Accept-Encoding',
  };
  if (/\bgzip\b/i.test(header(event, 'accept-encoding') ?? '')) {
    return {
      statusCode: 200,
      headers: { ...headers, 'content-encoding': 'gzip' },
      body: asset.gzip.toString('base64'),
      isBase64Encoded: true,
    };
  }
  return { statusCode: 200, headers, body: asset.body.toString('utf8') };
}
