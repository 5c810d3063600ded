/**
 * Live output, the pure part (docs/architecture.md, "Live output"): which part of a send the
 * server appends, how chunks are split at the head boundary, and how a stream is read back from
 * its chunks or from its final text. Offsets are bytes of the stream's stored text (UTF-8); no
 * I/O here.
 */
import { headTailBudgets, omissionMarker } from '../../contract/output-limit';
import type { OutputChunk, StreamName } from '../../contract/task';

const isContinuation = (b: number | undefined) => b !== undefined && (b & 0xc0) === 0x80;

/** The first character boundary at or after `at` (valid UTF-8: a boundary is any non-continuation byte). */
function boundaryAtOrAfter(buf: Buffer, at: number): number {
  let i = Math.max(0, at);
  while (i < buf.length && isContinuation(buf[i])) i++;
  return i;
}

/** The last character boundary at or before `at`. */
function boundaryAtOrBefore(buf: Buffer, at: number): number {
  let i = Math.min(buf.length, at);
  while (i > 0 && i < buf.length && isContinuation(buf[i])) i--;
  return i;
}

/**
 * How a stream's storage is laid out for an output limit: chunks starting before `headEnd`
 * are the head, kept for good; the rest is the rolling tail, of which the chunks reaching into
 * the last `tailKeep` bytes are kept. `tailKeep` is what the agent's capture keeps of a tail
 * (limit minus head), so nothing is dropped before the stream passes the limit.
 */
export function storageLayout(limit: number): { headEnd: number; tailKeep: number; tailShown: number } {
  const { head, tail } = headTailBudgets(limit);
  return { headEnd: head, tailKeep: limit - head, tailShown: tail };
}

export type Appended = { start: number; data: string; end: number };

/**
 * The part of a sent chunk the server appends to a stream holding `held` bytes. A chunk that
 * starts at or before `held` and reaches beyond it: the part past `held` (a retried send is
 * thereby idempotent). A chunk that starts past `held`, once the head (`headEnd` bytes) is
 * complete: all of it, where it starts; the bytes between count as omitted, like the middle the
 * server drops itself (an agent that fell far behind lets its waiting middle go). Null when
 * nothing is to be appended: a repeat, a gap within the head, or a cut that would split a
 * character (the agent resends from the figure it is answered).
 */
export function planAppend(held: number, chunk: OutputChunk, headEnd: number): Appended | null {
  const bytes = Buffer.byteLength(chunk.data);
  if (chunk.offset > held)
    return held >= headEnd && bytes > 0 ? { start: chunk.offset, data: chunk.data, end: chunk.offset + bytes } : null;
  if (chunk.offset + bytes <= held) return null;
  const skip = held - chunk.offset;
  if (skip === 0) return { start: held, data: chunk.data, end: held + bytes };
  const buf = Buffer.from(chunk.data);
  if (isContinuation(buf[skip])) return null;
  return { start: held, data: buf.subarray(skip).toString('utf8'), end: held + bytes - skip };
}

export type ChunkRow = { stream: StreamName; start_offset: string; data: string };

/**
 * The rows an appended piece is stored as: split at the first character boundary at or after
 * `headEnd` when it straddles it, so every row is wholly head (starts before headEnd, is never
 * deleted) or wholly tail (may be deleted once it falls out of the rolling tail).
 */
export function toChunkRows(stream: StreamName, piece: Appended, headEnd: number): ChunkRow[] {
  if (piece.start >= headEnd || piece.end <= headEnd) return [{ stream, start_offset: String(piece.start), data: piece.data }];
  const buf = Buffer.from(piece.data);
  const cut = boundaryAtOrAfter(buf, headEnd - piece.start);
  const rows: ChunkRow[] = [{ stream, start_offset: String(piece.start), data: buf.subarray(0, cut).toString('utf8') }];
  if (cut < buf.length) rows.push({ stream, start_offset: String(piece.start + cut), data: buf.subarray(cut).toString('utf8') });
  return rows;
}

/** A stretch of a stream's logical byte space and the text that stands for it. */
type Segment = { start: number; bytes: Buffer };

export type ReadResult = { body: string; next: number };

/**
 * Reads segments (sorted, non-overlapping) from `offset`: the text of each, and where bytes
 * between them are missing (the omitted middle), a marker line counting them from where the
 * reader stands. At most `maxBytes` of text, cut at a character boundary. `gapMarker` may name
 * the marker to use for a gap read from its start (a final text's own marker).
 */
function readSegments(
  segments: readonly Segment[],
  offset: number,
  maxBytes: number,
  gapMarker: (from: number, to: number) => string = (from, to) => omissionMarker(to - from),
): ReadResult {
  const parts: Buffer[] = [];
  let size = 0;
  let pos = offset;
  for (const seg of segments) {
    const end = seg.start + seg.bytes.length;
    if (end <= pos) continue;
    if (seg.start > pos) {
      const marker = Buffer.from(gapMarker(pos, seg.start));
      if (size + marker.length > maxBytes) break;
      parts.push(marker);
      size += marker.length;
      pos = seg.start;
    }
    const from = boundaryAtOrAfter(seg.bytes, pos - seg.start);
    const to = boundaryAtOrBefore(seg.bytes, from + (maxBytes - size));
    if (to <= from) {
      if (from >= seg.bytes.length) {
        pos = end;
        continue;
      }
      break;
    }
    parts.push(seg.bytes.subarray(from, to));
    size += to - from;
    pos = seg.start + to;
    if (to < seg.bytes.length) break;
  }
  return { body: Buffer.concat(parts).toString('utf8'), next: pos };
}

