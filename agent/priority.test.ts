/**
 * yieldCpu in real processes: every thread takes the niceness, and so do the threads it starts
 * later and the commands it runs (Linux keeps a nice value per thread); a session leader sets its
 * autogroup's nice too, anyone else leaves the group it shares alone.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..');
const parse = (stdout: string) => JSON.parse(stdout.trim().split('\n').pop() as string);
const run = (script: string) => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 30000 });
  if (r.status !== 0) throw new Error(`exit ${r.status}: ${r.stderr}`);
  return parse(r.stdout);
};
/** The same, as the leader of a session of its own (as npm start starts its local agents: detached). */
const runDetached = (script: string): Promise<Record<string, unknown>> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', script], {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c;
    });
    child.stderr.on('data', (c: Buffer) => {
      err += c;
    });
    child.once('exit', (code) => (code === 0 ? resolve(parse(out)) : reject(new Error(`exit ${code}: ${err}`))));
  });
const AUTOGROUPS = existsSync('/proc/self/autogroup');
const GROUP = `const group = () => { try { return Number(/nice (-?\\d+)/.exec(require('node:fs').readFileSync('/proc/self/autogroup', 'utf8'))[1]); } catch { return null; } };`;

const PROBE = `
const { readdirSync, readFileSync } = require('node:fs');
const { execFileSync } = require('node:child_process');
const { Worker } = require('node:worker_threads');
const { yieldCpu } = require('./agent/priority');
const niceOf = (tid) => Number(readFileSync('/proc/self/task/' + tid + '/stat', 'utf8').split(') ')[1].split(' ')[16]);
const before = readdirSync('/proc/self/task');
yieldCpu(Number(process.argv[1] ?? NICE)).then((result) => {
const worker = new Worker('setTimeout(() => {}, 200)', { eval: true });
worker.on('online', () => {
  const threads = readdirSync('/proc/self/task');
  const child = execFileSync('/bin/sh', ['-c', 'cut -d" " -f19 /proc/self/stat'], { encoding: 'utf8' }).trim();
  console.log(JSON.stringify({ result, before: before.length, threads: threads.map(niceOf), child: Number(child), after: threads.length }));
  worker.terminate();
});
});
`;

describe('yieldCpu', () => {
  it('sets the niceness of every thread, of threads started later and of children', () => {
    const out = run(PROBE.replace('NICE', '7'));
    expect(out.result).toMatchObject({ nice: 7 });
    expect(out.before).toBeGreaterThan(1);
    expect(out.after).toBeGreaterThan(out.before);
    expect(out.threads).toEqual(out.threads.map(() => 7));
    expect(out.child).toBe(7);
  });

  it('never lowers a niceness the process already has', () => {
    const out = run(`require('node:os').setPriority(0, 12);\n${PROBE.replace('NICE', '5')}`);
    expect(out.result).toMatchObject({ nice: 12 });
    expect(out.child).toBe(12);
    // the main thread keeps its 12; every other thread is raised to 5, none left at 0
    expect(out.threads[0]).toBe(12);
    expect(out.threads.slice(1).every((n: number) => n >= 5)).toBe(true);
  });

  it('sets the autogroup of a session it leads, so that it yields to other sessions too', async () => {
    const out = await runDetached(`${GROUP}
      const { yieldCpu } = require('./agent/priority');
      const before = group();
      yieldCpu(9).then((result) => console.log(JSON.stringify({ before, result, after: group() })));`);
    if (!AUTOGROUPS) return expect(out.result).toEqual({ nice: 9, autogroup: 'none' });
    expect(out).toEqual({ before: 0, result: { nice: 9, autogroup: 'set' }, after: 9 });
  });

  it('leaves alone the autogroup of a session it shares (a terminal, this test run)', () => {
    const out = run(`${GROUP}
      const { yieldCpu } = require('./agent/priority');
      const before = group();
      yieldCpu(6).then((result) => console.log(JSON.stringify({ before, result, after: group() })));`);
    expect(out.result).toEqual({ nice: 6, autogroup: AUTOGROUPS ? 'shared session' : 'none' });
    expect(out.after).toBe(out.before);
  });
});

describe('yieldSession', () => {
  const groupNice = (pid: number) => Number(/nice (-?\d+)/.exec(readFileSync(`/proc/${pid}/autogroup`, 'utf8'))?.[1]);

  it('raises the autogroup of another session leader, and never lowers it', async () => {
    const { yieldSession } = await import('./priority');
    const child = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
    try {
      const pid = child.pid as number;
      if (!AUTOGROUPS) return expect(await yieldSession(pid, 5)).toBe('none');
      expect(groupNice(pid)).toBe(0);
      expect(await yieldSession(pid, 5)).toBe('set');
      expect(groupNice(pid)).toBe(5);
      expect(await yieldSession(pid, 3)).toBe('set');
      expect(groupNice(pid)).toBe(5);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('answers none for a process that is gone', async () => {
    const { yieldSession } = await import('./priority');
    const child = spawn('true', [], { detached: true, stdio: 'ignore' });
    await new Promise((r) => child.once('exit', r));
    expect(await yieldSession(child.pid as number, 5)).toBe('none');
  });
});
