/**
 * `taskexec schedule add|ls|pause|resume|rm`: schedules (docs/api.md, Schedules) from the command line.
 * A schedule is named by its id or its name (a name is looked up in GET /schedules).
 */
import type { Schedule } from '../../contract/schedule';
import { ApiError } from '../client';
import { type Context, printJson } from '../context';
import { EXIT, UsageError } from '../errors';
import { cut, oneLine } from '../format';

export type ScheduleAddOptions = {
  timezone?: string;
  timeout?: number;
  priority?: number;
  label?: string[];
  paused?: boolean;
  json?: boolean;
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The server's 400 names what it refused (a bad cron, an unknown zone): the invocation is wrong. */
async function asUsage<T>(verb: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof ApiError && error.kind === 'problem' && error.status === 400) {
      throw new UsageError(error.message, `taskexec schedule ${verb}`);
    }
    throw error;
  }
}

/** The id of the schedule named by `ref`: itself when it is a UUID, else the schedule of that name. */
async function resolve(ctx: Context, ref: string): Promise<string> {
  if (UUID.test(ref)) return ref;
  const { list } = await ctx.client.listSchedules();
  const found = list.schedules.find((s) => s.name === ref);
  if (found === undefined)
    throw new UsageError(`no schedule is named ${JSON.stringify(ref)} (taskexec schedule ls lists them)`, 'taskexec schedule');
  return found.id;
}

const when = (iso: string | null) => (iso === null ? '-' : iso.replace('.000Z', 'Z'));

/** `schedule add NAME CRON COMMAND...` */
export async function scheduleAdd(ctx: Context, name: string, cron: string, words: string[], o: ScheduleAddOptions): Promise<number> {
  const labels = (o.label ?? [])
    .flatMap((l) => l.split(','))
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const s = await asUsage('add', () =>
    ctx.client.createSchedule({
      name,
      cron,
      command: words.join(' '),
      ...(o.timezone !== undefined ? { timezone: o.timezone } : {}),
      ...(o.timeout !== undefined ? { timeoutSeconds: o.timeout } : {}),
      ...(o.priority !== undefined ? { priority: o.priority } : {}),
      ...(labels.length > 0 ? { labels } : {}),
      ...(o.paused ? { paused: true } : {}),
    }),
  );
  if (o.json) printJson(ctx, s);
  else ctx.stdout.write(`${s.id}\n${s.paused ? 'paused' : `next run ${when(s.nextRunAt)}`}\n`);
  return EXIT.ok;
}

/** The schedules as a table: one line each, the command cut to the terminal's width. */
export function renderSchedules(schedules: Schedule[], width: number | null): string {
  const head = ['ID', 'NAME', 'CRON', 'TIMEZONE', 'NEXT RUN', 'LAST RUN', 'COMMAND'];
  const rows = schedules.map((s) => [
    s.id.slice(0, 8),
    s.name,
    s.cron,
    s.timezone,
    s.paused ? 'paused' : when(s.nextRunAt),
    when(s.lastRunAt),
    oneLine(s.command),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]) => {
    const text = cells.map((c, i) => (i < cells.length - 1 ? c.padEnd(widths[i] as number) : c)).join('  ');
    return width === null ? text : cut(text, width);
  };
  return `${[head, ...rows].map(line).join('\n')}\n`;
}

/** `schedule ls` */
export async function scheduleLs(ctx: Context, o: { json?: boolean }): Promise<number> {
  const { list, text } = await ctx.client.listSchedules();
  if (o.json) ctx.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  else if (list.schedules.length === 0) ctx.stdout.write('no schedules (taskexec schedule add NAME CRON COMMAND... makes one)\n');
  else ctx.stdout.write(renderSchedules(list.schedules, ctx.stdout.isTTY ? ctx.stdout.columns || 80 : null));
  if (list.truncated) ctx.stderr.write(`taskexec: only the first ${list.schedules.length} schedules by name are listed\n`);
  return EXIT.ok;
}

/** `schedule pause REF` and `schedule resume REF` */
export async function schedulePause(ctx: Context, ref: string, paused: boolean, o: { json?: boolean }): Promise<number> {
  const id = await resolve(ctx, ref);
  const s = await ctx.client.updateSchedule(id, { paused });
  if (o.json) printJson(ctx, s);
  else ctx.stdout.write(s.paused ? 'paused\n' : `resumed; next run ${when(s.nextRunAt)}\n`);
  return EXIT.ok;
}

/** `schedule rm REF` */
export async function scheduleRm(ctx: Context, ref: string): Promise<number> {
  const id = await resolve(ctx, ref);
  await ctx.client.deleteSchedule(id);
  ctx.stdout.write('deleted\n');
  return EXIT.ok;
}
