import { PassThrough } from 'node:stream';
import { FRAME_MS, QUIET_MS, Screen, statusText } from './status-line';

/** A stand-in for process.stdout/stderr that records each write as it came. */
function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  const stream = Object.assign(new PassThrough(), { isTTY, columns: 60 });
  stream.write = ((chunk: string | Buffer) => {
    writes.push(chunk.toString());
    return true;
  }) as typeof stream.write;
  return { stream, writes };
}

describe('statusText', () => {
  it('shows a spinner frame, the state, the whole seconds in it and the hint', () => {
    expect(statusText({ label: 'running', since: 1000, hint: 'Ctrl-C cancels' }, 13500, 0)).toBe('⠋ running 12s  Ctrl-C cancels');
    expect(statusText({ label: 'queued', since: 0 }, 65000, 11)).toBe('⠙ queued 1m05s');
  });
});

describe('Screen', () => {
  let now = 0;
  beforeEach(() => {
    jest.useFakeTimers();
    now = 100000;
  });
  afterEach(() => jest.useRealTimers());
  const advance = (ms: number) => {
    now += ms;
    jest.advanceTimersByTime(ms);
  };

  it('writes no status byte at all when stderr is not a terminal', async () => {
    const out = fakeStream(false);
    const err = fakeStream(false);
    const screen = new Screen(out.stream, err.stream, false, () => now);
    screen.setStatus({ label: 'running', since: now });
    advance(5000);
    await screen.write('stderr', Buffer.from('task stderr\n'));
    advance(5000);
    screen.stop();
    expect(err.writes).toEqual(['task stderr\n']);
  });

  it('draws the line in place, each redraw one write of \\r, text and erase-to-end, at most once a frame', () => {
    const out = fakeStream(true);
    const err = fakeStream(true);
    const screen = new Screen(out.stream, err.stream, true, () => now);
    screen.setStatus({ label: 'queued', since: now });
    advance(1000);
    expect(err.writes.length).toBeGreaterThan(0);
    expect(err.writes.length).toBeLessThanOrEqual(1000 / FRAME_MS);
    for (const w of err.writes) expect(w).toMatch(/^\r. queued \ds\u001b\[K$/u);
    screen.stop();
  });

  it('erases the line before task output, and keeps it off until the task has been quiet', async () => {
    const out = fakeStream(true);
    const err = fakeStream(true);
    const screen = new Screen(out.stream, err.stream, true, () => now);
    screen.setStatus({ label: 'running', since: now });
    advance(500);
    err.writes.length = 0;
    await screen.write('stdout', Buffer.from('line\n'));
    expect(err.writes).toEqual(['\r\u001b[K']);
    advance(QUIET_MS - FRAME_MS);
    expect(err.writes).toEqual(['\r\u001b[K']);
    advance(2 * FRAME_MS);
    expect(err.writes.length).toBeGreaterThan(1);
    screen.stop();
    expect(err.writes.at(-1)).toBe('\r\u001b[K');
  });

  it('never draws while the task has left a line unfinished', async () => {
    const out = fakeStream(true);
    const err = fakeStream(true);
    const screen = new Screen(out.stream, err.stream, true, () => now);
    screen.setStatus({ label: 'running', since: now });
    await screen.write('stderr', Buffer.from('progress: 10%'));
    advance(5000);
    expect(err.writes).toEqual(['progress: 10%']);
    await screen.write('stderr', Buffer.from(' done\n'));
    advance(QUIET_MS + FRAME_MS);
    expect(err.writes.slice(2).length).toBeGreaterThan(0);
    screen.stop();
  });

  it('keeps the line one column short of the terminal, so it never wraps', () => {
    const out = fakeStream(true);
    const err = fakeStream(true);
    err.stream.columns = 20;
    const screen = new Screen(out.stream, err.stream, true, () => now);
    screen.setStatus({ label: 'running a very long label', since: now, hint: 'Ctrl-C cancels' });
    advance(QUIET_MS + FRAME_MS);
    const text = (err.writes[0] as string).replace(/^\r/, '').replace(/\u001b\[K$/, '');
    expect([...text]).toHaveLength(19);
    screen.stop();
  });

  it('ignores output written to a stream that is not a terminal (a piped stdout) for erasing and drawing', async () => {
    const out = fakeStream(false);
    const err = fakeStream(true);
    const screen = new Screen(out.stream, err.stream, true, () => now);
    screen.setStatus({ label: 'running', since: now });
    advance(QUIET_MS + FRAME_MS);
    const drawn = err.writes.length;
    await screen.write('stdout', Buffer.from('partial'));
    expect(err.writes).toHaveLength(drawn);
    advance(FRAME_MS * 11);
    expect(err.writes.length).toBeGreaterThan(drawn);
    screen.stop();
  });
});
