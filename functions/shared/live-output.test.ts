import fc from 'fast-check';
import { capText, omissionMarker } from '../../contract/output-limit';
import { type ChunkRow, planAppend, readChunks, readFinal, renderLive, storageLayout, toChunkRows } from './live-output';

const bytes = (s: string) => Buffer.byteLength(s);
const MARKER = /\n\[\.\.\. (\d+) bytes omitted \.\.\.\]\n/g;

/** The server's storage of one stream, in memory, following the same rules as the SQL. */
class Stored {
  rows: ChunkRow[] = [];
  held = 0;
  constructor(private readonly limit: number) {}

  send(offset: number, data: string): number {
    const { headEnd, tailKeep } = storageLayout(this.limit);
    const piece = planAppend(this.held, { offset, data }, headEnd);
    if (piece === null) return this.held;
    this.rows.push(...toChunkRows('stdout', piece, headEnd));
    this.held = piece.end;
    const cut = this.held - tailKeep;
    if (cut > headEnd) {
      this.rows = this.rows.filter((r) => {
        const start = Number(r.start_offset);
        return !(start >= headEnd && start < cut && start + bytes(r.data) <= cut);
      });
    }
    return this.held;
  }

  storedBytes(): number {
    return this.rows.reduce((n, r) => n + bytes(r.data), 0);
  }
}

/** Text drawn from ASCII, multi-byte characters, control characters and U+FFFD. */
const textArb = fc
  .array(fc.oneof(fc.constantFrom('a', 'é', '€', '😀', '\n', '\u0001', '\uFFFD'), fc.string({ maxLength: 30 })), { maxLength: 400 })
  .map((parts) => parts.join('').replace(/\u0000/g, '\uFFFD'));

/** Splits text into pieces of whole characters. */
function split(text: string, sizes: number[]): string[] {
  const chars = [...text];
  const out: string[] = [];
  let i = 0;
  for (let k = 0; i < chars.length; k++) {
    const n = Math.max(1, sizes[k % sizes.length] ?? 1);
    out.push(chars.slice(i, i + n).join(''));
    i += n;
  }
  return out;
}

describe('planAppend', () => {
  it('appends a chunk that starts at what is held', () => {
    expect(planAppend(3, { offset: 3, data: 'def' }, 100)).toEqual({ start: 3, data: 'def', end: 6 });
  });

  it('appends only the part of an overlapping chunk past what is held', () => {
    expect(planAppend(3, { offset: 1, data: 'bcdef' }, 100)).toEqual({ start: 3, data: 'def', end: 6 });
  });

  it('appends nothing for a repeat, a gap within the head, or a cut inside a character', () => {
    expect(planAppend(3, { offset: 0, data: 'abc' }, 100)).toBeNull();
    expect(planAppend(3, { offset: 4, data: 'x' }, 100)).toBeNull();
    expect(planAppend(3, { offset: 2, data: '€' }, 100)).toBeNull();
  });

  it('appends a chunk past what is held where it starts once the head is complete', () => {
    expect(planAppend(120, { offset: 500, data: 'late' }, 100)).toEqual({ start: 500, data: 'late', end: 504 });
    expect(planAppend(120, { offset: 500, data: '' }, 100)).toBeNull();
  });
});

describe('toChunkRows', () => {
  it('splits a piece straddling the head boundary at the first character boundary after it', () => {
    expect(toChunkRows('stdout', { start: 8, data: 'ab€cd', end: 15 }, 11)).toEqual([
      { stream: 'stdout', start_offset: '8', data: 'ab€' },
      { stream: 'stdout', start_offset: '13', data: 'cd' },
    ]);
  });

  it('keeps a piece wholly on one side as one row', () => {
    expect(toChunkRows('stderr', { start: 0, data: 'abc', end: 3 }, 10)).toHaveLength(1);
    expect(toChunkRows('stderr', { start: 10, data: 'abc', end: 13 }, 10)).toHaveLength(1);
  });
});

