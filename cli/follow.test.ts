import type { TaskState } from '../contract/task';
import { type ApiClient, ApiError, type OutputRead } from './client';
import { type Clock, followStream, RECONNECT_BUDGET_MS, withRetry } from './follow';

/** A clock that moves only when slept on. */
function fakeClock(): Clock & { slept: number[] } {
  let t = 0;
  const slept: number[] = [];
  return {
    slept,
    now: () => t,
    sleep: async (ms) => {
      slept.push(ms);
      t += ms;
    },
  };
}

const refused = () => new ApiError('unreachable', 'cannot reach http://x (ECONNREFUSED)', 0, 'ECONNREFUSED');

describe('withRetry', () => {
  it('tries a transient failure again with growing pauses and returns the first success', async () => {
    const clock = fakeClock();
    let calls = 0;
    const value = await withRetry(async () => {
      calls++;
      if (calls < 4) throw refused();
      return 'ok';
    }, clock);
    expect(value).toBe('ok');
    expect(clock.slept).toHaveLength(3);
    expect(clock.slept[1] as number).toBeGreaterThan(clock.slept[0] as number);
  });

  it('gives up with the last error once the budget since the first failure is spent', async () => {
    const clock = fakeClock();
    await expect(
      withRetry(async () => {
        throw refused();
      }, clock),
    ).rejects.toThrow('ECONNREFUSED');
    const waited = clock.slept.reduce((a, b) => a + b, 0);
    expect(waited).toBeLessThanOrEqual(RECONNECT_BUDGET_MS);
    expect(waited).toBeGreaterThan(RECONNECT_BUDGET_MS - 5000);
  });

  it('throws a 4xx problem, a 401 and a non-API answer at once', async () => {
    for (const error of [
      new ApiError('problem', 'No task', 404),
      new ApiError('unauthorized', 'wants a token', 401),
      new ApiError('unusable', 'not the API', 404),
    ]) {
      const clock = fakeClock();
      await expect(
        withRetry(async () => {
          throw error;
        }, clock),
      ).rejects.toBe(error);
      expect(clock.slept).toEqual([]);
    }
  });

  it('tells the hooks about each retry and about the recovery', async () => {
    const clock = fakeClock();
    const seen: string[] = [];
    let calls = 0;
    await withRetry(
      async () => {
        if (++calls === 1) throw new ApiError('server', 'answered 503', 503);
        return 1;
      },
      clock,
      { onRetry: (e) => seen.push(`retry ${e.reason}`), onRecovered: () => seen.push('recovered') },
    );
    expect(seen).toEqual(['retry 503', 'recovered']);
  });
});

describe('followStream', () => {
  /** A client whose reads answer from a script of answers, recording each offset asked for. */
  function scriptedClient(answers: Array<OutputRead | ApiError>): { client: ApiClient; offsets: number[] } {
    const offsets: number[] = [];
    const client = {
      readOutput: async (_id: string, _stream: string, offset: number) => {
        offsets.push(offset);
        const next = answers.shift();
        if (next === undefined) throw new Error('read past the script');
        if (next instanceof ApiError) throw next;
        return next;
      },
    } as unknown as ApiClient;
    return { client, offsets };
  }
  const read = (data: string, nextOffset: number, state: TaskState, complete = false): OutputRead => ({
    data: Buffer.from(data),
    nextOffset,
    state,
    complete,
  });

  it('passes back each X-Next-Offset, hands over each piece in order and stops at X-Output-Complete', async () => {
    const { client, offsets } = scriptedClient([
      read('', 0, 'queued'),
      read('héllo ', 7, 'running'),
      refused(),
      read('world\n', 13, 'running'),
      read('', 13, 'succeeded', true),
    ]);
    const pieces: Array<[string, number]> = [];
    const states: TaskState[] = [];
    const final = await followStream({
      client,
      id: 't',
      stream: 'stdout',
      clock: fakeClock(),
      waitSeconds: () => 20,
      onData: async (data, offset) => void pieces.push([data.toString(), offset]),
      onState: (s) => states.push(s),
    });
    expect(final).toBe('succeeded');
    expect(offsets).toEqual([0, 0, 7, 7, 13]);
    expect(pieces).toEqual([
      ['héllo ', 0],
      ['world\n', 7],
    ]);
    expect(states).toEqual(['queued', 'running', 'running', 'succeeded']);
  });

  it('pauses between reads that come back at once with nothing, instead of spinning', async () => {
    const { client } = scriptedClient([read('', 0, 'running'), read('', 0, 'running'), read('', 0, 'failed', true)]);
    const clock = fakeClock();
    await followStream({ client, id: 't', stream: 'stderr', clock, waitSeconds: () => 20, onData: async () => undefined });
    expect(clock.slept).toEqual([500, 500]);
  });
});
