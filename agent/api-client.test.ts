import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OutputCapture } from '../contract/output-limit';
import { createApiClient, finishBody } from './api-client';
import type { RunResult } from './run-command';

const MiB = 1048576;
const MARKER = /\n\[\.\.\. (\d+) bytes omitted \.\.\.\]\n/g;

/** A result as runCommand gives it, from the raw bytes of each stream. */
function resultOf(stdout: Buffer, stderr: Buffer, limit = MiB): RunResult {
  const capture = { stdout: new OutputCapture(limit), stderr: new OutputCapture(limit) };
  capture.stdout.write(stdout);
  capture.stderr.write(stderr);
  const o = capture.stdout.finish();
  const e = capture.stderr.finish();
  return {
    state: 'succeeded',
    exitCode: 0,
    stdout: o.text,
    stderr: e.text,
    outputTruncated: o.truncated || e.truncated,
    error: null,
    capture,
  };
}

describe('finishBody', () => {
  it('sends a result that fits as it is', () => {
    const r = resultOf(Buffer.from('hello\n'), Buffer.from(''));
    expect(JSON.parse(finishBody(r, 6 * MiB))).toEqual({
      exitCode: 0,
      stdout: 'hello\n',
      stderr: '',
      outputTruncated: false,
      state: 'succeeded',
      error: null,
    });
  });

  it.each([6 * MiB, MiB, 256 * 1024])('cuts a megabyte of control characters on both streams until the JSON fits %i bytes', (max) => {
    const raw = Buffer.alloc(MiB, 0x01);
    const r = resultOf(raw, Buffer.alloc(MiB, 0x02));
    const json = finishBody(r, max);
    expect(Buffer.byteLength(json)).toBeLessThanOrEqual(max);
    const body = JSON.parse(json) as { stdout: string; stderr: string; outputTruncated: boolean };
    expect(body.outputTruncated).toBe(true);
    for (const [text, char] of [
      [body.stdout, '\u0001'],
      [body.stderr, '\u0002'],
    ] as const) {
      const markers = [...text.matchAll(MARKER)];
      expect(markers).toHaveLength(1);
      const m = markers[0] as RegExpExecArray;
      const head = text.slice(0, m.index);
      const tail = text.slice((m.index as number) + m[0].length);
      expect(head).toBe(char.repeat(head.length));
      expect(tail).toBe(char.repeat(tail.length));
      expect(head.length).toBeGreaterThan(0);
      // the marker counts the real output's bytes left out
      expect(Number(m[1])).toBe(MiB - head.length - tail.length);
    }
  });

  it('leaves a small stream whole and gives the other the room', () => {
    const r = resultOf(Buffer.alloc(MiB, 0x01), Buffer.from('short error\n'));
    const body = JSON.parse(finishBody(r, 2 * MiB)) as { stdout: string; stderr: string };
    expect(body.stderr).toBe('short error\n');
    expect(Buffer.byteLength(JSON.stringify(body.stdout))).toBeGreaterThan(1.5 * MiB);
  });

  it('gives the same body for the same result, so a retried finish is recognised', () => {
    const r = resultOf(Buffer.alloc(MiB, 0x1b), Buffer.alloc(10));
    expect(finishBody(r, MiB)).toBe(finishBody(r, MiB));
  });
});

describe('createApiClient', () => {
  // A real HTTP server that records what reaches it.
  const seen: { url: string; authorization?: string; agentId?: string }[] = [];
  let server: Server;
  let port: number;
  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push({ url: req.url ?? '', authorization: req.headers.authorization, agentId: req.headers['x-agent-id'] as string });
      res.writeHead(204).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it.each([
    ['no path', '', '/tasks/pick?wait=3'],
    ['a path prefix (an API Gateway stage)', '/prod', '/prod/tasks/pick?wait=3'],
    ['a path prefix with a trailing slash', '/prod/', '/prod/tasks/pick?wait=3'],
  ])('sends each request to the server URL with %s', async (_name, path, expected) => {
    seen.length = 0;
    const client = createApiClient({ backendUrl: `http://127.0.0.1:${port}${path}`, agentToken: 'tok', agentId: 'a-1' });
    expect(await client.pick(3)).toBeNull();
    expect(await client.pick(3)).toBeNull(); // the same again, on the kept-alive socket
    expect(seen).toEqual([
      { url: expected, authorization: 'Bearer tok', agentId: 'a-1' },
      { url: expected, authorization: 'Bearer tok', agentId: 'a-1' },
    ]);
  });
});
