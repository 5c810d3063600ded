import { CRON_MAX_CHARS } from '../../contract/http';
import { compileCron, MAX_TICKS_PER_ROUND, parseCron, parseTimezone, resolveDueTicks, SKIP_COUNT_STEPS } from './cron';
import { ValidationError } from './errors';

const at = (iso: string) => new Date(iso);
const ticks = (cron: string, tz: string, from: string, n: number) => {
  const s = compileCron(cron, tz);
  const out: string[] = [];
  let t = at(from);
  for (let i = 0; i < n; i++) {
    t = s.next(t) as Date;
    out.push(t.toISOString());
  }
  return out;
};

describe('next run across daylight-saving changes', () => {
  it('runs a 02:30 Europe/Berlin daily once on the spring-forward day, at 03:00 (02:30 does not exist), then at 02:30 CEST', () => {
    // 2026-03-29 02:00 CET becomes 03:00 CEST
    expect(ticks('30 2 * * *', 'Europe/Berlin', '2026-03-27T12:00:00Z', 4)).toEqual([
      '2026-03-28T01:30:00.000Z', // 02:30 CET
      '2026-03-29T01:00:00.000Z', // 03:00 CEST, the first valid time after the gap
      '2026-03-30T00:30:00.000Z', // 02:30 CEST
      '2026-03-31T00:30:00.000Z',
    ]);
  });

  it('runs a 02:30 Europe/Berlin daily once on the fall-back day, though 02:30 happens twice', () => {
    // 2026-10-25 03:00 CEST becomes 02:00 CET
    expect(ticks('30 2 * * *', 'Europe/Berlin', '2026-10-24T12:00:00Z', 3)).toEqual([
      '2026-10-25T00:30:00.000Z', // the first 02:30 (CEST)
      '2026-10-26T01:30:00.000Z', // 02:30 CET
      '2026-10-27T01:30:00.000Z',
    ]);
  });

  it('keeps an hourly Europe/Berlin schedule one hour apart in UTC through the fall-back night', () => {
    expect(ticks('0 * * * *', 'Europe/Berlin', '2026-10-24T23:30:00Z', 4)).toEqual([
      '2026-10-25T00:00:00.000Z',
      '2026-10-25T01:00:00.000Z',
      '2026-10-25T02:00:00.000Z',
      '2026-10-25T03:00:00.000Z',
    ]);
  });

  it('runs a 09:00 America/New_York daily at 09:00 local on both sides of the spring change (14:00Z, then 13:00Z)', () => {
    // 2026-03-08 02:00 EST becomes 03:00 EDT
    expect(ticks('0 9 * * *', 'America/New_York', '2026-03-06T15:00:00Z', 3)).toEqual([
      '2026-03-07T14:00:00.000Z',
      '2026-03-08T13:00:00.000Z',
      '2026-03-09T13:00:00.000Z',
    ]);
  });

  it('runs a 02:30 America/New_York daily at 03:00 EDT on the spring-forward day', () => {
    expect(ticks('30 2 * * *', 'America/New_York', '2026-03-07T12:00:00Z', 2)).toEqual([
      '2026-03-08T07:00:00.000Z',
      '2026-03-09T06:30:00.000Z',
    ]);
  });

  it('runs a 01:30 America/New_York daily once on the fall-back day, though 01:30 happens twice', () => {
    // 2026-11-01 02:00 EDT becomes 01:00 EST
    expect(ticks('30 1 * * *', 'America/New_York', '2026-10-31T12:00:00Z', 2)).toEqual([
      '2026-11-01T05:30:00.000Z', // the first 01:30 (EDT)
      '2026-11-02T06:30:00.000Z', // 01:30 EST
    ]);
  });

  it('reads 6 fields as seconds first', () => {
    expect(ticks('*/20 * * * * *', 'UTC', '2026-01-01T00:00:00Z', 3)).toEqual([
      '2026-01-01T00:00:20.000Z',
      '2026-01-01T00:00:40.000Z',
      '2026-01-01T00:01:00.000Z',
    ]);
  });
});