describe('live storage and reading', () => {
  it('gives a reader who keeps up every byte exactly once, holds at most the limit plus one send, and shows at most the limit', () => {
    fc.assert(
      fc.property(
        textArb,
        fc.array(fc.integer({ min: 1, max: 60 }), { minLength: 1, maxLength: 5 }),
        fc.constantFrom(1024, 1100, 2048),
        fc.boolean(),
        (text, sizes, limit, retry) => {
          const store = new Stored(limit);
          let read = '';
          let offset = 0;
          let biggest = 0;
          for (const piece of split(text, sizes)) {
            const held = store.held;
            store.send(held, piece);
            // a retried send (the answer was lost) appends nothing more
            if (retry) expect(store.send(held, piece)).toBe(held + bytes(piece));
            biggest = Math.max(biggest, bytes(piece));
            const r = readChunks(store.rows, offset, 1024 * 1024);
            read += r.body;
            offset = r.next;
          }
          expect(store.held).toBe(bytes(text));
          expect(read).toBe(text);
          expect(store.storedBytes()).toBeLessThanOrEqual(limit + biggest + 3);
          const shown = renderLive(store.rows, store.held, limit);
          expect(bytes(shown.text)).toBeLessThanOrEqual(limit);
          if (!shown.truncated) expect(shown.text).toBe(text);
          else {
            const markers = [...shown.text.matchAll(MARKER)];
            const m = markers[markers.length - 1] as RegExpExecArray;
            const head = shown.text.slice(0, m.index);
            const tail = shown.text.slice((m.index as number) + m[0].length);
            expect(text.startsWith(head)).toBe(true);
            expect(text.endsWith(tail)).toBe(true);
            expect(Number(m[1])).toBe(bytes(text) - bytes(head) - bytes(tail));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('gives a late reader the head, one marker counting what it missed, and the tail', () => {
    fc.assert(
      fc.property(textArb, fc.integer({ min: 1, max: 50 }), (text, size) => {
        const limit = 1024;
        const store = new Stored(limit);
        for (const piece of split(text, [size])) store.send(store.held, piece);
        let got = '';
        let offset = 0;
        for (;;) {
          const r = readChunks(store.rows, offset, 1024 * 1024);
          if (r.next === offset) break;
          got += r.body;
          offset = r.next;
        }
        expect(offset).toBe(bytes(text));
        if (bytes(text) <= limit) expect(got).toBe(text);
        if (got === text) return;
        const markers = [...got.matchAll(MARKER)];
        expect(markers).toHaveLength(1);
        const m = markers[0] as RegExpExecArray;
        const head = got.slice(0, m.index);
        const tail = got.slice((m.index as number) + m[0].length);
        expect(text.startsWith(head)).toBe(true);
        expect(text.endsWith(tail)).toBe(true);
        expect(Number(m[1])).toBe(bytes(text) - bytes(head) - bytes(tail));
      }),
      { numRuns: 200 },
    );
  });

  it('bounds a read to maxBytes without splitting a character, and continues from X-Next-Offset', () => {
    const store = new Stored(1 << 20);
    store.send(0, '€'.repeat(100));
    let got = '';
    let offset = 0;
    for (let i = 0; i < 200 && offset < 300; i++) {
      const r = readChunks(store.rows, offset, 10);
      expect(bytes(r.body)).toBeLessThanOrEqual(10);
      expect(r.body).not.toContain('\uFFFD');
      got += r.body;
      offset = r.next;
    }
    expect(got).toBe('€'.repeat(100));
  });

  it('reads from inside a character from the next one', () => {
    const store = new Stored(1 << 20);
    store.send(0, 'a€b');
    expect(readChunks(store.rows, 2, 100)).toEqual({ body: 'b', next: 5 });
  });
});

describe('readFinal', () => {
  it('reads an uncut final text from the offset to its end', () => {
    expect(readFinal('hello world', 5, 6, 100, 1024)).toEqual({ body: 'world', next: 11, end: 11 });
    expect(readFinal('hello', 5, 9, 100, 1024)).toEqual({ body: '', next: 9, end: 5 });
  });

  it('places a cut final text so a reader from 0 gets it whole and a reader in the tail gets the rest', () => {
    const all = Array.from({ length: 1000 }, (_, i) => `line ${i}\n`).join('');
    const final = capText(all, 1024).text;
    const held = bytes(all);
    const fromZero = readFinal(final, held, 0, 1 << 20, 1024);
    expect(fromZero).toEqual({ body: final, next: held, end: held });
    expect(readFinal(final, held, held - 9, 1 << 20, 1024).body).toBe(all.slice(-9));
    const middle = readFinal(final, held, 2000, 1 << 20, 1024);
    const tail = final.slice(final.lastIndexOf('...]\n') + 5);
    expect(middle.body).toBe(omissionMarker(held - bytes(tail) - 2000) + tail);
  });

  it('is not fooled by a marker-like line the command printed in its head', () => {
    const fake = omissionMarker(7);
    const all = `${fake}${'x'.repeat(5000)}end\n`;
    const final = capText(all, 1024).text;
    const held = bytes(all);
    expect(readFinal(final, held, held - 4, 1 << 20, 1024).body).toBe('end\n');
  });
});
