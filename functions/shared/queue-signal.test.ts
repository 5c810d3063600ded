import { createQueueSignal, HINT_MS, parseQueuedPayload } from './queue-signal';

/** A subscription the test drives by hand: notify() is what a NOTIFY delivery does. */
async function manualSignal(clock?: () => number) {
  let notify = (_payload: string) => {};
  let reconnect = () => {};
  let unsubscribed = false;
  const signal = await createQueueSignal(
    async (onNotify, onReconnect) => {
      notify = onNotify;
      reconnect = onReconnect;
      return async () => {
        unsubscribed = true;
      };
    },
    { clock },
  );
  return { signal, notify: (payload = '') => notify(payload), reconnect: () => reconnect(), unsubscribed: () => unsubscribed };
}

const settled = async (p: Promise<boolean>) => {
  let value: boolean | 'pending' = 'pending';
  void p.then((v) => {
    value = v;
  });
  await new Promise((r) => setImmediate(r));
  return value;
};

/** A signal whose announcements the test reads (and can make fail). */
async function announcingSignal() {
  let notify = (_payload: string) => {};
  const published: string[][] = [];
  const errors: Error[] = [];
  let failNext = false;
  let release: (() => void) | null = null;
  let hold = false;
  const signal = await createQueueSignal(
    async (onNotify) => {
      notify = onNotify;
      return async () => {};
    },
    {
      origin: 'me',
      publish: async (payloads) => {
        if (hold) await new Promise<void>((r) => (release = r));
        if (failNext) {
          failNext = false;
          throw new Error('connection refused');
        }
        published.push([...payloads]);
      },
      onPublishError: (error) => errors.push(error),
    },
  );
  return {
    signal,
    notify: (payload: string) => notify(payload),
    published,
    errors,
    failNext: () => {
      failNext = true;
    },
    hold: () => {
      hold = true;
    },
    release: () => {
      hold = false;
      release?.();
    },
  };
}
const turn = () => new Promise((r) => setImmediate(r));

