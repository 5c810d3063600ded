import type { Task } from '../contract/task';
import { renderAgents } from './commands/agents';
import { formatUsage, renderTable, renderTask, runDuration } from './render';

const NOW = Date.parse('2026-12-01T10:00:00.000Z');

function buildTask(overrides: Partial<Task> = {}): Task {
  return {
    id: '0b8a3c52-8d2e-4f55-9a53-6f0f1a6a2d11',
    command: 'echo hello',
    state: 'succeeded',
    exitCode: 0,
    outputTruncated: false,
    error: null,
    timeoutSeconds: 3600,
    agentId: 'agent-1',
    cancelRequested: false,
    attempts: 1,
    maxAttempts: 1,
    priority: 0,
    labels: [],
    runAt: '2026-12-01T09:59:00.000Z',
    createdAt: '2026-12-01T09:59:00.000Z',
    startedAt: '2026-12-01T09:59:00.120Z',
    finishedAt: '2026-12-01T09:59:04.370Z',
    ...overrides,
  };
}

describe('renderTable', () => {
  const tasks = [
    buildTask({
      id: 'a'.repeat(36),
      state: 'running',
      exitCode: null,
      finishedAt: null,
      command: 'sleep 100',
      startedAt: '2026-12-01T09:59:30.000Z',
    }),
    buildTask({ id: 'b'.repeat(36), state: 'failed', exitCode: 3, command: 'exit 3' }),
    buildTask({
      id: 'c'.repeat(36),
      state: 'queued',
      exitCode: null,
      startedAt: null,
      finishedAt: null,
      createdAt: '2026-12-01T07:00:00.000Z',
    }),
  ];

  it('prints a header and one aligned row per task in the order given', () => {
    expect(renderTable(tasks, NOW, null)).toBe(
      [
        'ID                                    STATE    EXIT  CREATED  DURATION  COMMAND',
        `${'a'.repeat(36)}  running  -     1m ago   30s       sleep 100`,
        `${'b'.repeat(36)}  failed   3     1m ago   4.2s      exit 3`,
        `${'c'.repeat(36)}  queued   -     3h ago   -         echo hello`,
        '',
      ].join('\n'),
    );
  });

  it('cuts the command so every row fits the width it is given', () => {
    const long = buildTask({ command: `echo ${'x'.repeat(200)}` });
    const lines = renderTable([long], NOW, 100).trimEnd().split('\n');
    for (const line of lines) expect([...line].length).toBeLessThanOrEqual(100);
    expect(lines[1]).toMatch(/ echo x+…$/);
  });

  it('keeps the whole command without a width (not a terminal)', () => {
    const command = `echo ${'x'.repeat(300)}`;
    expect(renderTable([buildTask({ command })], NOW, null)).toContain(command);
  });

  it('keeps each task on one line whatever its command holds', () => {
    const out = renderTable([buildTask({ command: "cat <<'EOF'\nhi\nEOF\n\u001b[31m" })], NOW, null);
    expect(out.trimEnd().split('\n')).toHaveLength(2);
    expect(out).toContain("cat <<'EOF'\\nhi\\nEOF\\n\\x1b[31m");
  });

  it('prints the header alone for no tasks', () => {
    expect(renderTable([], NOW, 80)).toBe('ID  STATE  EXIT  CREATED  DURATION  COMMAND\n');
  });
});

describe('runDuration', () => {
  it('is null before the start, to the end once ended, and so far while running', () => {
    expect(runDuration({ startedAt: null, finishedAt: null }, NOW)).toBeNull();
    expect(runDuration({ startedAt: '2026-12-01T09:59:00.000Z', finishedAt: '2026-12-01T09:59:02.500Z' }, NOW)).toBe(2500);
    expect(runDuration({ startedAt: '2026-12-01T09:59:00.000Z', finishedAt: null }, NOW)).toBe(60000);
  });
});

describe('renderTask', () => {
  it('prints every field on its own line, then stdout and stderr under their headings', () => {
    const out = renderTask(buildTask({ stdout: 'hello\n', stderr: '' }), NOW);
    expect(out).toBe(
      [
        'id           0b8a3c52-8d2e-4f55-9a53-6f0f1a6a2d11',
        'command      echo hello',
        'state        succeeded',
        'exit code    0',
        'error        -',
        'agent        agent-1',
        'attempts     1 of 1',
        'timeout      1h00m',
        'priority     0',
        'labels       -',
        'created      2026-12-01T09:59:00.000Z (1m ago)',
        'started      2026-12-01T09:59:00.120Z (59s ago)',
        'finished     2026-12-01T09:59:04.370Z (55s ago)',
        'queued for   120ms',
        'ran for      4.2s',
        '--- stdout ---',
        'hello',
        '--- stderr (empty) ---',
        '',
      ].join('\n'),
    );
  });

  it('says when a running task was asked to cancel, and that output was cut', () => {
    const out = renderTask(
      buildTask({
        state: 'running',
        cancelRequested: true,
        exitCode: null,
        startedAt: '2026-12-01T09:59:00.000Z',
        finishedAt: null,
        outputTruncated: true,
        stdout: 'a',
        stderr: 'b',
      }),
      NOW,
    );
    expect(out).toContain('state        running (cancel requested)');
    expect(out).toContain('ran for      1m00s so far');
    expect(out).toContain('--- stdout (the middle of long output is cut) ---\na\n');
  });

  it('keeps the lines of a multi-line command, indented under the field', () => {
    expect(renderTask(buildTask({ command: 'echo a\necho b' }), NOW)).toContain('command      echo a\n             echo b\n');
  });
});

describe('renderAgents and formatUsage', () => {
  const now = Date.parse('2026-11-28T10:00:10.000Z');
  it('lists agents with their state, task, age, tasks run and labels, and says so when there are none', () => {
    const text = renderAgents(
      [
        {
          id: 'build-1',
          labels: ['gpu', 'linux'],
          state: 'busy',
          taskId: 'e193bd22-e3e7-4906-8cf1-ab2ea321cbe6',
          lastSeenAt: '2026-11-28T10:00:08.000Z',
          tasksRun: 12,
        },
        { id: 'build-2', labels: [], state: 'gone', taskId: null, lastSeenAt: '2026-11-28T09:58:10.000Z', tasksRun: 3 },
      ],
      now,
    );
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+STATE\s+TASK\s+SEEN\s+RUN\s+LABELS$/);
    expect(lines[1]).toMatch(/^build-1\s+busy\s+e193bd22-e3e7-4906-8cf1-ab2ea321cbe6\s+\S+.*\s+12\s+gpu,linux$/);
    expect(lines[2]).toMatch(/^build-2\s+gone\s+-\s+.*\s+3\s+-$/);
    expect(renderAgents([], now)).toBe('no agent seen in the last 10 minutes\n');
  });

  it('writes usage as cpu seconds and peak MiB, leaving out what was not measured', () => {
    expect(formatUsage({ cpuUserSeconds: 0.314, cpuSystemSeconds: 0.02, maxRssBytes: 54525952 })).toBe(
      'cpu 0.31s user 0.02s system, peak 52.0 MiB',
    );
    expect(formatUsage({ cpuUserSeconds: null, cpuSystemSeconds: null, maxRssBytes: 1048576 })).toBe('peak 1.0 MiB');
  });
});
