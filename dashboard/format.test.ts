import { formatAgo, formatCount, formatDuration, queuedFor, ranFor, STATE_LABELS } from './format';

describe('formatDuration', () => {
  it.each([
    [0, '0 ms'],
    [850, '850 ms'],
    [4200, '4.2 s'],
    [42000, '42 s'],
    [185000, '3 min 5 s'],
    [2 * 3600000 + 14 * 60000, '2 h 14 min'],
    [3 * 86400000 + 4 * 3600000, '3 d 4 h'],
  ])('shows %d ms as %j', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('shows nothing for a negative or unknown duration', () => {
    expect(formatDuration(-1)).toBe('');
    expect(formatDuration(Number.NaN)).toBe('');
  });
});

describe('formatAgo', () => {
  const now = Date.parse('2026-12-01T12:00:00.000Z');
  it.each([
    ['2026-12-01T11:59:59.500Z', 'just now'],
    ['2026-12-01T11:59:48.000Z', '12 s ago'],
    ['2026-12-01T11:57:00.000Z', '3 min ago'],
    ['2026-12-01T09:30:00.000Z', '2 h 30 min ago'],
    ['2026-11-28T10:00:00.000Z', '2026-11-28'],
  ])('shows %s as %j', (iso, text) => {
    expect(formatAgo(iso, now)).toBe(text);
  });
});

describe('queuedFor and ranFor', () => {
  const now = Date.parse('2026-12-01T12:00:10.000Z');
  const created = '2026-12-01T12:00:00.000Z';

  it('counts a queued task as waiting until now, and not as having run', () => {
    const t = { createdAt: created, startedAt: null, finishedAt: null };
    expect(queuedFor(t, now)).toBe(10000);
    expect(ranFor(t, now)).toBeNull();
  });

  it('counts a running task from its start to now', () => {
    const t = { createdAt: created, startedAt: '2026-12-01T12:00:02.000Z', finishedAt: null };
    expect(queuedFor(t, now)).toBe(2000);
    expect(ranFor(t, now)).toBe(8000);
  });

  it('counts an ended task from start to finish, whatever the time now', () => {
    const t = { createdAt: created, startedAt: '2026-12-01T12:00:02.000Z', finishedAt: '2026-12-01T12:00:05.500Z' };
    expect(ranFor(t, now + 60000)).toBe(3500);
  });

  it('counts a task canceled while queued as waiting until it ended', () => {
    const t = { createdAt: created, startedAt: null, finishedAt: '2026-12-01T12:00:04.000Z' };
    expect(queuedFor(t, now)).toBe(4000);
  });
});

describe('labels', () => {
  it('names every state in words', () => {
    expect(STATE_LABELS.timed_out).toBe('timed out');
    expect(Object.values(STATE_LABELS).every((l) => /^[a-z ]+$/.test(l))).toBe(true);
  });

  it('marks a capped count with a plus', () => {
    expect(formatCount(10000, true)).toBe('10,000+');
    expect(formatCount(42, false)).toBe('42');
  });
});
