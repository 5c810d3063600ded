/**
 * The head-and-tail output cap of the task resource (docs/api.md, "Output"), shared by the
 * agent (while the command runs) and the server (on what a finish carries). Pure: no I/O.
 */

/** Room kept for the marker line, which is far shorter than this. */
const MARKER_RESERVE = 100;
const MAX_SHRINK_ROUNDS = 8;

/**
 * How a cut stream's `limit` bytes are shared: `head` bytes of its beginning, `tail` bytes of its
 * end, and room for the marker. The server's live storage keeps the same head and tail.
 */
export function headTailBudgets(limit: number): { head: number; tail: number } {
  const head = Math.floor((limit - MARKER_RESERVE) / 2);
  return { head, tail: limit - MARKER_RESERVE - head };
}

/** The line put between head and tail when a stream was cut. */
export function omissionMarker(omittedBytes: number): string {
  return `\n[... ${omittedBytes} bytes omitted ...]\n`;
}

/**
 * Decodes bytes as the stored text: invalid UTF-8 becomes U+FFFD, and so does NUL, which
 * PostgreSQL text cannot hold (22021). Never throws, never drops the rest.
 */
export function toStoredText(raw: Buffer): string {
  return raw.toString('utf8').replace(/\u0000/g, '\uFFFD');
}

const isContinuation = (b: number | undefined) => b !== undefined && (b & 0xc0) === 0x80;

/** Cut point at or before `end` that does not split a UTF-8 sequence. */
function headCut(raw: Buffer, end: number): number {
  let cut = Math.min(end, raw.length);
  for (let i = 0; i < 3 && cut > 0 && isContinuation(raw[cut]); i++) cut--;
  return cut;
}

/** Length of a stream's kept head without the UTF-8 sequence its end cuts short (its rest was dropped). */
function completeHead(head: Buffer): number {
  for (let back = 1; back <= Math.min(3, head.length); back++) {
    const b = head[head.length - back] as number;
    if (isContinuation(b)) continue;
    const needed = b >= 0xf0 && b < 0xf8 ? 4 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xc0 && b < 0xe0 ? 2 : 1;
    return needed > back ? head.length - back : head.length;
  }
  return head.length;
}

/** Start point at or after `start` that does not split a UTF-8 sequence. */
function tailStart(raw: Buffer, start: number): number {
  let s = Math.max(0, start);
  for (let i = 0; i < 3 && s < raw.length && isContinuation(raw[s]); i++) s++;
  return s;
}

export type CappedText = { text: string; truncated: boolean };

/**
 * Caps an output held as head bytes + tail bytes (the middle already dropped, `total` the
 * real size) to `limit` bytes of stored text, marker included.
 */
function capParts(head: Buffer, tail: Buffer, total: number, limit: number): CappedText {
  const kept = head.length + tail.length;
  if (kept === total) {
    const whole = kept === head.length ? head : Buffer.concat([head, tail]);
    const text = toStoredText(whole);
    if (Buffer.byteLength(text) <= limit) return { text, truncated: false };
  }
  const all = kept === total ? Buffer.concat([head, tail]) : null;
  const { head: headBudget, tail: tailBudget } = headTailBudgets(limit);
  // Raw slices first; then shrink them while their decoded text (which grows where bytes are
  // invalid) exceeds its budget, so the marker can count omitted bytes of the real output.
  // Without the whole output, the byte after the head is gone: cut by the head's own last sequence.
  let headRaw = all ? all.subarray(0, headCut(all, headBudget)) : head.subarray(0, completeHead(head.subarray(0, headBudget)));
  const tailSource = all ?? tail;
  let tailRaw = tailSource.subarray(tailStart(tailSource, Math.max(all ? headRaw.length : 0, tailSource.length - tailBudget)));
  let headText = toStoredText(headRaw);
  let tailText = toStoredText(tailRaw);
  for (let i = 0; i < MAX_SHRINK_ROUNDS && Buffer.byteLength(headText) > headBudget; i++) {
    const ratio = headBudget / Buffer.byteLength(headText);
    headRaw = headRaw.subarray(0, headCut(headRaw, Math.floor(headRaw.length * ratio)));
    headText = toStoredText(headRaw);
  }
  for (let i = 0; i < MAX_SHRINK_ROUNDS && Buffer.byteLength(tailText) > tailBudget; i++) {
    const ratio = tailBudget / Buffer.byteLength(tailText);
    tailRaw = tailRaw.subarray(tailStart(tailRaw, tailRaw.length - Math.floor(tailRaw.length * ratio)));
    tailText = toStoredText(tailRaw);
  }
  const omitted = total - headRaw.length - tailRaw.length;
  return { text: headText + omissionMarker(omitted) + tailText, truncated: true };
}

/** Caps text already decoded (what a finish body carries); a no-op when it fits. */
export function capText(text: string, limit: number): CappedText {
  // Measured after replacing NUL: each one grows from 1 byte to 3 (U+FFFD).
  const stored = text.replace(/\u0000/g, '\uFFFD');
  if (Buffer.byteLength(stored) <= limit) return { text: stored, truncated: false };
  const raw = Buffer.from(text);
  return capParts(raw, Buffer.alloc(0), raw.length, limit);
}

/**
 * Collects a stream's bytes keeping only its head and its tail, so a command that writes
 * gigabytes costs at most `limit` bytes of memory.
 */
export class OutputCapture {
  private readonly headLimit: number;
  private readonly tailLimit: number;
  private readonly headChunks: Buffer[] = [];
  private headBytes = 0;
  private tailChunks: Buffer[] = [];
  private tailBytes = 0;
  private total = 0;

  constructor(private readonly limit: number) {
    this.headLimit = headTailBudgets(limit).head;
    this.tailLimit = limit - this.headLimit;
  }

  /** Bytes written so far, kept or not. */
  get totalBytes(): number {
    return this.total;
  }

  write(chunk: Buffer): void {
    this.total += chunk.length;
    let rest = chunk;
    if (this.headBytes < this.headLimit) {
      const take = Math.min(this.headLimit - this.headBytes, rest.length);
      this.headChunks.push(rest.subarray(0, take));
      this.headBytes += take;
      rest = rest.subarray(take);
    }
    if (rest.length === 0) return;
    if (rest.length >= this.tailLimit) {
      this.tailChunks = [Buffer.from(rest.subarray(rest.length - this.tailLimit))];
      this.tailBytes = this.tailLimit;
      return;
    }
    this.tailChunks.push(rest);
    this.tailBytes += rest.length;
    while (this.tailBytes > this.tailLimit) {
      const first = this.tailChunks[0] as Buffer;
      const excess = this.tailBytes - this.tailLimit;
      if (first.length <= excess) {
        this.tailChunks.shift();
        this.tailBytes -= first.length;
      } else {
        this.tailChunks[0] = first.subarray(excess);
        this.tailBytes -= excess;
      }
    }
  }

  /**
   * The stored text and whether anything was cut; `limit` may be smaller than the capture's own
   * (the agent cuts more where the JSON-escaped text would not fit the finish body).
   */
  finish(limit = this.limit): CappedText {
    return capParts(Buffer.concat(this.headChunks), Buffer.concat(this.tailChunks), this.total, Math.min(limit, this.limit));
  }
}
