/**
 * The task resource and what the API answers, as users, agents, the CLI and the dashboard see
 * them (docs/api.md). Types and constants only: nothing here touches a database or the network.
 */

/** `scheduled`: waiting for its runAt (docs/api.md, Schedules), non-terminal, before queued. */
export const TASK_STATES = ['scheduled', 'queued', 'running', 'succeeded', 'failed', 'timed_out', 'canceled'] as const;
export type TaskState = (typeof TASK_STATES)[number];
export const TERMINAL_STATES = ['succeeded', 'failed', 'timed_out', 'canceled'] as const satisfies readonly TaskState[];
export type TerminalState = (typeof TERMINAL_STATES)[number];

/** True for a state that never changes again. */
export function isTerminal(state: TaskState): state is TerminalState {
  return (TERMINAL_STATES as readonly TaskState[]).includes(state);
}

/** The task resource (docs/api.md, "The task resource"). */
export type Task = {
  id: string;
  command: string;
  /** list items only: true when `command` was cut to LIST_COMMAND_MAX_CHARS (contract/http.ts) */
  commandTruncated?: boolean;
  state: TaskState;
  exitCode: number | null;
  /** absent in list items */
  stdout?: string;
  stderr?: string;
  outputTruncated: boolean;
  error: string | null;
  timeoutSeconds: number;
  agentId: string | null;
  cancelRequested: boolean;
  attempts: number;
  maxAttempts: number;
  /** higher is picked first (-1000..1000, default 0) */
  priority: number;
  /** sorted, deduplicated; only an agent with every one of them may run the task */
  labels: string[];
  /** when the task may run: its runAt, else its creation time */
  runAt: string;
  /** set on tasks made by a schedule's tick (docs/api.md, Schedules): the schedule (which may since be deleted) and the tick */
  scheduleId?: string;
  scheduledFor?: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** what the command's process tree used, as its agent measured it; null until it ended or where it could not be measured (absent in list items) */
  usage?: TaskUsage | null;
};

/** CPU seconds and peak memory of a command's whole process tree (docs/api.md, "usage"); a field is null where it was not measured. */
export type TaskUsage = {
  cpuUserSeconds: number | null;
  cpuSystemSeconds: number | null;
  /** the largest resident set of any one process of the tree, in bytes */
  maxRssBytes: number | null;
};

/** A page of GET /tasks. */
export type TaskPage = { tasks: Task[]; nextCursor: string | null };

/**
 * GET /tasks/summary: tasks per state, and the oldest queued task. A count that reached the
 * server's limit (`countLimit`) is reported as that limit and its state listed in `capped`.
 */
export type TaskOverview = {
  counts: Record<TaskState, number>;
  capped: TaskState[];
  countLimit: number;
  oldestQueuedAt: string | null;
  /** seconds since oldestQueuedAt by the server's clock; 0 when nothing is queued */
  oldestQueuedAgeSeconds: number;
};

/** What pick hands an agent: the task plus what it needs to hold and report it. */
export type PickedTask = Task & {
  leaseToken: string;
  leaseExpiresAt: string;
  heartbeatIntervalSeconds: number;
  outputLimitBytes: number;
};

/** The answer to a heartbeat. */
export type HeartbeatAnswer = { cancelRequested: boolean; leaseExpiresAt: string };

/** What an agent reports when a command ended (POST /tasks/{id}/finish). */
export type FinishBody = {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  outputTruncated?: boolean;
  state?: TerminalState;
  error?: string | null;
  /** measured by the agent; null or absent where it could not be */
  usage?: TaskUsage | null;
};

/** The two output streams of a command. */
export const STREAMS = ['stdout', 'stderr'] as const;
export type StreamName = (typeof STREAMS)[number];

/**
 * New text of one stream in an agent's output send: `data` starts at byte `offset` of the
 * stream's text as stored (UTF-8 bytes, invalid bytes and NUL already replaced by U+FFFD,
 * never a character split across sends).
 */
export type OutputChunk = { offset: number; data: string };

/** POST /tasks/{id}/output (the task's agent, with its lease token): new output of either or both streams. */
export type OutputSend = Partial<Record<StreamName, OutputChunk>>;

/**
 * The answer to an output send: how many bytes of each stream the server holds (a retried
 * send is idempotent; where the server holds less than was sent, the agent resends from its
 * figure), and the cancel flag and lease as a heartbeat gives them (a send extends the lease).
 */
export type OutputAck = Record<StreamName, number> & HeartbeatAnswer;

/** An agent as GET /agents shows it (docs/api.md, "Agents"). */
export const AGENT_STATES = ['idle', 'busy', 'gone'] as const;
export type AgentState = (typeof AGENT_STATES)[number];
export type Agent = {
  id: string;
  labels: string[];
  /** gone: not seen for LEASE_SECONDS, or it said it stopped */
  state: AgentState;
  /** the task it holds while busy, else null */
  taskId: string | null;
  lastSeenAt: string;
  /** tasks handed to it by pick */
  tasksRun: number;
};
export type AgentList = { agents: Agent[] };

/** Every 4xx/5xx body: RFC 9457 problem details. */
export type Problem = { type: string; title: string; status: number; detail: string };
