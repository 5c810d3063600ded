import { exitStatusOf } from './exit-status';

describe('exitStatusOf', () => {
  it.each([
    ['succeeded', 0, 0],
    ['failed', 3, 3],
    ['failed', 127, 127],
    ['failed', 255, 255],
    ['timed_out', null, 124],
    ['timed_out', 143, 124],
    ['canceled', null, 130],
    ['canceled', 143, 130],
    ['failed', null, 1],
    ['failed', 0, 1],
    ['failed', 300, 1],
    ['failed', -1, 1],
  ] as const)('gives %s with exit code %p the status %i', (state, exitCode, status) => {
    expect(exitStatusOf({ state, exitCode })).toBe(status);
  });
});
