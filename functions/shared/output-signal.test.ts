import { createOutputSignal } from './output-signal';

/** A subscription the test drives by hand: notify(id) is what a NOTIFY delivery does. */
async function manualSignal() {
  let notify: (payload: string) => void = () => {};
  let reconnect = () => {};
  let unsubscribed = false;
  const signal = await createOutputSignal(async (onNotify, onReconnect) => {
    notify = onNotify;
    reconnect = onReconnect;
    return async () => {
      unsubscribed = true;
    };
  });
  return { signal, notify: (id: string) => notify(id), reconnect: () => reconnect(), unsubscribed: () => unsubscribed };
}

const settled = async (p: Promise<boolean>) => {
  let value: boolean | 'pending' = 'pending';
  void p.then((v) => {
    value = v;
  });
  await new Promise((r) => setImmediate(r));
  return value;
};

describe('the output signal', () => {
  it('wakes every reader of the notified task and none of another task', async () => {
    const { signal, notify } = await manualSignal();
    const a1 = signal.watch('a');
    const a2 = signal.watch('a');
    const b = signal.watch('b');
    const waits = [a1.wait(60000), a2.wait(60000), b.wait(60000)];
    notify('a');
    expect(await Promise.all(waits.map(settled))).toEqual([true, true, 'pending']);
    await signal.close();
    expect(await settled(waits[2] as Promise<boolean>)).toBe(false);
  });

  it('keeps a notification that came between watch() and wait(), and consumes it once', async () => {
    const { signal, notify } = await manualSignal();
    const w = signal.watch('a');
    notify('a'); // while the reader was looking
    expect(await settled(w.wait(60000))).toBe(true);
    expect(await settled(w.wait(60000))).toBe('pending');
    await signal.close();
  });

  it('times out with false, and answers false once aborted', async () => {
    const { signal } = await manualSignal();
    expect(await signal.watch('a').wait(5)).toBe(false);
    const abort = new AbortController();
    const w = signal.watch('a').wait(60000, abort.signal);
    abort.abort();
    expect(await w).toBe(false);
    await signal.close();
  });

  it('wakes every reader after the listening connection was re-established', async () => {
    const { signal, reconnect } = await manualSignal();
    const waits = [signal.watch('a').wait(60000), signal.watch('b').wait(60000)];
    reconnect();
    expect(await Promise.all(waits)).toEqual([true, true]);
    await signal.close();
  });

  it('forgets a reader that ended its watch, and releases every reader and unsubscribes on close', async () => {
    const { signal, notify, unsubscribed } = await manualSignal();
    const ended = signal.watch('a');
    const waiting = ended.wait(60000);
    ended.end();
    expect(await waiting).toBe(false);
    notify('a');
    const open = signal.watch('a').wait(60000);
    await signal.close();
    expect(await open).toBe(false);
    expect(unsubscribed()).toBe(true);
  });
});
