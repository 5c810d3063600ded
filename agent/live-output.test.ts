/**
 * The agent's live output against a small in-memory server that follows the send protocol
 * (append past what it holds, answer what it holds, take a chunk past it once its head is
 * complete); the real server is tested in test/live-output.test.ts and with the real agent in
 * test/agent-e2e.test.ts.
 */
import fc from 'fast-check';
import { headTailBudgets, toStoredText } from '../contract/output-limit';
import type { OutputAck, OutputSend, StreamName } from '../contract/task';
import { createLiveOutput, type LiveOutputOptions, StoredTextDecoder } from './live-output';

const quiet = { warn() {}, debug() {} };
const bytes = (s: string) => Buffer.byteLength(s);

type Failure = { status: number; retryable: boolean; message: string };
const failure = (status: number): Error & Failure =>
  Object.assign(new Error(`answered ${status}`), { status, retryable: status === 0 || status >= 500 });

/** What the server holds of each stream, as text with gaps marked by their start offsets. */
class FakeServer {
  held: Record<StreamName, number> = { stdout: 0, stderr: 0 };
  text: Record<StreamName, string> = { stdout: '', stderr: '' };
  gaps: Record<StreamName, number[]> = { stdout: [], stderr: [] };
  bodies: string[] = [];
  /** what the next sends do: 'ok', 'lost' (applied, the answer lost), or a status to fail with */
  script: ('ok' | 'lost' | number)[] = [];
  constructor(readonly limit: number) {}

  /** while true every send fails with 503 */
  down = false;

  async send(body: OutputSend): Promise<OutputAck> {
    if (this.down) throw failure(503);
    const step = this.script.shift() ?? 'ok';
    if (typeof step === 'number') throw failure(step);
    this.bodies.push(JSON.stringify(body));
    for (const s of ['stdout', 'stderr'] as const) {
      const c = body[s];
      if (!c) continue;
      const len = bytes(c.data);
      if (c.offset > this.held[s]) {
        if (this.held[s] < headTailBudgets(this.limit).head) continue;
        this.gaps[s].push(c.offset);
        this.text[s] += c.data;
        this.held[s] = c.offset + len;
      } else if (c.offset + len > this.held[s]) {
        const part = Buffer.from(c.data)
          .subarray(this.held[s] - c.offset)
          .toString();
        this.text[s] += part;
        this.held[s] = c.offset + len;
      }
    }
    if (step === 'lost') throw failure(0);
    return { ...this.held, cancelRequested: false, leaseExpiresAt: new Date().toISOString() };
  }
}

function live(server: FakeServer, extra: Partial<LiveOutputOptions> = {}) {
  const events = { acks: 0, conflicts: 0, retries: 0 };
  const output = createLiveOutput({
    limit: server.limit,
    send: (body) => server.send(body),
    onAck: () => {
      events.acks++;
    },
    onConflict: () => {
      events.conflicts++;
    },
    onRetryableError: () => {
      events.retries++;
      return 1;
    },
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    log: quiet,
    flushMs: 20,
    firstDelayMs: 0,
    ...extra,
  });
  return { output, events };
}

describe('StoredTextDecoder', () => {
  it('gives, piece by piece, exactly the stored text of the whole output, however the pipe cuts it', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1 }), (raw, cuts) => {
        const decoder = new StoredTextDecoder();
        let text = '';
        let at = 0;
        for (let k = 0; at < raw.length; k++) {
          const n = cuts[k % cuts.length] as number;
          text += decoder.write(Buffer.from(raw.subarray(at, at + n)));
          at += n;
        }
        text += decoder.end();
        expect(text).toBe(toStoredText(Buffer.from(raw)));
      }),
      { numRuns: 500 },
    );
  });
});

