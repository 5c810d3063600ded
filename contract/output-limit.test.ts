import { capText, OutputCapture, omissionMarker, toStoredText } from './output-limit';

const MARKER = /\n\[\.\.\. (\d+) bytes omitted \.\.\.\]\n/g;
const bytes = (s: string) => Buffer.byteLength(s);

/** Splits a capped text into head, omitted count and tail; fails unless there is exactly one marker. */
function splitAtMarker(text: string): { head: string; omitted: number; tail: string } {
  const markers = [...text.matchAll(MARKER)];
  expect(markers).toHaveLength(1);
  const m = markers[0] as RegExpMatchArray;
  const at = m.index as number;
  return { head: text.slice(0, at), omitted: Number(m[1]), tail: text.slice(at + m[0].length) };
}

/** A deterministic pseudo-random byte source (xorshift), so failures reproduce. */
function randomBytes(n: number, seed: number): Buffer {
  let x = seed;
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function captureInChunks(raw: Buffer, chunkSize: number, limit: number) {
  const capture = new OutputCapture(limit);
  for (let i = 0; i < raw.length; i += chunkSize) capture.write(raw.subarray(i, i + chunkSize));
  return capture;
}

const ascii = (n: number) => Array.from({ length: n }, (_, i) => String.fromCharCode(48 + (i % 75))).join('');
const SAMPLES: Record<string, string> = {
  ascii: ascii(5000),
  'two-byte': 'é'.repeat(3000),
  'three-byte': '€'.repeat(2000),
  'four-byte': '😀'.repeat(1500),
  mixed: 'aé€😀'.repeat(700),
};

describe('capText', () => {
  it('returns text under the limit unchanged and not truncated', () => {
    expect(capText('hello\nworld\n', 1024)).toEqual({ text: 'hello\nworld\n', truncated: false });
    expect(capText('', 1024)).toEqual({ text: '', truncated: false });
  });

  it('returns text of exactly the limit unchanged', () => {
    const text = 'x'.repeat(1024);
    expect(capText(text, 1024)).toEqual({ text, truncated: false });
  });

  it('keeps the head and the tail with one marker line counting the bytes left out', () => {
    const text = ascii(10000);
    const { text: capped, truncated } = capText(text, 2048);
    expect(truncated).toBe(true);
    expect(bytes(capped)).toBeLessThanOrEqual(2048);
    const { head, omitted, tail } = splitAtMarker(capped);
    expect(head.length).toBeGreaterThan(0);
    expect(tail.length).toBeGreaterThan(0);
    expect(text.startsWith(head)).toBe(true);
    expect(text.endsWith(tail)).toBe(true);
    expect(omitted).toBe(bytes(text) - bytes(head) - bytes(tail));
    expect(capped).toBe(head + omissionMarker(omitted) + tail);
  });

  it('stays within the limit for sizes just over it', () => {
    for (const size of [1025, 1100, 1500, 5000, 100000]) {
      const { text, truncated } = capText(ascii(size), 1024);
      expect(truncated).toBe(true);
      expect(bytes(text)).toBeLessThanOrEqual(1024);
    }
  });

  it.each(Object.entries(SAMPLES))('never splits a multibyte character (%s)', (_name, text) => {
    for (let limit = 1024; limit < 1032; limit++) {
      const { text: capped } = capText(text, limit);
      expect(bytes(capped)).toBeLessThanOrEqual(limit);
      expect(capped).not.toContain('\uFFFD');
      const { head, omitted, tail } = splitAtMarker(capped);
      expect(text.startsWith(head)).toBe(true);
      expect(text.endsWith(tail)).toBe(true);
      expect(omitted).toBe(bytes(text) - bytes(head) - bytes(tail));
    }
  });

  it('replaces NUL with U+FFFD', () => {
    expect(capText('a\u0000b', 1024)).toEqual({ text: 'a\uFFFDb', truncated: false });
  });

  it('stays within the limit when replacing NUL makes the text longer', () => {
    // Each NUL (1 byte) becomes U+FFFD (3 bytes): 1000 NULs fit the limit as bytes, not as stored text.
    const { text, truncated } = capText('\u0000'.repeat(1000), 1024);
    expect(bytes(text)).toBeLessThanOrEqual(1024);
    expect(truncated).toBe(true);
    expect(text).not.toContain('\u0000');
  });

  it('is idempotent', () => {
    const inputs = [...Object.values(SAMPLES), 'short', '\u0000'.repeat(3000), `${'\u0000'.repeat(500)}tail`];
    for (const input of inputs) {
      const once = capText(input, 1024);
      const twice = capText(once.text, 1024);
      expect(twice.text).toBe(once.text);
    }
  });
});

describe('toStoredText', () => {
  it('turns invalid UTF-8 and NUL into U+FFFD and keeps the rest', () => {
    expect(toStoredText(Buffer.from([0x61, 0xff, 0x62, 0x00, 0x63, 0xc3]))).toBe('a\uFFFDb\uFFFDc\uFFFD');
  });

  it('keeps valid UTF-8 as it is', () => {
    expect(toStoredText(Buffer.from('hé € 😀\n'))).toBe('hé € 😀\n');
  });
});

describe('OutputCapture', () => {
  it('returns short output whole and not truncated', () => {
    const capture = new OutputCapture(1024);
    capture.write(Buffer.from('hello '));
    capture.write(Buffer.from('world\n'));
    expect(capture.finish()).toEqual({ text: 'hello world\n', truncated: false });
    expect(capture.totalBytes).toBe(12);
  });

  it('counts every byte written, kept or not', () => {
    const capture = captureInChunks(Buffer.alloc(100000, 0x61), 999, 2048);
    expect(capture.totalBytes).toBe(100000);
  });

  it.each([1, 7, 64, 1000, 100000])('equals capText of the whole output when fed chunks of %i bytes', (chunkSize) => {
    for (const [name, text] of Object.entries({ ...SAMPLES, short: 'aé€😀'.repeat(50), exact: 'y'.repeat(2048) })) {
      for (const limit of [1024, 1025, 1026, 1027, 2048]) {
        const got = captureInChunks(Buffer.from(text), chunkSize, limit).finish();
        expect({ name, limit, ...got }).toEqual({ name, limit, ...capText(text, limit) });
      }
    }
  });

  it('turns invalid bytes and NUL into U+FFFD without losing the rest', () => {
    const capture = new OutputCapture(1024);
    capture.write(Buffer.from([0x6f, 0x6b, 0x00, 0xfe]));
    capture.write(Buffer.from(' done'));
    expect(capture.finish()).toEqual({ text: 'ok\uFFFD\uFFFD done', truncated: false });
  });

  it('stays within the limit on random bytes, however the invalid bytes grow when replaced', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const raw = randomBytes(5000 + seed * 97, seed * 7919);
      for (const limit of [1024, 1500]) {
        const { text, truncated } = captureInChunks(raw, 333, limit).finish();
        expect(truncated).toBe(true);
        expect(bytes(text)).toBeLessThanOrEqual(limit);
        expect(text).not.toContain('\u0000');
        const { omitted } = splitAtMarker(text);
        expect(omitted).toBeGreaterThan(0);
        expect(omitted).toBeLessThan(raw.length);
      }
    }
  });

  it('keeps within the limit when the whole output fits as bytes but not as stored text', () => {
    const { text, truncated } = captureInChunks(Buffer.alloc(1000, 0xff), 10, 1024).finish();
    expect(truncated).toBe(true);
    expect(bytes(text)).toBeLessThanOrEqual(1024);
  });
});
