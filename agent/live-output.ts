/**
 * Live output, the agent's side (docs/api.md, "Live output"): decodes each stream into the
 * stored text as the command writes it and sends what is new to POST /tasks/{id}/output, at most
 * every OUTPUT_FLUSH_MS while output flows and at once past OUTPUT_FLUSH_BYTES, each send bounded
 * by its JSON-encoded size. Text is kept until the server acknowledges it (the answer says how
 * many bytes of each stream it holds; a lost answer just means sending again from there), so a
 * failed send is retried, never dropped. Memory stays bounded: when the server falls far behind
 * (unreachable, or slower than the command), the middle of what is waiting is let go, as the
 * server would drop it anyway; the finish always carries the head-and-tail result.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { OUTPUT_BODY_LIMIT, OUTPUT_FLUSH_BYTES, OUTPUT_FLUSH_MS } from '../contract/http';
import { headTailBudgets } from '../contract/output-limit';
import { type OutputAck, type OutputSend, STREAMS, type StreamName } from '../contract/task';

/**
 * A stream's bytes decoded as the stored text, piece by piece: invalid UTF-8 and NUL become
 * U+FFFD, and a character split across pipe reads is held back until it is whole, so every
 * piece is whole characters and the pieces joined are what decoding the whole output gives.
 */
export class StoredTextDecoder {
  private readonly decoder = new TextDecoder('utf-8');

  write(chunk: Buffer): string {
    return this.decoder.decode(chunk, { stream: true }).replace(/\u0000/g, '\uFFFD');
  }

  /** The rest: an incomplete character at the very end becomes U+FFFD. */
  end(): string {
    return this.decoder.decode().replace(/\u0000/g, '\uFFFD');
  }
}

const isContinuation = (b: number | undefined) => b !== undefined && (b & 0xc0) === 0x80;
/** The last character boundary at or before `at` in valid UTF-8. */
function boundaryBefore(buf: Buffer, at: number): number {
  let i = Math.min(at, buf.length);
  while (i > 0 && i < buf.length && isContinuation(buf[i])) i--;
  return i;
}
/** The first character boundary at or after `at` in valid UTF-8. */
function boundaryAfter(buf: Buffer, at: number): number {
  let i = Math.max(0, at);
  while (i < buf.length && isContinuation(buf[i])) i++;
  return i;
}

/** A stretch of a stream waiting to be acknowledged, from byte `offset` of the stream. */
type Run = { offset: number; parts: Buffer[]; bytes: number };

const runEnd = (r: Run) => r.offset + r.bytes;
const flatten = (r: Run): Buffer => {
  if (r.parts.length > 1) r.parts = [Buffer.concat(r.parts)];
  return r.parts[0] ?? Buffer.alloc(0);
};

/** One stream's state: what the command wrote (in bytes of stored text), what waits, what the server holds. */
class StreamState {
  readonly decoder = new StoredTextDecoder();
  /** bytes of stored text written so far */
  total = 0;
  /** bytes the server said it holds */
  acked = 0;
  runs: Run[] = [];
  /** live sending of this stream gave up (the finish still carries it) */
  off = false;

  get pending(): number {
    let n = 0;
    for (const r of this.runs) n += r.bytes;
    return n;
  }

  add(text: string): void {
    if (text === '') return;
    const buf = Buffer.from(text);
    const start = this.total;
    this.total += buf.length;
    if (this.off) return;
    const last = this.runs[this.runs.length - 1];
    if (last && runEnd(last) === start) {
      last.parts.push(buf);
      last.bytes += buf.length;
    } else {
      this.runs.push({ offset: start, parts: [buf], bytes: buf.length });
    }
  }

  /** The server holds `held` bytes: drop what it has. */
  acknowledge(held: number): void {
    this.acked = Math.max(this.acked, held);
    while (this.runs.length > 0) {
      const first = this.runs[0] as Run;
      if (runEnd(first) <= held) {
        this.runs.shift();
        continue;
      }
      if (first.offset < held) {
        const buf = flatten(first);
        const cut = held - first.offset;
        first.parts = [buf.subarray(cut)];
        first.bytes -= cut;
        first.offset = held;
      }
      break;
    }
  }

