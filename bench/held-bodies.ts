/**
 * The held-body attack of the security review, measured: N connections without a token each
 * announce a 6 MiB finish body and send all of it but the last byte, then hold. Prints the
 * server's RSS before, while held, and the highest sampled meanwhile, and how many connections
 * the server answered before their body was sent.
 *
 *   npx tsx bench/held-bodies.ts [--connections 80] [--root <checkout>]
 *
 * --root runs the server of another checkout (e.g. one before the fix) with this script.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../test/support/net';
import { statusKb } from './procs';

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : (process.argv[i + 1] ?? def);
};
const CONNECTIONS = Number(arg('connections', '80'));
const ROOT = resolve(arg('root', join(__dirname, '..')));
const BODY = 6 * 1024 * 1024;
const MB = (kb: number | null) => (kb === null ? 'gone' : `${Math.round(kb / 1024)} MB`);

type Server = { pid: number; child: ChildProcess; stop(): Promise<void> };

/** Starts the server of ROOT on an embedded database in `dir`; resolves once it listens. */
function startServer(dir: string, port: number): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'infra/local/server-main.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      SERVER_PORT: String(port),
      DATA_DIR: join(dir, 'data'),
      API_TOKEN: randomBytes(32).toString('hex'),
      AGENT_TOKEN: randomBytes(32).toString('hex'),
      LOG_LEVEL: 'error',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('listening')) resolve({ pid: child.pid as number, child, stop });
    });
    void exited.then(() => reject(new Error(`the server exited before it listened:\n${out}`)));
  });
}

async function main(): Promise<void> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'held-bodies-'));
  // The first start creates the database (initdb, a peak of its own); measure a reopen.
  await (await startServer(dir, port)).stop();
  const server = await startServer(dir, port);
  try {
    await new Promise((r) => setTimeout(r, 3000));
    const before = statusKb(server.pid, 'VmRSS');
    // VmHWM would show the embedded database's start-up peak: sample VmRSS during the attack instead.
    let highest = before ?? 0;
    const sampler = setInterval(() => {
      highest = Math.max(highest, statusKb(server.pid, 'VmRSS') ?? 0);
    }, 200);
    let answeredEarly = 0;
    let sentWhole = 0;
    const sockets: Socket[] = [];
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    await Promise.all(
      Array.from(
        { length: CONNECTIONS },
        () =>
          new Promise<void>((done) => {
            const socket = connect(port, '127.0.0.1');
            sockets.push(socket);
            let left = BODY - 1;
            let answered = false;
            socket.on('data', () => {
              if (!answered && left > 0) answeredEarly += 1;
              answered = true;
            });
            socket.on('error', () => done());
            socket.on('close', () => done());
            const pump = () => {
              while (left > 0 && !socket.destroyed) {
                const part = left >= chunk.length ? chunk : chunk.subarray(0, left);
                left -= part.length;
                if (!socket.write(part)) return void socket.once('drain', pump);
              }
              if (left === 0) sentWhole += 1;
              done();
            };
            socket.write(
              `POST /tasks/0b8a3c52-8d2e-4f55-9a53-6f0f1a6a2d11/finish HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Agent-Id: a\r\nContent-Type: application/json\r\nContent-Length: ${BODY}\r\n\r\n`,
            );
            pump();
          }),
      ),
    );
    // The server buffers what it reads: give it time to take in what was sent.
    await new Promise((r) => setTimeout(r, 5000));
    const held = statusKb(server.pid, 'VmRSS');
    clearInterval(sampler);
    console.log(
      `${CONNECTIONS} connections, each a 6 MiB finish body without a token (server of ${ROOT}):\n` +
        `  server RSS before ${MB(before)}, while held ${MB(held)}, highest sampled ${MB(highest)}\n` +
        `  answered before the body was sent: ${answeredEarly}; bodies sent whole (all but the last byte): ${sentWhole}`,
    );
    for (const s of sockets) s.destroy();
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