describe('live output', () => {
  it('sends what the command writes, each stream from its offset, and the server ends up with exactly it', async () => {
    const server = new FakeServer(1 << 20);
    const { output } = live(server);
    output.write('stdout', Buffer.from('hello '));
    output.write('stderr', Buffer.from([0x77, 0x00, 0xff]));
    await new Promise((r) => setTimeout(r, 60));
    output.write('stdout', Buffer.from([0xe2, 0x82]));
    output.write('stdout', Buffer.from([0xac, 0x0a]));
    await output.finish();
    expect(server.text).toEqual({ stdout: 'hello €\n', stderr: 'w\uFFFD\uFFFD' });
    expect(output.streamed).toBe(true);
  });

  it('sends nothing for a command that ends before its first send is due: the finish carries its output', async () => {
    const server = new FakeServer(1 << 20);
    const { output } = live(server, { firstDelayMs: 60000 });
    output.write('stdout', Buffer.from('quick\n'));
    await output.finish();
    expect(server.bodies).toEqual([]);
    expect(output.streamed).toBe(false);
  });

  it('waits for more while under the flush size, and sends at once past it', async () => {
    const server = new FakeServer(1 << 20);
    const { output } = live(server, { flushMs: 60000, firstDelayMs: 60000, flushBytes: 64 * 1024 });
    output.write('stdout', Buffer.from('small\n'));
    await new Promise((r) => setTimeout(r, 200));
    expect(server.bodies).toHaveLength(0);
    output.write('stdout', Buffer.alloc(70 * 1024, 0x61));
    for (let i = 0; i < 100 && server.held.stdout === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(server.held.stdout).toBe(6 + 70 * 1024);
    output.stop();
  });

  it('retries failed sends and resends after a lost answer, so no byte is lost or repeated', async () => {
    const server = new FakeServer(1 << 20);
    server.script = [503, 0, 'lost', 'ok', 'lost', 503];
    const { output, events } = live(server);
    let expected = '';
    for (let i = 0; i < 30; i++) {
      const line = `line ${i} é\n`;
      expected += line;
      output.write('stdout', Buffer.from(line));
      await new Promise((r) => setTimeout(r, 5));
    }
    await output.finish();
    expect(server.text.stdout).toBe(expected);
    expect(events.retries).toBeGreaterThanOrEqual(4);
  });

  it('stops at a 409 and tells the agent, which stops the command', async () => {
    const server = new FakeServer(1 << 20);
    server.script = [409];
    const { output, events } = live(server);
    output.write('stdout', Buffer.from('x'));
    await output.finish();
    expect(events.conflicts).toBe(1);
    expect(server.text.stdout).toBe('');
  });

  it('keeps every send within the body limit as JSON, control characters included, and cuts smaller after a 413', async () => {
    const server = new FakeServer(4 << 20);
    server.script = ['ok', 413];
    const bodyLimit = 256 * 1024;
    const { output } = live(server, { bodyLimit });
    const raw = Buffer.alloc(1024 * 1024, 0x01);
    output.write('stdout', raw.subarray(0, 100));
    await new Promise((r) => setTimeout(r, 50));
    output.write('stdout', raw.subarray(100));
    output.write('stderr', Buffer.alloc(300 * 1024, 0x02));
    await output.finish();
    expect(server.text.stdout).toBe('\u0001'.repeat(1024 * 1024));
    expect(server.text.stderr).toBe('\u0002'.repeat(300 * 1024));
    for (const body of server.bodies) expect(bytes(body)).toBeLessThanOrEqual(bodyLimit);
  });

  it('bounds what waits while the server is unreachable, and then sends the head and the latest tail with a gap between', async () => {
    const limit = 64 * 1024;
    const server = new FakeServer(limit);
    const maxPendingBytes = 256 * 1024;
    const { output } = live(server, { maxPendingBytes, flushBytes: 1 << 30 });
    const line = (i: number) => `${String(i).padStart(9, '0')}\n`;
    let written = '';
    // it answers the first sends, then is unreachable until the command is done
    for (let i = 0; i < 200000; i++) {
      if (i === 10) await new Promise((r) => setTimeout(r, 50));
      if (i === 11) server.down = true;
      if (i % 1000 === 0 && i > 0) await new Promise((r) => setImmediate(r));
      written += line(i);
      output.write('stdout', Buffer.from(line(i)));
    }
    server.down = false;
    await output.finish();
    const { head } = headTailBudgets(limit);
    expect(server.gaps.stdout.length).toBeGreaterThanOrEqual(1);
    // the head is whole, the end is the command's last output, and memory stayed bounded
    expect(server.text.stdout.startsWith(written.slice(0, head))).toBe(true);
    expect(server.text.stdout.endsWith(written.slice(-1000))).toBe(true);
    expect(server.held.stdout).toBe(bytes(written));
    expect(bytes(server.text.stdout)).toBeLessThan(maxPendingBytes + limit);
  });
});
