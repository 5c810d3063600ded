/** A clock tests can move: lease and deadline rules are tested either side of the boundary. */
export function movableClock(): { now: () => Date; advance(seconds: number): void } {
  let offsetMs = 0;
  return {
    now: () => new Date(Date.now() + offsetMs),
    advance(seconds) {
      offsetMs += seconds * 1000;
    },
  };
}

/**
 * Polls `probe` every `everyMs` until it returns something truthy, and returns that; after
 * `timeoutMs` throws an error naming `what` (and what `explain` adds, such as a process's log).
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | Promise<T>,
  timeoutMs = 30000,
  everyMs = 50,
  explain?: () => string,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} after ${timeoutMs} ms${explain ? `\n${explain()}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes (then throws). */
export function eventually<T>(check: () => Promise<T | null | undefined | false>, timeoutMs = 20000, everyMs = 50): Promise<T> {
  return waitFor('a condition', check, timeoutMs, everyMs) as Promise<T>;
}
