import { loadConfig } from '../../functions/shared/config';
import type { Db } from '../../functions/shared/db/db';
import { type RunningServer, startServer } from '../../infra/local/server';
import { PG_TEMPLATE_DB, type Store } from './databases';
import { createScratchDatabase, type ScratchDatabase } from './scratch-database';

export type TestServer = RunningServer & { db: Db; stop(): Promise<void> };

/** Serves the real app over HTTP on a free port, on a fresh database of the given store. */
export async function startTestServer(store: Store, env: Record<string, string> = {}, now?: () => Date): Promise<TestServer> {
  const db = await store.open();
  const config = loadConfig({ SERVER_PORT: '0', LOG_LEVEL: 'error', ...env });
  const running = await startServer(config, { db, now });
  return {
    ...running,
    async stop() {
      await running.close(1000);
      await db.close();
    },
  };
}

/** `count` servers, each with its own pool, on one scratch database of a real PostgreSQL (as several server processes share one). */
export async function startServersOnOneDatabase(
  adminUrl: string,
  count: number,
): Promise<{ servers: RunningServer[]; scratch: ScratchDatabase; stop(): Promise<void> }> {
  const scratch = await createScratchDatabase(adminUrl, { template: PG_TEMPLATE_DB });
  const servers: RunningServer[] = [];
  for (let i = 0; i < count; i++) {
    servers.push(await startServer(loadConfig({ SERVER_PORT: '0', LOG_LEVEL: 'error', DATABASE_URL: scratch.url })));
  }
  return {
    servers,
    scratch,
    async stop() {
      for (const s of servers) await s.close(1000);
      await scratch.drop();
    },
  };
}

export type Reply = { status: number; headers: Headers; body: unknown; text: string };

/** A tiny HTTP client for tests: JSON in, parsed JSON (or text) out. */
export async function call(
  base: string,
  method: string,
  path: string,
  opts: { body?: unknown; raw?: string | Buffer; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { ...opts.headers };
  let body: string | Buffer | undefined;
  if (opts.raw !== undefined) body = opts.raw;
  else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['content-type'] ??= 'application/json';
  }
  const res = await fetch(base + path, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, headers: res.headers, body: parsed, text };
}

/** Agent headers for pick and finish. */
export const agentHeaders = (id = 'test-agent', extra: Record<string, string> = {}) => ({ 'x-agent-id': id, ...extra });
