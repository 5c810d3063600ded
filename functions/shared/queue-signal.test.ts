import { createQueueSignal } from './queue-signal';

/** A subscription the test drives by hand: notify() is what a NOTIFY delivery does. */
async function manualSignal() {
  let notify = (_payload: string) => {};
  let reconnect = () => {};
  let unsubscribed = false;
  const signal = await createQueueSignal(async (onNotify, onReconnect) => {
    notify = onNotify;
    reconnect = onReconnect;
    return async () => {
      unsubscribed = true;
    };
  });
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

describe('the queue signal', () => {
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
});
