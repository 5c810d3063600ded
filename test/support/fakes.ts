/**
 * Fakes for unit tests of the handler cores: a database that answers the statements of
 * functions/shared/db/ (tasks.ts, leases.ts, output.ts) with rows the test scripts (so a test states what the database
 * holds and checks what the core decides), a log that keeps its lines, and a queue signal the
 * test wakes. The cores themselves are never replaced.
 */

import * as agentStatements from '../../functions/shared/db/agents';
import * as backlogStatements from '../../functions/shared/db/backlog';
import type { Db, Queryable } from '../../functions/shared/db/db';
import * as finishStatements from '../../functions/shared/db/finish';
import * as leaseStatements from '../../functions/shared/db/leases';
import * as metricStatements from '../../functions/shared/db/metrics';
import * as outputStatements from '../../functions/shared/db/output';
import * as retentionStatements from '../../functions/shared/db/retention';
import * as scheduledStatements from '../../functions/shared/db/scheduled';
import * as scheduleStatements from '../../functions/shared/db/schedules';
import * as taskStatements from '../../functions/shared/db/tasks';
import type { Log } from '../../functions/shared/logger';
import type { QueueSignal } from '../../functions/shared/queue-signal';

/** Every module of SQL functions; a new one under functions/shared/db/ is added here. */
const statements = {
  ...taskStatements,
  ...leaseStatements,
  ...outputStatements,
  ...backlogStatements,
  ...scheduledStatements,
  ...retentionStatements,
  ...agentStatements,
  ...metricStatements,
  ...finishStatements,
  ...scheduleStatements,
};

/** The SQL functions of those modules (toTask maps rows; it runs no statement). */
export type StatementName = Exclude<
  keyof typeof statements,
  'toTask' | 'toSchedule' | 'QUEUED_CHANNEL' | 'OUTPUT_CHANNEL' | 'queuedPayloadSql' | 'AGENTS_LIST_LIMIT' | 'GAUGE_COUNT_LIMIT'
>;

type Rows = readonly object[];
/** The rows a statement answers: always the same, or from its parameters and how often it ran before. */
export type Answer = Rows | ((params: readonly unknown[], call: number) => Rows);

export type Call = { statement: StatementName; params: unknown[] };
export type FakeDb = Db & { readonly calls: Call[]; callsOf(statement: StatementName): unknown[][] };

let named: Promise<Map<string, StatementName>> | undefined;

/** The text of each statement of those modules, captured once by calling its function against a recorder. */
function statementTexts(): Promise<Map<string, StatementName>> {
  named ??= (async () => {
    const byText = new Map<string, StatementName>();
    for (const [name, fn] of Object.entries(statements)) {
      if (typeof fn !== 'function' || name === 'toTask' || name === 'toSchedule' || name === 'queuedPayloadSql') continue;
      let text: string | undefined;
      const recorder: Queryable = {
        query: async <R>(sql: string) => {
          text = sql;
          return [] as R[];
        },
      };
      // Every statement function takes (q, request, ...lists); empty ones are enough to make it speak.
      await (fn as (q: Queryable, ...args: unknown[]) => Promise<unknown>)(recorder, {}, [], []).catch(() => {});
      if (text !== undefined) byText.set(text, name as StatementName);
    }
    return byText;
  })();
  return named;
}

/**
 * A Db answering each statement of those modules with `answers[statement]`; any other statement
 * (or one the test did not script) fails the core's call, naming it.
 */
export function fakeDb(answers: Partial<Record<StatementName, Answer>>): FakeDb {
  const calls: Call[] = [];
  const query = async <R>(text: string, params: readonly unknown[] = []): Promise<R[]> => {
    const statement = (await statementTexts()).get(text);
    if (statement === undefined) throw new Error(`fakeDb: a statement that is not in functions/shared/db/: ${text.slice(0, 120)}`);
    const answer = answers[statement];
    if (answer === undefined) throw new Error(`fakeDb: ${statement} was not expected by this test`);
    const before = calls.filter((c) => c.statement === statement).length;
    calls.push({ statement, params: [...params] });
    return [...(typeof answer === 'function' ? answer(params, before) : answer)] as R[];
  };
  return {
    kind: 'embedded',
    query,
    calls,
    callsOf: (statement) => calls.filter((c) => c.statement === statement).map((c) => c.params),
    tx: (fn) => fn({ query }),
    exec: async () => {
      throw new Error('fakeDb: exec is not for the cores');
    },
    listen: async () => {
      throw new Error('fakeDb: listen is not for the cores');
    },
    close: async () => {},
  };
}

export type LogLine = { level: 'debug' | 'info' | 'warn' | 'error'; message: string; extra?: Record<string, unknown> };

/** A Log that keeps every line (with the keys appended so far) for the test to read. */
export function recordingLog(): Log & { lines: LogLine[]; keys: Record<string, unknown> } {
  const lines: LogLine[] = [];
  const keys: Record<string, unknown> = {};
  const at =
    (level: LogLine['level']) =>
    (message: string, extra?: Record<string, unknown>): void => {
      lines.push(extra === undefined ? { level, message } : { level, message, extra });
    };
  return {
    lines,
    keys,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    appendKeys: (more) => {
      Object.assign(keys, more);
    },
  };
}

/**
 * A queue signal the test drives: waiters wait until wake() (true), their abort signal or
 * close() (false); the wait's own timeout is not modelled, the test decides.
 */
export function manualSignal(): QueueSignal & { wake(): void; waiting(): number } {
  let generation = 0;
  const waiters = new Set<(woken: boolean) => void>();
  return {
    generation: () => generation,
    wait(_ms, since, abort) {
      if (abort?.aborted) return Promise.resolve(false);
      if (since !== generation) return Promise.resolve(true);
      return new Promise((resolve) => {
        const done = (woken: boolean) => {
          waiters.delete(done);
          resolve(woken);
        };
        waiters.add(done);
        abort?.addEventListener('abort', () => done(false), { once: true });
      });
    },
    wake() {
      generation += 1;
      for (const w of [...waiters]) w(true);
    },
    waiting: () => waiters.size,
    async close() {
      for (const w of [...waiters]) w(false);
    },
    // Every pick claims first here.
    foundNothing() {},
    handOn() {},
    agentFinished() {},
    nothingQueuedFor: () => false,
  };
}
