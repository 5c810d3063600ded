import {
  canonicalLabels,
  DEFAULT_LIST_LIMIT,
  LIST_COMMAND_MAX_CHARS,
  LIST_PAGE_MAX_BYTES,
  labelProblem,
  MAX_LIST_LIMIT,
} from '../../contract/http';
import { TASK_STATES, type TaskState } from '../../contract/task';
import { selectTaskPage } from '../shared/db/tasks';
import type { Deps } from '../shared/deps';
import { ValidationError } from '../shared/errors';
import { type Event, nameSome, queryParams, rejectUnknownParams, singleParam } from '../shared/http';

export type ListTasksInput = {
  states: TaskState[] | null;
  /** ?label= (comma-separated or repeated): only tasks holding every one; null: any */
  labels?: string[] | null;
  beforeSeq: string | null;
  limit: number;
};

/** The opaque cursor: the seq of the last task of the page, versioned and base64url'd. */
export function encodeCursor(seq: string): string {
  return Buffer.from(`v1:${seq}`).toString('base64url');
}

/** Reads a cursor back; anything that is not one of ours is a 400, never a SQL error. */
export function decodeCursor(cursor: string): string {
  const text = /^[A-Za-z0-9_-]{1,40}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const match = /^v1:([1-9]\d{0,17})$/.exec(text);
  // Base64 decoding ignores stray low bits: only the exact encoding of a value counts as issued.
  if (!match?.[1] || encodeCursor(match[1]) !== cursor) {
    throw new ValidationError('The cursor is not one this server issued; pass nextCursor from the previous page unchanged.');
  }
  return match[1];
}

/** Validates a GET /tasks query. */
export function parseListTasksRequest(event: Event): ListTasksInput {
  const params = queryParams(event);
  rejectUnknownParams(params, ['state', 'limit', 'cursor', 'label']);
  let states: TaskState[] | null = null;
  const stateValues = params.get('state');
  if (stateValues !== undefined) {
    const wanted = stateValues.flatMap((v) => v.split(',')).map((s) => s.trim());
    const bad = wanted.filter((s) => !(TASK_STATES as readonly string[]).includes(s));
    if (bad.length > 0 || wanted.length === 0) {
      throw new ValidationError(
        `Unknown state ${bad.length > 0 ? nameSome(bad, 30) : '""'}; use one or more of ${TASK_STATES.join(', ')}.`,
      );
    }
    states = [...new Set(wanted)] as TaskState[];
  }
  const limitText = singleParam(params, 'limit');
  let limit = DEFAULT_LIST_LIMIT;
  if (limitText !== undefined) {
    if (!/^\d{1,7}$/.test(limitText) || Number(limitText) < 1 || Number(limitText) > MAX_LIST_LIMIT) {
      throw new ValidationError(
        `limit must be a whole number from 1 to ${MAX_LIST_LIMIT} (got ${JSON.stringify(limitText.slice(0, 30))}).`,
      );
    }
    limit = Number(limitText);
  }
  let labels: string[] | null = null;
  const labelValues = params.get('label');
  if (labelValues !== undefined) {
    const wanted = labelValues.flatMap((v) => v.split(',')).map((l) => l.trim());
    const problem = labelProblem(wanted);
    if (problem !== null) throw new ValidationError(`label: ${problem}.`);
    labels = canonicalLabels(wanted);
  }
  const cursor = singleParam(params, 'cursor');
  return { states, labels, limit, beforeSeq: cursor === undefined ? null : decodeCursor(cursor) };
}

/**
 * One page of tasks (a TaskPage as JSON text), newest first, without their output, commands cut
 * to LIST_COMMAND_MAX_CHARS. The page ends at `limit` tasks or before its JSON would pass
 * LIST_PAGE_MAX_BYTES, whichever comes first (always at least one task); nextCursor continues
 * after its last task. The database writes each task's JSON (db/tasks.ts), so the page is only
 * joined here.
 */
export async function listTasks(deps: Pick<Deps, 'db'>, input: ListTasksInput, maxBytes = LIST_PAGE_MAX_BYTES): Promise<string> {
  const rows = await selectTaskPage(deps.db, { ...input, commandMaxChars: LIST_COMMAND_MAX_CHARS });
  const tasks: string[] = [];
  // {"tasks":[],"nextCursor":"<at most 40>"} and a comma per task
  let bytes = 64;
  let last: (typeof rows)[number] | undefined;
  for (const row of rows.slice(0, input.limit)) {
    const size = Buffer.byteLength(row.json) + 1;
    if (tasks.length > 0 && bytes + size > maxBytes) break;
    bytes += size;
    tasks.push(row.json);
    last = row;
  }
  const more = rows.length > tasks.length;
  const nextCursor = more && last !== undefined ? encodeCursor(last.seq) : null;
  return `{"tasks":[${tasks.join(',')}],"nextCursor":${JSON.stringify(nextCursor)}}`;
}
