/**
 * The terminal side of following a task: the task's output goes to stdout and stderr as it
 * arrives, and on a terminal one status line on stderr (a spinner, the state, the elapsed time)
 * is redrawn in place while the task is silent. Without a terminal on stderr nothing of it is
 * ever written.
 *
 * No flicker: a redraw is one write of `\r` + the new text + "erase to the end of the line", so
 * the old text is overwritten in place, never blanked first; it happens only when the text
 * changed (at most once per spinner frame). The line is erased before any task output, and is
 * drawn only when the cursor is at the start of a line (after a newline, or before any output),
 * so it never overwrites or splits a line the task is still writing.
 */
import { once } from 'node:events';
import { cut, formatElapsed } from './format';

/** What the screen writes to: process.stdout / process.stderr, or a test's stand-in. */
export type OutStream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
/** 10 frames a second: a smooth spinner at about 20 bytes per frame. */
export const FRAME_MS = 100;
/** Shown only after this much silence, so a task that answers at once leaves no trace of it. */
export const QUIET_MS = 300;
const ERASE = '\r\x1b[K';

export type Status = { label: string; since: number; hint?: string };

/** The status line's text for a frame: spinner, state, elapsed, hint. */
export function statusText(status: Status, now: number, frame: number): string {
  const hint = status.hint ? `  ${status.hint}` : '';
  return `${FRAMES[frame % FRAMES.length]} ${status.label} ${formatElapsed(now - status.since)}${hint}`;
}

/** Task output and the status line, kept from interleaving. */
export class Screen {
  private status: Status | null = null;
  private drawn = '';
  private frame = 0;
  private atLineStart = true;
  private lastOutputAt = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly out: OutStream,
    private readonly err: OutStream,
    /** false when stderr is not a terminal (or TERM=dumb): then no status byte is ever written */
    readonly statusEnabled: boolean,
    private readonly now: () => number = Date.now,
  ) {}

  /** Sets what the status line says; it is drawn on the next frame once the task has been quiet for QUIET_MS. */
  setStatus(status: Status | null): void {
    this.status = status;
    if (!this.statusEnabled) return;
    if (status === null) {
      this.erase();
      return;
    }
    if (this.timer === null) {
      this.timer = setInterval(() => this.draw(), FRAME_MS);
      // Never what keeps the process alive.
      this.timer.unref();
    }
  }

  /** Writes task output to its stream, erasing the status line first; resolves once the stream took it. */
  async write(stream: 'stdout' | 'stderr', chunk: Buffer): Promise<void> {
    if (chunk.length === 0) return;
    const target = stream === 'stdout' ? this.out : this.err;
    if (target.isTTY) {
      this.erase();
      this.atLineStart = chunk[chunk.length - 1] === 0x0a;
      this.lastOutputAt = this.now();
    }
    if (!target.write(chunk)) await once(target, 'drain');
  }

  /** Writes a line of the CLI's own on stderr (status line erased first). */
  note(line: string): void {
    this.erase();
    this.err.write(`${line}\n`);
    this.atLineStart = true;
  }

  /** Removes the status line from the screen, if it is there. */
  erase(): void {
    if (this.drawn === '') return;
    this.err.write(ERASE);
    this.drawn = '';
  }

  /** Erases the status line and stops redrawing it. */
  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.status = null;
    this.erase();
  }

  private draw(): void {
    const status = this.status;
    if (status === null || !this.atLineStart) return;
    const now = this.now();
    if (now - this.lastOutputAt < QUIET_MS) return;
    // One column short of the width: a line that fills the last column wraps on some terminals
    // and could then not be redrawn with \r.
    const width = Math.max(10, (this.err.columns || 80) - 1);
    const text = cut(statusText(status, now, this.frame++), width);
    if (text === this.drawn) return;
    this.err.write(`\r${text}\x1b[K`);
    this.drawn = text;
  }
}