/** Reads a stream from its live chunks (a running task, or one that ended without a finish). */
export function readChunks(chunks: readonly { start_offset: string; data: string }[], offset: number, maxBytes: number): ReadResult {
  const segments = chunks.map((c) => ({ start: Number(c.start_offset), bytes: Buffer.from(c.data) }));
  const read = readSegments(segments, offset, maxBytes);
  return { body: read.body, next: Math.max(read.next, offset) };
}

const MARKER = /\n\[\.\.\. \d+ bytes omitted \.\.\.\]\n/g;

/**
 * Where the omission marker of a cut final text sits, in bytes: the one a head-and-tail cut of
 * `limit` put there (starting within the head budget and ending within the tail budget of the
 * end), so a marker-like line the command printed itself is not taken for it.
 */
function findCutMarker(text: string, limit: number): { at: number; length: number; text: string } | null {
  const { head, tail } = headTailBudgets(limit);
  const total = Buffer.byteLength(text);
  const found = [...text.matchAll(MARKER)].map((m) => {
    const at = Buffer.byteLength(text.slice(0, m.index));
    return { at, length: Buffer.byteLength(m[0]), text: m[0] };
  });
  return found.find((m) => m.at <= head && m.at + m.length >= total - tail) ?? found.filter((m) => m.at <= head).pop() ?? found[0] ?? null;
}

export type FinalRead = ReadResult & { end: number };

/**
 * Reads a stream of a task that ended with a finish, from its final text. Its logical length
 * is the final text's own when the server held no more than that live (nothing was cut while
 * readers followed it): a reader who streamed from 0 then reads on exactly to its end. When more
 * was held live than the final text holds (the middle was cut), the final text's tail is placed
 * at the end of what was held and its head at 0, so a reader anywhere continues where it was:
 * in the head it reads the rest of the final text, in the omitted middle a marker then the tail.
 */
export function readFinal(final: string, held: number, offset: number, maxBytes: number, limit: number): FinalRead {
  const bytes = Buffer.from(final);
  if (held <= bytes.length) {
    const read = readSegments([{ start: 0, bytes }], offset, maxBytes);
    return { ...read, next: Math.max(read.next, offset), end: bytes.length };
  }
  const marker = findCutMarker(final, limit);
  const headLen = marker?.at ?? 0;
  const tail = bytes.subarray(marker ? marker.at + marker.length : 0);
  const tailStart = held - tail.length;
  const segments = [...(headLen > 0 ? [{ start: 0, bytes: bytes.subarray(0, headLen) }] : []), { start: tailStart, bytes: tail }];
  // A reader arriving at the gap from the head gets the final text's own marker: read from 0,
  // the whole final text comes back as GET /tasks/{id} shows it.
  const read = readSegments(segments, offset, maxBytes, (from, to) =>
    marker && from === headLen ? marker.text : omissionMarker(to - from),
  );
  return { ...read, next: Math.max(read.next, offset), end: held };
}

/**
 * A running task's stream as GET /tasks/{id} shows it: whole while it is within `limit`,
 * else its head, the marker line and the latest tail, as the final cap would keep them.
 */
export function renderLive(
  chunks: readonly { start_offset: string; data: string }[],
  held: number,
  limit: number,
): { text: string; truncated: boolean } {
  if (chunks.length === 0) return { text: '', truncated: false };
  if (held <= limit) return { text: readChunks(chunks, 0, Number.MAX_SAFE_INTEGER).body, truncated: false };
  const { headEnd, tailShown } = storageLayout(limit);
  const segments = chunks.map((c) => ({ start: Number(c.start_offset), bytes: Buffer.from(c.data) }));
  const head = segments.filter((s) => s.start < headEnd);
  const headBytes = head.length === 0 ? 0 : (head[head.length - 1] as Segment).start + (head[head.length - 1] as Segment).bytes.length;
  const tailSegments = segments.filter((s) => s.start >= headEnd);
  // The tail from the first character boundary at or after held - tailShown, and after the last
  // gap an agent left (so one marker stands for everything omitted).
  let tailFrom = held - tailShown;
  for (let i = 1; i < tailSegments.length; i++) {
    const prev = tailSegments[i - 1] as Segment;
    const seg = tailSegments[i] as Segment;
    if (seg.start > prev.start + prev.bytes.length) tailFrom = Math.max(tailFrom, seg.start);
  }
  const headText = readSegments(head, 0, Number.MAX_SAFE_INTEGER).body;
  const tailRead = readSegments(
    tailSegments.filter((s) => s.start + s.bytes.length > tailFrom),
    tailFrom,
    Number.MAX_SAFE_INTEGER,
    () => '',
  );
  const tailBytes = Buffer.byteLength(tailRead.body);
  return { text: headText + omissionMarker(held - tailBytes - headBytes) + tailRead.body, truncated: true };
}