  /**
   * Lets go of the middle of what waits once it passes `max` bytes: keeps what the server's head
   * still lacks (up to the first character boundary at or after `headEnd`) and the latest `keep`
   * bytes. The server takes a chunk past what it holds once its head is complete, and counts the
   * bytes between as omitted, as it does the middle it drops itself.
   */
  bound(max: number, headEnd: number, keep: number): boolean {
    if (this.pending <= max) return false;
    const kept: Run[] = [];
    for (const r of this.runs) {
      if (r.offset >= headEnd) break;
      const buf = flatten(r);
      const cut = boundaryAfter(buf, headEnd - r.offset);
      if (cut > 0) kept.push({ offset: r.offset, parts: [buf.subarray(0, cut)], bytes: cut });
      if (cut < buf.length) break;
    }
    const last = this.runs[this.runs.length - 1] as Run;
    const keptEnd = kept.length === 0 ? 0 : runEnd(kept[kept.length - 1] as Run);
    const buf = flatten(last);
    const from = boundaryAfter(buf, Math.max(buf.length - keep, keptEnd - last.offset));
    if (from < buf.length) kept.push({ offset: last.offset + from, parts: [buf.subarray(from)], bytes: buf.length - from });
    this.runs = kept;
    return true;
  }

  /** Up to `max` bytes from the first waiting run, cut at a character boundary. */
  take(max: number): { offset: number; data: string } | null {
    const first = this.runs[0];
    if (first === undefined || max <= 0) return null;
    const buf = flatten(first);
    const cut = boundaryBefore(buf, max);
    if (cut === 0) return null;
    return { offset: first.offset, data: buf.subarray(0, cut).toString('utf8') };
  }
}

export type LiveOutputOptions = {
  /** the task's output limit (pick's outputLimitBytes): the server keeps this much head and tail */
  limit: number;
  /** POST /tasks/{id}/output with the lease token; rejects with an ApiError-like { status, retryable } */
  send(body: OutputSend, signal?: AbortSignal): Promise<OutputAck>;
  /** a send was answered (cancel flag, lease extended, the server reachable) */
  onAck(ack: OutputAck): void;
  /** the server answered 409: the task is no longer this attempt's */
  onConflict(error: Error): void;
  /** a send failed and may succeed later: how long to wait before the next try (the agent's backoff) */
  onRetryableError(error: Error): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  log: Pick<Logger, 'warn' | 'debug'>;
  /** aborts sends in flight and waits (the agent's hard stop) */
  signal?: AbortSignal;
  flushMs?: number;
  flushBytes?: number;
  /** how long output may wait before its first send: a command that ends sooner never streams */
  firstDelayMs?: number;
  /** bytes waiting per stream past which the middle is let go */
  maxPendingBytes?: number;
  bodyLimit?: number;
};

export type LiveOutput = {
  /** What the command wrote to a stream (raw bytes, as the pipe gave them). */
  write(stream: StreamName, chunk: Buffer): void;
  /**
   * The command ended: sends what still waits (when anything was sent live at all, so a short
   * command costs no request) and resolves once it is acknowledged, or live output gave up.
   */
  finish(): Promise<void>;
  /** Stops sending at once (the task is over for this agent). */
  stop(): void;
  /** True once any send was acknowledged. */
  readonly streamed: boolean;
};

/** Room in a send's body for the JSON around the two texts. */
const BODY_OVERHEAD = 256;
/** Never cut a send below this much text, however a 413 insists. */
const MIN_SEND_BYTES = 1024;
/**
 * What may wait per stream before its middle is let go: 4 MiB, or the output limit when larger.
 * A send carries at most about 1 MiB; beyond a few sends' worth, waiting text is the middle the
 * server would drop anyway.
 */
const DEFAULT_MAX_PENDING = 4 * 1024 * 1024;
/** A command that ends within this never streams: the finish alone carries its output. */
const FIRST_DELAY_MS = 250;

type SendError = Error & { status?: number; retryable?: boolean };