describe('parseCron', () => {
  const now = at('2026-06-01T00:00:00Z');
  it.each(['0 3 * * *', '*/5 * * * * *', '0 9 * * 1-5', '0 12 * * 5#2', '0 0 L * *', '15,45 8-18 * JAN-MAR MON'])('accepts %j', (cron) => {
    expect(parseCron(cron, 'UTC', now).cron).toBe(cron);
  });

  it.each([
    ['4 fields', '* * * *', /5-field/],
    ['7 fields (a year)', '0 0 0 1 1 * 2027', /5-field/],
    ['an empty string', '', /empty/],
    ['spaces only', '   ', /empty/],
    ['a minute of 60', '60 * * * *', /minute/],
    ['an hour of 24', '0 24 * * *', /hour/],
    ['a step of 0', '*/0 * * * *', /step/i],
    ['words', 'every day at noon', /5-field/],
    ['a nickname', '@daily', /nickname/],
    ['a "?"', '0 0 ? * *', /"\?"/],
    ['February 31st', '0 0 31 2 *', /never fires/],
    ['a newline', '0 3 * * *\n', /printable/],
    ['a NUL byte', '0 3 * * \u0000', /printable/],
    ['non-ASCII digits', '٠ 3 * * *', /printable/],
    ['a string over the limit', `0 3 * * ${'1,'.repeat(CRON_MAX_CHARS)}1`, /longer than/],
    ['a SQL injection', "0 3 * * *'; drop table schedules; --", /5-field/],
  ])('rejects %s with a ValidationError naming cron', (_what, cron, problem) => {
    expect(() => parseCron(cron, 'UTC', now)).toThrow(ValidationError);
    expect(() => parseCron(cron, 'UTC', now)).toThrow(/cron/);
    expect(() => parseCron(cron, 'UTC', now)).toThrow(problem);
  });

  it.each([[42], [null], [['0', '3']], [{}]])('rejects a cron that is not a string (%j)', (cron) => {
    expect(() => parseCron(cron, 'UTC', now)).toThrow(/cron must be a string/);
  });
});

describe('parseTimezone', () => {
  it('defaults to UTC and returns the canonical spelling', () => {
    expect(parseTimezone(undefined)).toBe('UTC');
    expect(parseTimezone('Europe/Berlin')).toBe('Europe/Berlin');
    expect(parseTimezone('europe/berlin')).toBe('Europe/Berlin');
    expect(parseTimezone('America/New_York')).toBe('America/New_York');
    expect(parseTimezone('Etc/GMT+5')).toBe('Etc/GMT+5');
  });

  it.each([
    ['an unknown zone', 'Mars/Olympus'],
    ['an offset', '+01:00'],
    ['an offset name', 'UTC+1'],
    ['a trailing space', 'Europe/Berlin '],
    ['an empty string', ''],
    ['a path', '../../etc/passwd'],
    ['a long name', `A${'a'.repeat(100)}`],
    ['a NUL byte', 'Europe/Berlin\u0000'],
    ['a number', 1],
    ['null', null],
  ])('rejects %s with a ValidationError naming timezone', (_what, tz) => {
    expect(() => parseTimezone(tz)).toThrow(ValidationError);
    expect(() => parseTimezone(tz)).toThrow(/timezone/);
  });
});

