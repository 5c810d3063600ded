/**
 * What `ls` and `show` print for people. Pure: tasks and the time in, text out.
 */
import type { Task } from '../contract/task';
import { cut, displayLength, formatAge, formatDuration, oneLine } from './format';

const GAP = '  ';
/** The command column never gets narrower than this, even when the terminal is (the row wraps instead). */
const MIN_COMMAND_WIDTH = 12;

const ms = (iso: string | null) => (iso === null ? null : Date.parse(iso));

/** How long the task ran: to its end, or so far while running; null before it started. */
export function runDuration(task: Pick<Task, 'startedAt' | 'finishedAt'>, now: number): number | null {
  const started = ms(task.startedAt);
  if (started === null) return null;
  return (ms(task.finishedAt) ?? now) - started;
}

/**
 * The `ls` table, newest first as given. With `width` (a terminal's columns) the command is cut
 * so each row fits; without (output is not a terminal) it is whole, escaped to one line.
 */
export function renderTable(tasks: Task[], now: number, width: number | null): string {
  const header = ['ID', 'STATE', 'EXIT', 'CREATED', 'DURATION', 'COMMAND'];
  const rows = tasks.map((t) => {
    const d = runDuration(t, now);
    return [
      t.id,
      t.state,
      t.exitCode === null ? '-' : String(t.exitCode),
      formatAge(now - Date.parse(t.createdAt)),
      d === null ? '-' : formatDuration(d),
      oneLine(t.command),
    ];
  });
  const fixed = header.length - 1;
  const widths = header.slice(0, fixed).map((h, i) => Math.max(displayLength(h), ...rows.map((r) => displayLength(r[i] as string))));
  const commandWidth = width === null ? null : Math.max(MIN_COMMAND_WIDTH, width - widths.reduce((a, w) => a + w + GAP.length, 0));
  const line = (cells: string[]) => {
    const left = cells.slice(0, fixed).map((c, i) => c + ' '.repeat((widths[i] as number) - displayLength(c)));
    const command = cells[fixed] as string;
    return [...left, commandWidth === null ? command : cut(command, commandWidth)].join(GAP).trimEnd();
  };
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

/** An ISO timestamp with how long ago it was, or '-'. */
function when(iso: string | null, now: number): string {
  return iso === null ? '-' : `${iso} (${formatAge(now - Date.parse(iso))})`;
}

/** `show`: one field per line, then the output of each stream under its own heading. */
export function renderTask(task: Task, now: number): string {
  const d = runDuration(task, now);
  const queuedFor = task.startedAt !== null ? Date.parse(task.startedAt) - Date.parse(task.createdAt) : null;
  const fields: Array<[string, string]> = [
    ['id', task.id],
    // Keeps a heredoc's lines, indented under the field; other control characters are escaped.
    ['command', task.command.split('\n').map(oneLine).join('\n             ')],
    ['state', task.cancelRequested && task.state === 'running' ? 'running (cancel requested)' : task.state],
    ['exit code', task.exitCode === null ? '-' : String(task.exitCode)],
    ['error', task.error === null ? '-' : oneLine(task.error)],
    ['agent', task.agentId ?? '-'],
    ['attempts', `${task.attempts} of ${task.maxAttempts}`],
    ['timeout', formatDuration(task.timeoutSeconds * 1000)],
    ['priority', String(task.priority ?? 0)],
    ['labels', task.labels && task.labels.length > 0 ? task.labels.join(',') : '-'],
    ['created', when(task.createdAt, now)],
    ...(task.runAt && task.runAt !== task.createdAt ? [['run at', when(task.runAt, now)] as [string, string]] : []),
    ['started', when(task.startedAt, now)],
    ['finished', when(task.finishedAt, now)],
    ['queued for', queuedFor === null ? '-' : formatDuration(queuedFor)],
    ['ran for', d === null ? '-' : `${formatDuration(d)}${task.finishedAt === null ? ' so far' : ''}`],
  ];
  const out = fields.map(([k, v]) => `${k.padEnd(11)}  ${v}`);
  for (const stream of ['stdout', 'stderr'] as const) {
    const text = task[stream] ?? '';
    out.push(`--- ${stream}${text === '' ? ' (empty)' : ''}${task.outputTruncated ? ' (the middle of long output is cut)' : ''} ---`);
    if (text !== '') out.push(text.replace(/\n$/, ''));
  }
  return `${out.join('\n')}\n`;
}
