/**
 * Small pure formatters for people: durations, ages and one-line cells. No I/O.
 */

const pad2 = (n: number) => String(n).padStart(2, '0');

/** A duration as people read it: 850ms, 4.2s, 37s, 4m05s, 2h03m, 3d04h. Negative counts as 0. */
export function formatDuration(ms: number): string {
  const t = Math.max(0, Math.floor(ms));
  if (t < 1000) return `${t}ms`;
  if (t < 10000) return `${(Math.floor(t / 100) / 10).toFixed(1)}s`;
  const s = Math.floor(t / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${pad2(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${pad2(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86400)}d${pad2(Math.floor((s % 86400) / 3600))}h`;
}

/** Elapsed time for the status line, whole seconds so it changes once a second: 0s, 59s, 1m05s. */
export function formatElapsed(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  return formatDuration(s * 1000);
}

/** How long ago, for tables: 12s ago, 5m ago, 3h ago, 4d ago (a clock ahead of ours counts as now). */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

const ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * Text made safe for one table cell: newlines, tabs and every other control character are
 * shown escaped, so a command can neither break a row nor send escape sequences to the terminal.
 */
export function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => ESCAPES[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Text cut to at most `width` characters (code points), ending in an ellipsis when cut. */
export function cut(text: string, width: number): string {
  const chars = [...text];
  if (chars.length <= width) return text;
  if (width <= 0) return '';
  return `${chars.slice(0, width - 1).join('')}…`;
}

/** The display length of a cell: code points (wide East Asian characters count as one; a known approximation). */
export function displayLength(text: string): number {
  return [...text].length;
}
