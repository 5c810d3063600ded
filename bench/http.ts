/** A small keep-alive HTTP client (node:http, one Agent per client) and the statistics the table needs. */
import http from 'node:http';

export type Reply = { status: number; text: string; ms: number };

/** One HTTP client with its own keep-alive connection pool (`sockets` connections at most). */
export class Client {
  private readonly agent: http.Agent;
  private readonly host: string;
  private readonly port: number;

  constructor(base: string, sockets = 1) {
    const u = new URL(base);
    this.host = u.hostname;
    this.port = Number(u.port);
    this.agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  }

  request(
    method: string,
    path: string,
    opts: { body?: unknown; headers?: Record<string, string>; timeoutMs?: number } = {},
  ): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
      const headers: Record<string, string> = { ...opts.headers };
      if (payload !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = String(Buffer.byteLength(payload));
      }
      const t0 = performance.now();
      const req = http.request({ host: this.host, port: this.port, method, path, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - t0 }),
        );
        res.on('error', reject);
      });
      const timeoutMs = opts.timeoutMs ?? 30000;
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** A request that must answer `expect`; returns the parsed JSON body (undefined when empty). */
  async json<T>(
    method: string,
    path: string,
    expect: number | number[],
    opts: { body?: unknown; headers?: Record<string, string>; timeoutMs?: number } = {},
  ): Promise<{ status: number; body: T; ms: number }> {
    const r = await this.request(method, path, opts);
    const wanted = Array.isArray(expect) ? expect : [expect];
    if (!wanted.includes(r.status))
      throw new Error(`${method} ${path} answered ${r.status} (expected ${wanted.join('/')}): ${r.text.slice(0, 300)}`);
    return { status: r.status, body: (r.text ? JSON.parse(r.text) : undefined) as T, ms: r.ms };
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Runs `count` jobs on `workers` concurrent loops; job i gets its index and the worker's number. */
export async function concurrently(workers: number, count: number, job: (i: number, worker: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      for (let i = next++; i < count; i = next++) await job(i, w);
    }),
  );
}

/** Nearest-rank percentile (p in 0..100) of unsorted values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1] as number;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** 1234.5 -> "1,235"; small values keep a decimal. */
export function num(v: number, decimals?: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  const d = decimals ?? (Math.abs(v) < 10 ? 1 : 0);
  return v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}

/** Milliseconds for the table: 0.83 -> "0.8 ms", 2450 -> "2,450 ms". */
export function ms(v: number): string {
  return `${num(v, Math.abs(v) < 10 ? 1 : 0)} ms`;
}
