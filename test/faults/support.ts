/**
 * What the fault-injection tests share beyond test/support: a TCP proxy that can drop a
 * connection at a chosen moment. The processes and task helpers they use live in test/support
 * (re-exported here for the fault tests that import them from this file).
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { type Task, TERMINAL_STATES } from '../../contract/task';

export { waitFor } from '../support/clock';
export {
  type Exit,
  killGroup,
  type Proc,
  processAlive,
  type ServerProc,
  startAgent,
  startServerProcess,
  stopAll,
  stopProcess,
} from '../support/processes';
export { getTask, submit, waitState } from '../support/tasks';

/** The terminal states (contract/task.ts). */
export const ENDED: readonly string[] = TERMINAL_STATES;
/** A task as the API answers it (contract/task.ts). */
export type TaskView = Task;

export type DroppingProxy = {
  url: string;
  /** requests of the chosen kind seen, and the status the server gave each (the first one's is never relayed) */
  finishes: { status: number | null; dropped: boolean }[];
  close(): Promise<void>;
};

/**
 * A TCP proxy in front of `target`: it relays everything, except that the server's answer to
 * the first `POST /tasks/{id}/finish` (or the first `POST /tasks/{id}/<endpoint>`) is swallowed
 * and that connection cut. The server did the request; the agent saw a network error and must
 * retry, and the retry must be answered as success.
 */
export async function startDroppingProxy(target: string, endpoint = 'finish'): Promise<DroppingProxy> {
  const request = new RegExp(`^POST /tasks/[^/ ]+/${endpoint} `);
  const { hostname, port } = new URL(target);
  const finishes: DroppingProxy['finishes'] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(port), hostname);
    sockets.add(client);
    sockets.add(upstream);
    client.once('close', () => sockets.delete(client));
    upstream.once('close', () => sockets.delete(upstream));
    /** the finish whose answer is awaited on this connection */
    let pending: { status: number | null; dropped: boolean } | null = null;
    client.on('data', (chunk: Buffer) => {
      if (request.test(chunk.subarray(0, 200).toString('latin1'))) {
        pending = { status: null, dropped: finishes.length === 0 };
        finishes.push(pending);
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      const head = /^HTTP\/1\.1 (\d{3})/.exec(chunk.subarray(0, 20).toString('latin1'));
      if (pending !== null && head) {
        pending.status = Number(head[1]);
        const drop = pending.dropped;
        pending = null;
        if (drop) {
          client.destroy();
          upstream.destroy();
          return;
        }
      }
      client.write(chunk);
    });
    const cut = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', cut);
    upstream.on('error', cut);
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port: proxyPort } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${proxyPort}`,
    finishes,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
