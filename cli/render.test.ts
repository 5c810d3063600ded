import type { Task } from '../contract/task';
import { renderTable, renderTask, runDuration } from './render';

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