describe('resolveDueTicks (the missed-tick rule)', () => {
  const daily = compileCron('0 3 * * *', 'UTC');

  it('creates a tick less than one period late, skipping nothing', () => {
    const r = resolveDueTicks(daily, at('2026-06-01T03:00:00Z'), at('2026-06-01T20:00:00Z'));
    expect(r).toEqual({ runFor: [at('2026-06-01T03:00:00Z')], skipped: 0, next: at('2026-06-02T03:00:00Z') });
  });

  it('after three periods down, creates only the latest tick and skips the three before it', () => {
    const r = resolveDueTicks(daily, at('2026-06-01T03:00:00Z'), at('2026-06-04T04:00:00Z'));
    expect(r).toEqual({ runFor: [at('2026-06-04T03:00:00Z')], skipped: 3, next: at('2026-06-05T03:00:00Z') });
  });

  it('counts a tick exactly one period late as skipped', () => {
    const r = resolveDueTicks(daily, at('2026-06-01T03:00:00Z'), at('2026-06-02T03:00:00Z'));
    expect(r).toMatchObject({ runFor: [at('2026-06-02T03:00:00Z')], skipped: 1 });
  });

  it(`jumps to the latest tick past ${SKIP_COUNT_STEPS} missed ones, estimating the count`, () => {
    const everySecond = compileCron('* * * * * *', 'UTC');
    const r = resolveDueTicks(everySecond, at('2026-06-01T00:00:00Z'), at('2026-06-01T01:00:00.500Z'));
    expect(r.runFor).toEqual([at('2026-06-01T01:00:00Z')]);
    expect(r.next).toEqual(at('2026-06-01T01:00:01Z'));
    expect(r.skipped).toBe(3600);
  });

  const everySecond = compileCron('* * * * * *', 'UTC');

  it('creates every tick that came while a tick loop ran, however late the round: a 1-second schedule reached 2.3 s late', () => {
    // The previous round looked at 00:00:00.9; this one runs at 00:00:03.2 instead of 00:00:01.
    const r = resolveDueTicks(everySecond, at('2026-06-01T00:00:01Z'), at('2026-06-01T00:00:03.200Z'), at('2026-06-01T00:00:00.900Z'));
    expect(r).toEqual({
      runFor: [at('2026-06-01T00:00:01Z'), at('2026-06-01T00:00:02Z'), at('2026-06-01T00:00:03Z')],
      skipped: 0,
      next: at('2026-06-01T00:00:04Z'),
    });
  });

  it('applies the missed-tick rule to the ticks before the loop ran, and creates those after', () => {
    // Down from 01:00 to 01:00:10 (due since 01:00:01); the first round at 01:00:10.5, the next at 01:00:12.7.
    const r = resolveDueTicks(everySecond, at('2026-06-01T01:00:01Z'), at('2026-06-01T01:00:12.700Z'), at('2026-06-01T01:00:10.500Z'));
    expect(r.runFor).toEqual([at('2026-06-01T01:00:11Z'), at('2026-06-01T01:00:12Z')]);
    expect(r.skipped).toBe(10);
    // Nothing watched yet (the due tick is the latest): the latest is created, as without a loop.
    const daily = compileCron('0 3 * * *', 'UTC');
    const d = resolveDueTicks(daily, at('2026-06-01T03:00:00Z'), at('2026-06-03T20:00:00Z'), at('2026-06-03T19:59:59Z'));
    expect(d).toMatchObject({ runFor: [at('2026-06-03T03:00:00Z')], skipped: 2 });
  });

  it(`creates at most ${MAX_TICKS_PER_ROUND} watched ticks in one round, the latest, and counts the rest as skipped`, () => {
    // A laptop suspended for an hour: the previous round was an hour ago.
    const r = resolveDueTicks(everySecond, at('2026-06-01T00:00:01Z'), at('2026-06-01T01:00:00.500Z'), at('2026-06-01T00:00:00.500Z'));
    expect(r.runFor).toHaveLength(MAX_TICKS_PER_ROUND);
    expect(r.runFor[0]).toEqual(at('2026-06-01T00:58:21Z'));
    expect(r.runFor.at(-1)).toEqual(at('2026-06-01T01:00:00Z'));
    expect(r.skipped).toBe(3600 - MAX_TICKS_PER_ROUND);
  });
});
