import { cut, formatAge, formatDuration, formatElapsed, oneLine } from './format';

describe('formatDuration', () => {
  it.each([
    [0, '0ms'],
    [850, '850ms'],
    [1000, '1.0s'],
    [4250, '4.2s'],
    [9999, '9.9s'],
    [10000, '10s'],
    [59999, '59s'],
    [60000, '1m00s'],
    [245000, '4m05s'],
    [3599000, '59m59s'],
    [3600000, '1h00m'],
    [7380000, '2h03m'],
    [86400000, '1d00h'],
    [273600000, '3d04h'],
  ])('shows %i ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('shows a negative duration (clocks apart) as 0ms', () => {
    expect(formatDuration(-5000)).toBe('0ms');
  });
});

describe('formatElapsed', () => {
  it('counts whole seconds, so the status line changes once a second', () => {
    expect([0, 999, 1000, 59999, 65000, 3723000].map(formatElapsed)).toEqual(['0s', '0s', '1s', '59s', '1m05s', '1h02m']);
  });
});

describe('formatAge', () => {
  it('says how long ago in the largest whole unit', () => {
    expect([0, 12000, 60000, 299000, 3600000, 86400000 * 4 + 5].map(formatAge)).toEqual([
      '0s ago',
      '12s ago',
      '1m ago',
      '4m ago',
      '1h ago',
      '4d ago',
    ]);
  });

  it('shows a time ahead of our clock as 0s ago', () => {
    expect(formatAge(-3000)).toBe('0s ago');
  });
});

describe('oneLine', () => {
  it('escapes newlines, tabs and other control characters, so a cell stays one line and sends no escape sequence', () => {
    expect(oneLine('a\nb\tc\r\u001b[2Jd\u0000')).toBe('a\\nb\\tc\\r\\x1b[2Jd\\x00');
  });

  it('keeps printable text, quotes and non-ASCII letters as they are', () => {
    expect(oneLine(`echo "héllo" 'wörld' 😀 $(x)`)).toBe(`echo "héllo" 'wörld' 😀 $(x)`);
  });
});

describe('cut', () => {
  it('keeps text that fits and cuts longer text to the width, ending in an ellipsis', () => {
    expect(cut('hello', 5)).toBe('hello');
    expect(cut('hello world', 5)).toBe('hell…');
    expect(cut('hello', 0)).toBe('');
  });

  it('never splits a character made of two UTF-16 units', () => {
    expect(cut('😀😀😀😀', 3)).toBe('😀😀…');
  });
});
