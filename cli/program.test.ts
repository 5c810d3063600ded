import type { Context } from './context';
import { UsageError } from './errors';
import { parseArgs } from './program';

function sink() {
  let text = '';
  return { write: (s: string) => (text += s), text: () => text };
}

/** A context whose client records what run would create (a detached run needs nothing else). */
function creatingContext(created: unknown[]) {
  const stdout = sink();
  const createTask = async (body: unknown) => {
    created.push(body);
    return { id: 'the-id' };
  };
  const ctx = {
    client: { createTask },
    stdout,
    stderr: sink(),
    config: { dumbTerminal: false },
    clock: { now: Date.now },
  } as unknown as Context;
  return { ctx, stdout };
}

/** Parses and returns what parsing decided, or the usage error it threw. */
function parse(argv: string[]) {
  const out = sink();
  const err = sink();
  try {
    return { parsed: parseArgs(argv, out, err), out: out.text(), err: err.text() };
  } catch (error) {
    return { error: error as UsageError, out: out.text(), err: err.text() };
  }
}

describe('parseArgs', () => {
  it('joins the words of run with spaces, options after the first word included, and hands over the connection flags', async () => {
    const r = parse(['--url', 'http://a:1', 'run', '--timeout', '5', '--detach', 'echo', '-n', '--json', 'hi']);
    expect(r.parsed).toMatchObject({ connection: { url: 'http://a:1', token: undefined } });
    const created: unknown[] = [];
    const { ctx, stdout } = creatingContext(created);
    const parsed = r.parsed as { action(ctx: Context): Promise<number> };
    expect(await parsed.action(ctx)).toBe(0);
    expect(created).toEqual([{ command: 'echo -n --json hi', timeoutSeconds: 5, maxAttempts: undefined }]);
    expect(stdout.text()).toBe('the-id\n');
  });

  it('takes everything after -- as the command', async () => {
    const r = parse(['run', '--detach', '--', '--timeout', '5']);
    const created: unknown[] = [];
    const { ctx } = creatingContext(created);
    await (r.parsed as { action(ctx: Context): Promise<number> }).action(ctx);
    expect(created).toEqual([{ command: '--timeout 5', timeoutSeconds: undefined, maxAttempts: undefined }]);
  });

  it('sends --priority (negative too), every --label and --at with the task', async () => {
    const r = parse(['run', '--priority', '-5', '--label', 'gpu', '--label', 'linux,x', '--at', '2027-01-01T09:00:00Z', '-d', 'true']);
    const created: unknown[] = [];
    const { ctx } = creatingContext(created);
    await (r.parsed as { action(ctx: Context): Promise<number> }).action(ctx);
    expect(created).toEqual([{ command: 'true', priority: -5, labels: ['gpu', 'linux', 'x'], runAt: '2027-01-01T09:00:00Z' }]);
  });

  it('takes --url and --token after the verb too', () => {
    expect(parse(['ls', '--url', 'http://b:2', '--token', 't']).parsed).toMatchObject({ connection: { url: 'http://b:2', token: 't' } });
  });

  it('prints help on stdout and asks for exit 0', () => {
    const r = parse(['--help']);
    expect(r.parsed).toEqual({ exitCode: 0 });
    expect(r.out).toContain('Usage: taskexec');
    expect(r.out).toContain('TASKEXEC_URL');
  });

  it('prints the help on stderr and asks for exit 2 when no verb is given', () => {
    const r = parse([]);
    expect(r.parsed).toEqual({ exitCode: 2 });
    expect(r.err).toContain('Usage: taskexec');
    expect(r.out).toBe('');
  });

  it.each([
    [['nope'], "unknown command 'nope'", 'taskexec'],
    [['lss'], 'Did you mean ls?', 'taskexec'],
    [['run'], "missing required argument 'command'", 'taskexec run'],
    [['run', '--timeout', 'abc', 'x'], 'Expected a whole number from 1 to 86400', 'taskexec run'],
    [['run', '--timeout', '86401', 'x'], 'Expected a whole number from 1 to 86400', 'taskexec run'],
    [['run', '--max-attempts', '0', 'x'], 'Expected a whole number of at least 1', 'taskexec run'],
    [['run', '--priority', '1001', 'x'], 'Expected a whole number from -1000 to 1000', 'taskexec run'],
    [['run', '--priority', '1.5', 'x'], 'Expected a whole number from -1000 to 1000', 'taskexec run'],
    [['ls', '--limit', '0'], 'Expected a whole number from 1 to 1000', 'taskexec ls'],
    [['ls', '--bogus'], "unknown option '--bogus'", 'taskexec ls'],
    [['show'], "missing required argument 'id'", 'taskexec show'],
    [['show', 'a', 'b'], 'too many arguments', 'taskexec show'],
    [['logs', '-x', 'a'], "unknown option '-x'", 'taskexec logs'],
  ])('refuses %j as a usage error on one line naming the help to read', (argv, message, helpCommand) => {
    const r = parse(argv);
    expect(r.error).toBeInstanceOf(UsageError);
    expect(r.error?.exitCode).toBe(2);
    expect(r.error?.message).toContain(message);
    expect(r.error?.message).not.toContain('\n');
    expect(r.error?.helpCommand).toBe(helpCommand);
    expect(r.out + r.err).toBe('');
  });
});