/** Creates the live output of one task; nothing is sent until the command writes. */
export function createLiveOutput(opts: LiveOutputOptions): LiveOutput {
  const flushMs = opts.flushMs ?? OUTPUT_FLUSH_MS;
  const flushBytes = opts.flushBytes ?? OUTPUT_FLUSH_BYTES;
  const firstDelayMs = opts.firstDelayMs ?? FIRST_DELAY_MS;
  const maxPending = Math.max(opts.maxPendingBytes ?? DEFAULT_MAX_PENDING, opts.limit);
  const bodyLimit = opts.bodyLimit ?? OUTPUT_BODY_LIMIT;
  const { head: headEnd } = headTailBudgets(opts.limit);
  const keep = opts.limit - headEnd;
  const streams: Record<StreamName, StreamState> = { stdout: new StreamState(), stderr: new StreamState() };
  let stopped = false;
  let closing = false;
  let inFlight = false;
  let streamed = false;
  let lastSendAt = Number.NEGATIVE_INFINITY;
  let timer: NodeJS.Timeout | undefined;
  /** the largest text per stream a send takes; halved on each 413 */
  let takeMax = Math.floor((bodyLimit - BODY_OVERHEAD) / 2);
  let idle: (() => void) | null = null;
  let dropped = false;
  /** when the text that waits began to wait (after a quiet spell) */
  let firstWaitingAt = performance.now();

  const waiting = () => STREAMS.some((s) => !streams[s].off && streams[s].runs.length > 0);
  const settleIdle = () => {
    if (idle && (stopped || (!inFlight && !waiting()))) {
      const resolve = idle;
      idle = null;
      resolve();
    }
  };

  /** The body of the next send: each waiting stream's first text, as much as fits the body limit as JSON. */
  function nextBody(): OutputSend | null {
    const active = STREAMS.filter((s) => !streams[s].off && streams[s].runs.length > 0);
    if (active.length === 0) return null;
    // Room for the JSON around the texts comes off each stream's share, so plain text fits at once.
    let max = (active.length === 1 ? takeMax * 2 : takeMax) - BODY_OVERHEAD;
    for (;;) {
      const body: OutputSend = {};
      for (const s of active) {
        const chunk = streams[s].take(max);
        if (chunk) body[s] = chunk;
      }
      // Control characters grow sixfold as JSON (\u0001): measure the encoded body, not the text.
      if (Buffer.byteLength(JSON.stringify(body)) + BODY_OVERHEAD <= bodyLimit || max <= MIN_SEND_BYTES) return body;
      max = Math.max(MIN_SEND_BYTES, Math.floor(max / 2));
    }
  }

  function schedule(): void {
    if (stopped || inFlight || !waiting()) {
      settleIdle();
      return;
    }
    const now = performance.now();
    const pendingBytes = STREAMS.reduce((n, s) => n + (streams[s].off ? 0 : streams[s].pending), 0);
    // At once when closing or past the flush size; otherwise at most every flushMs, and the
    // first send after a quiet spell a moment later (a short command never streams).
    const delay = closing || pendingBytes >= flushBytes ? 0 : Math.max(firstWaitingAt + firstDelayMs - now, lastSendAt + flushMs - now, 0);
    if (delay <= 0) {
      void flush();
      return;
    }
    if (timer !== undefined) return;
    timer = setTimeout(() => {
      timer = undefined;
      void flush();
    }, delay);
  }

  async function flush(): Promise<void> {
    if (stopped || inFlight) return;
    clearTimeout(timer);
    timer = undefined;
    const body = nextBody();
    if (body === null) {
      settleIdle();
      return;
    }
    inFlight = true;
    lastSendAt = performance.now();
    try {
      const ack = await opts.send(body, opts.signal);
      streamed = true;
      for (const s of STREAMS) {
        const state = streams[s];
        const sent = body[s];
        if (state.off || sent === undefined) continue;
        state.acknowledge(ack[s]);
        // The server holds less than the text sent starts at and did not take it (it lost what
        // it held, or its head is not complete): what is missing is gone here, so this stream
        // stops streaming; the finish carries it.
        if (ack[s] < sent.offset) {
          state.off = true;
          state.runs = [];
          opts.log.warn('live output stopped: the server holds less than the agent still has', { stream: s, held: ack[s] });
        }
      }
      opts.onAck(ack);
    } catch (error) {
      const e = error as SendError;
      if (stopped || opts.signal?.aborted) {
        stopped = true;
      } else if (e.status === 409) {
        stopped = true;
        opts.onConflict(e);
      } else if (e.status === 413 && takeMax > MIN_SEND_BYTES) {
        takeMax = Math.max(MIN_SEND_BYTES, Math.floor(takeMax / 2));
      } else if (e.retryable === false || e.status === 413) {
        stopped = true;
        opts.log.warn('live output stopped: the server refused a send; the finish carries the output', { error: e.message });
      } else {
        await opts.sleep(opts.onRetryableError(e), opts.signal);
        if (opts.signal?.aborted) stopped = true;
      }
    } finally {
      inFlight = false;
    }
    schedule();
  }

  return {
    get streamed() {
      return streamed;
    },
    write(stream, chunk) {
      const state = streams[stream];
      if (stopped || state.off) return;
      const wasWaiting = waiting();
      state.add(state.decoder.write(chunk));
      if (!wasWaiting) firstWaitingAt = performance.now();
      if (state.bound(maxPending, headEnd, keep) && !dropped) {
        dropped = true;
        opts.log.warn('live output fell behind the command; the middle of what waited is let go', { stream, maxPending });
      }
      schedule();
    },
    async finish() {
      for (const s of STREAMS) if (!streams[s].off) streams[s].add(streams[s].decoder.end());
      clearTimeout(timer);
      timer = undefined;
      // Nothing was sent live yet: the finish alone carries the output, no request needed.
      if (!streamed && !inFlight) {
        stopped = true;
        return;
      }
      closing = true;
      const done = new Promise<void>((resolve) => {
        idle = resolve;
      });
      schedule();
      await done;
      stopped = true;
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
      timer = undefined;
      settleIdle();
    },
  };
}