describe('the queue signal', () => {
  it('wakes a waiter here for a task queued here, without waiting for a notification', async () => {
    const { signal, published } = await announcingSignal();
    const since = signal.generation();
    const gpu = signal.wait(60000, since, undefined, (key) => key === 'gpu');
    const any = signal.wait(60000, since);
    signal.queued?.('linux');
    expect(await Promise.all([settled(gpu), settled(any)])).toEqual(['pending', true]);
    signal.queued?.('gpu');
    expect(await settled(gpu)).toBe(true);
    await turn();
    await turn();
    expect(published.flat().sort()).toEqual(['@me 1 gpu', '@me 1 linux']);
  });

  it('announces the creates of one turn to the other servers in one statement, counted per label set', async () => {
    const { signal, published } = await announcingSignal();
    signal.queued?.('');
    signal.queued?.('');
    signal.queued?.('gpu');
    expect(published).toEqual([]);
    await turn();
    await turn();
    expect(published).toEqual([['@me 2 ', '@me 1 gpu']]);
    // nobody waited: each moved the generation, so a picker that looked meanwhile looks again
    expect(signal.generation()).toBe(3);
  });

  it('sends what was queued meanwhile once the statement in flight is done', async () => {
    const a = await announcingSignal();
    a.hold();
    a.signal.queued?.('');
    await turn();
    a.signal.queued?.('');
    a.signal.queued?.('');
    a.release();
    for (let i = 0; i < 5; i++) await turn();
    expect(a.published).toEqual([['@me 1 '], ['@me 2 ']]);
  });

  it('passes over its own announcements and wakes as many waiters as another server announces', async () => {
    const { signal, notify } = await announcingSignal();
    const since = signal.generation();
    const waits = [signal.wait(60000, since), signal.wait(60000, since), signal.wait(60000, since)];
    notify('@me 3 ');
    expect(await Promise.all(waits.map(settled))).toEqual(['pending', 'pending', 'pending']);
    expect(signal.generation()).toBe(since);
    notify('@f81d4fae-7dec-11d0-a765-00a0c91e6bf6 2 ');
    expect(await Promise.all(waits.map(settled))).toEqual([true, true, 'pending']);
    await signal.close();
  });

  it('reports an announcement that failed, and sends the next ones', async () => {
    const { signal, published, errors, failNext } = await announcingSignal();
    failNext();
    signal.queued?.('');
    await turn();
    await turn();
    signal.queued?.('gpu');
    await turn();
    await turn();
    expect(errors.map((e) => e.message)).toEqual(['connection refused']);
    expect(published).toEqual([['@me 1 gpu']]);
  });

  it('finishes the announcement in flight before it closes', async () => {
    const a = await announcingSignal();
    a.hold();
    a.signal.queued?.('');
    await turn();
    const closed = a.signal.close();
    let done = false;
    void closed.then(() => {
      done = true;
    });
    await turn();
    expect(done).toBe(false);
    a.release();
    await closed;
    expect(a.published).toEqual([['@me 1 ']]);
  });

  it('still announces a create that commits while the server shuts down, and flush waits for it', async () => {
    const a = await announcingSignal();
    await a.signal.close();
    a.hold();
    a.signal.queued?.('');
    let flushed = false;
    const flushing = a.signal.flush?.().then(() => {
      flushed = true;
    });
    for (let i = 0; i < 3; i++) await turn();
    expect(flushed).toBe(false);
    a.release();
    await flushing;
    expect(a.published).toEqual([['@me 1 ']]);
  });

  it('without a way to publish (an embedded database: no other server), only wakes here', async () => {
    const { signal } = await manualSignal();
    const waiting = signal.wait(60000, signal.generation());
    signal.queued?.('');
    expect(await settled(waiting)).toBe(true);
  });

  it('reads each payload form: counted, announced, and an older one', () => {
    expect(parseQueuedPayload('3 gpu,linux')).toEqual({ count: 3, labelKey: 'gpu,linux', origin: null });
    expect(parseQueuedPayload('@ab-12 2 ')).toEqual({ count: 2, labelKey: '', origin: 'ab-12' });
    expect(parseQueuedPayload('')).toEqual({ count: 1, labelKey: null, origin: null });
    expect(parseQueuedPayload('@x y')).toEqual({ count: 1, labelKey: null, origin: null });
  });

  it('wakes exactly one of several waiters per notification, oldest first', async () => {
    const { signal, notify } = await manualSignal();
    const since = signal.generation();
    const waits = [signal.wait(60000, since), signal.wait(60000, since), signal.wait(60000, since)];
    notify();
    expect(await Promise.all(waits.map(settled))).toEqual([true, 'pending', 'pending']);
    notify();
    expect(await Promise.all(waits.map(settled))).toEqual([true, true, 'pending']);
    await signal.close();
    expect(await settled(waits[2] as Promise<boolean>)).toBe(false);
  });

  it('wakes, for a labelled task, only waiters whose agent may run it, and as many as the payload counts', async () => {
    const { signal, notify } = await manualSignal();
    const since = signal.generation();
    const gpuOnly = (key: string) => key === '' || key.split(',').every((l) => l === 'gpu');
    const none = (key: string) => key === '';
    const waits = [
      signal.wait(60000, since, undefined, none),
      signal.wait(60000, since, undefined, gpuOnly),
      signal.wait(60000, since, undefined, gpuOnly),
    ];
    notify('1 gpu');
    expect(await Promise.all(waits.map(settled))).toEqual(['pending', true, 'pending']);
    notify('1 gpu,linux'); // nobody may run it: nobody is woken
    expect(await Promise.all(waits.map(settled))).toEqual(['pending', true, 'pending']);
    notify('5 '); // five unlabelled tasks: every waiter left may run them
    expect(await Promise.all(waits.map(settled))).toEqual([true, true, true]);
  });

  it('answers at once when a task was queued between the look and the wait', async () => {
    const { signal, notify } = await manualSignal();
    const since = signal.generation();
    notify(); // nobody waits yet: only the generation moves
    expect(await settled(signal.wait(60000, since))).toBe(true);
  });

  it('times out with false when nothing is queued', async () => {
    const { signal } = await manualSignal();
    expect(await signal.wait(5, signal.generation())).toBe(false);
    await signal.close();
  });

  it('wakes every waiter after the listening connection was re-established', async () => {
    const { signal, reconnect } = await manualSignal();
    const since = signal.generation();
    const waits = [signal.wait(60000, since), signal.wait(60000, since)];
    reconnect();
    expect(await Promise.all(waits)).toEqual([true, true]);
    await signal.close();
  });

  it('releases every waiter and unsubscribes on close, and answers false afterwards', async () => {
    const { signal, unsubscribed } = await manualSignal();
    const w = signal.wait(60000, signal.generation());
    await signal.close();
    expect(await w).toBe(false);
    expect(unsubscribed()).toBe(true);
    expect(await signal.wait(60000, signal.generation())).toBe(false);
  });

  it('moves the generation only for tasks nobody was woken for', async () => {
    const { signal, notify } = await manualSignal();
    const since = signal.generation();
    const waits = [signal.wait(60000, since), signal.wait(60000, since)];
    notify('2 ');
    expect(await Promise.all(waits)).toEqual([true, true]);
    expect(signal.generation()).toBe(since); // both tasks went to a waiter
    notify('1 '); // nobody waits
    expect(signal.generation()).toBe(since + 1);
    await signal.close();
  });

  it('hands a wake-up on to the next waiter, or moves the generation when none waits', async () => {
    const { signal } = await manualSignal();
    const since = signal.generation();
    const w = signal.wait(60000, since);
    signal.handOn();
    expect(await w).toBe(true);
    signal.handOn();
    expect(signal.generation()).toBe(since + 1);
    await signal.close();
  });

  describe('nothingQueuedFor (a pick right after a finish may wait without claiming)', () => {
    const setup = async () => {
      let now = 1000;
      const s = await manualSignal(() => now);
      return { ...s, advance: (ms: number) => (now += ms) };
    };

    it('holds after the agent finished and a claim for its label set found nothing at this generation, once', async () => {
      const { signal } = await setup();
      signal.foundNothing('', signal.generation());
      signal.agentFinished('a');
      expect(signal.nothingQueuedFor('a', '')).toBe(true);
      expect(signal.nothingQueuedFor('a', '')).toBe(false); // the finish is taken
    });

    it('does not hold without a finish here, for another label set, or when the claim was for an older generation', async () => {
      const { signal, notify } = await setup();
      const since = signal.generation();
      signal.foundNothing('gpu', since);
      signal.agentFinished('a');
      expect(signal.nothingQueuedFor('b', 'gpu')).toBe(false);
      expect(signal.nothingQueuedFor('a', '')).toBe(false);
      signal.agentFinished('a');
      notify('1 gpu'); // nobody waits for it: the generation moves
      expect(signal.nothingQueuedFor('a', 'gpu')).toBe(false);
    });

    it('holds when the task queued since went to a waiter woken for it', async () => {
      const { signal, notify } = await setup();
      const since = signal.generation();
      const woken = signal.wait(60000, since);
      signal.foundNothing('', since);
      notify('1 ');
      expect(await woken).toBe(true);
      signal.agentFinished('a');
      expect(signal.nothingQueuedFor('a', '')).toBe(true);
    });

    it(`does not hold once the claim or the finish is ${HINT_MS} ms old`, async () => {
      const { signal, advance } = await setup();
      signal.foundNothing('', signal.generation());
      signal.agentFinished('a');
      advance(HINT_MS);
      expect(signal.nothingQueuedFor('a', '')).toBe(false);
      signal.agentFinished('a');
      expect(signal.nothingQueuedFor('a', '')).toBe(false); // the claim is still too old
      signal.foundNothing('', signal.generation());
      signal.agentFinished('a');
      expect(signal.nothingQueuedFor('a', '')).toBe(true);
    });

    it('does not hold after a reconnect (notifications may have been missed)', async () => {
      const { signal, reconnect } = await setup();
      signal.foundNothing('', signal.generation());
      reconnect();
      signal.agentFinished('a');
      expect(signal.nothingQueuedFor('a', '')).toBe(false);
    });
  });
});
