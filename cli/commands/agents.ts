/** `taskexec agents [--json]`: the agents seen in the last 10 minutes (GET /agents), most recently seen first. */
import type { Agent } from '../../contract/task';
import type { Context } from '../context';
import { EXIT } from '../errors';
import { displayLength, formatAge, oneLine } from '../format';

const GAP = '  ';

/** The table: id, state, task, last seen, tasks run, labels. */
export function renderAgents(agents: readonly Agent[], now: number): string {
  if (agents.length === 0) return 'no agent seen in the last 10 minutes\n';
  const header = ['ID', 'STATE', 'TASK', 'SEEN', 'RUN', 'LABELS'];
  const rows = agents.map((a) => [
    oneLine(a.id),
    a.state,
    a.taskId ?? '-',
    formatAge(now - Date.parse(a.lastSeenAt)),
    String(a.tasksRun),
    a.labels.length > 0 ? a.labels.join(',') : '-',
  ]);
  const widths = header.map((h, i) => Math.max(displayLength(h), ...rows.map((r) => displayLength(r[i] as string))));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c + ' '.repeat((widths[i] as number) - displayLength(c)))
      .join(GAP)
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

/** Runs `agents`; resolves with the exit status. */
export async function agents(ctx: Context, opts: { json?: boolean }): Promise<number> {
  const { list, text } = await ctx.client.listAgents();
  ctx.stdout.write(opts.json ? `${text.trimEnd()}\n` : renderAgents(list.agents, ctx.clock.now()));
  return EXIT.ok;
}
