/**
 * The task spawner: one small Perl process per agent that starts the agent's commands, so a
 * task costs a fork of a 5 MB Perl process instead of a fork of the 50-60 MB agent (a fork copies
 * the parent's page tables, so its cost grows with the parent) plus setpriv, unshare and a
 * fresh Perl. Started once, as PID 1 of the agent's PID namespace, or where namespaces are
 * refused as the child subreaper of its commands (agent/spawner.ts). Perl is in
 * every Debian and Ubuntu (perl-base is essential); the script loads no module, not even
 * strict.pm, so it starts in about 2 ms.
 *
 * Arguments: the wait4 and prctl system call numbers (0 where this architecture's are not
 * known: then no usage is measured, and the spawner stays dumpable), and 1 or 0, "whole".
 * - 1: it must be PID 1 of a PID namespace of its own, and refuses to run otherwise; after each
 *   task it kills every other process in the namespace (kill -1).
 * - 0: it makes itself the child subreaper of its commands (it refuses to run without prctl), so
 *   every orphan of a task is re-parented to it; after each task it kills the command's group,
 *   then each of its children until none is left.
 * Either way nothing a command starts outlives it (without a namespace, unless the command
 * kills the spawner first).
 *
 * fd 0 carries requests from the agent, fd 1 frames to it; fd 2 is the agent's stderr.
 * - request `run LEN\n` + LEN bytes: the working directory, the number of argv entries, the
 *   argv, then the environment as `NAME=value`, each ended by a NUL byte;
 * - request `kill SIG\n`: 15, 1 or 2 goes to the command's process group; 9 kills every
 *   process of the task (the whole namespace but the spawner, or every child of the spawner);
 * - frames `KIND LEN\n` + LEN bytes: `r` once at start (the spawner's pid), `o` and `e` the
 *   command's stdout and stderr as it writes them, `x` at its end, after the last output:
 *   `usage USER SYSTEM MAXRSS_KB` and `exit N` or `signal N`, or `error ERRNO MESSAGE` when the
 *   command could not be executed at all.
 *
 * Each `run` forks the command (its shell) as the leader of a process group of its own. Being
 * PID 1 (or the subreaper), the spawner is where every orphan of the task is re-parented, so it reaps (wait4) the
 * command and every process of the task that ends before the task is reported, and sums their
 * CPU time (the largest resident set for memory): what the whole tree used. When the command
 * ends, the rest is killed and reaped too, and only then the end is reported, after the last of
 * its output. The command cannot be PID 1 itself: an init cannot die of a signal, so its status
 * could not say "killed by SIGKILL", and the kernel drops the signals it has no handler for.
 *
 * The spawner is made non-dumpable (prctl PR_SET_DUMPABLE 0): a task running as the same user
 * can then neither ptrace it nor open /proc/1/fd/* to write requests or forge frames. Signals from
 * inside the namespace reach an init only where it has a handler, so a task cannot kill it; its
 * only handler, SIGCHLD, does nothing but wake the loop. (As a subreaper it is no init: a task of
 * the same user can kill it, docs/security.md.)
 *
 * A `.ts` holding the script as a string so that the agent's bundle (dist/agent.js) carries it.
 */
export const SPAWNER = `
my ($wait4, $prctl, $whole) = @ARGV;
syscall($prctl, 4, 0, 0, 0, 0) if $prctl > 0;
die "task spawner: pid $$, not 1 of a namespace\\n" if $whole && $$ != 1;
# Outside a namespace: the child subreaper of its tasks, so every orphan they leave is its child.
die "task spawner: cannot be a child subreaper: $!\\n" if !$whole && ($prctl <= 0 || syscall($prctl, 36, 1, 0, 0, 0) != 0);
# Every process of the task: in a namespace, all of it but PID 1; else the command's group, then
# each child of the spawner (orphans are re-parented to it) until none is left.
sub kill_task {
  my ($group) = @_;
  if ($whole) { kill('KILL', -1); return }
  kill('KILL', -$group) if $group;
  # A killed process's children come to the spawner only once it has exited: look again until
  # none is left (2 s at most).
  for (1 .. 2000) {
    1 while (reap(0))[0] > 0;
    my @children = children();
    last unless @children;
    kill('KILL', @children);
    select(undef, undef, undef, 0.001);
  }
}
sub children {
  if (open(my $fh, '<', "/proc/$$/task/$$/children")) { my $line = <$fh> // ''; return split(' ', $line) }
  my @pids;
  opendir(my $dh, '/proc') or return ();
  for my $p (grep { /\\A\\d+\\z/ } readdir($dh)) {
    open(my $st, '<', "/proc/$p/stat") or next;
    my $line = <$st> // '';
    push @pids, $p if $line =~ /\\) \\S (\\d+) / && $1 == $$;
  }
  return @pids;
}
$SIG{CHLD} = sub {};
my $in = '';
my $eof = 0;
sub put {
  my $s = shift;
  while (length $s) {
    my $w = syswrite(STDOUT, $s);
    if (!defined $w) { next if $! + 0 == 4; exit 0 }
    substr($s, 0, $w, '');
  }
}
sub frame { put($_[0] . ' ' . length($_[1]) . "\\n" . $_[1]) }
sub fill {
  my $r = sysread(STDIN, $in, 65536, length $in);
  if (defined $r) { $eof = 1 if $r == 0; return }
  die "task spawner: read: $!\\n" unless $! + 0 == 4;
}
sub take {
  return undef unless $in =~ /\\A(run|kill) (\\d+)\\n/;
  my ($verb, $n, $head) = ($1, $2, $+[0]);
  if ($verb eq 'kill') { substr($in, 0, $head, ''); return ['kill', $n] }
  return undef if length($in) < $head + $n;
  my $payload = substr($in, $head, $n);
  substr($in, 0, $head + $n, '');
  return ['run', $payload];
}
# Reaps one child (any: -1), blocking or not; returns (pid, status) and adds what it used. The
# command's own status is kept in $ended whoever reaps it (a kill_task too).
my @used;
my ($main, $ended);
sub reap {
  my ($block) = @_;
  my ($r, $s);
  if ($wait4 <= 0) {
    $r = waitpid(-1, $block ? 0 : 1);
    $s = $?;
  } else {
    my ($st, $ru) = ("\\0" x 4, "\\0" x 144);
    for (;;) {
      $r = syscall($wait4, -1, $st, $block ? 0 : 1, $ru);
      last unless $r == -1 && $! + 0 == 4;
    }
    if ($r > 0) {
      my @u = unpack('q5', $ru);
      $used[0] += $u[0] * 1e6 + $u[1];
      $used[1] += $u[2] * 1e6 + $u[3];
      $used[2] = $u[4] if $u[4] > $used[2];
    }
    $s = unpack('i', $st);
  }
  $ended = $s if $r > 0 && defined $main && $r == $main;
  return ($r, $s);
}
sub run {
  my ($cwd, $argc, @env) = split(/\\0/, $_[0], -1);
  pop @env;
  my @argv = splice(@env, 0, $argc);
  1 while (reap(0))[0] > 0;
  @used = (0, 0, 0);
  my ($or, $ow, $er, $ew, $xr, $xw);
  unless (pipe($or, $ow) && pipe($er, $ew) && pipe($xr, $xw)) { frame('x', 'error ' . ($! + 0) . " pipe: $!\\n"); return }
  ($main, $ended) = (undef, undef);
  my $pid = fork();
  unless (defined $pid) { frame('x', 'error ' . ($! + 0) . " fork: $!\\n"); return }
  $main = $pid;
  if ($pid == 0) {
    $SIG{CHLD} = 'DEFAULT';
    setpgrp(0, 0);
    open(STDIN, '<', '/dev/null');
    open(STDOUT, '>&', $ow);
    open(STDERR, '>&', $ew);
    %ENV = ();
    for (@env) { my $i = index($_, '='); $ENV{substr($_, 0, $i)} = substr($_, $i + 1) if $i > 0 }
    chdir($cwd) or do { syswrite($xw, 'error ' . ($! + 0) . " chdir $cwd: $!\\n"); exit 127 };
    exec { $argv[0] } @argv;
    syswrite($xw, 'error ' . ($! + 0) . " exec $argv[0]: $!\\n");
    exit 127;
  }
  setpgrp($pid, $pid);
  close($_) for ($ow, $ew, $xw);
  my %open = (o => $or, e => $er, x => $xr);
  my ($error, $status) = ('', undef);
  my $spins = 0;
  while (%open || !defined $status) {
    my $rin = '';
    vec($rin, 0, 1) = 1 unless $eof;
    vec($rin, fileno($_), 1) = 1 for values %open;
    # Its pipes closed, the command is ending: its zombie can be reaped within microseconds.
    # Otherwise SIGCHLD wakes the select, and the timeout covers the one that came just before it.
    my $wait = defined $status ? undef : (!%open && $spins++ < 200) ? 0.0005 : 0.5;
    my $n = select(my $rout = $rin, undef, undef, $wait);
    if (!defined $status) {
      1 while !defined $ended && (reap(0))[0] > 0;
      if (defined $ended) {
        $status = $ended;
        kill_task($pid);
      }
    }
    next if $n <= 0;
    if (vec($rout, 0, 1)) {
      fill();
      while (my $m = take()) {
        die "task spawner: a run while a task runs\\n" if $m->[0] eq 'run';
        if ($m->[1] == 9) { kill_task($pid) } elsif (!defined $status) { kill($m->[1], -$pid) }
      }
      if ($eof) { kill_task($pid); exit 0 }
    }
    for my $k (keys %open) {
      my $fh = $open{$k};
      next unless vec($rout, fileno($fh), 1);
      my $r = sysread($fh, my $buf, 65536);
      next if !defined $r && $! + 0 == 4;
      if (!$r) { close($fh); delete $open{$k}; next }
      if ($k eq 'x') { $error .= $buf } else { frame($k, $buf) }
    }
  }
  # Everything else of the task was killed when the command ended: reap it all.
  if ($whole) { 1 while (reap(1))[0] > 0 } else { 1 while (reap(0))[0] > 0 }
  if ($error ne '') { frame('x', $error); return }
  my $usage = $wait4 > 0 ? sprintf("usage %d.%06d %d.%06d %d\\n", int($used[0] / 1e6), $used[0] % 1e6, int($used[1] / 1e6), $used[1] % 1e6, $used[2]) : '';
  frame('x', $usage . (($status & 127) ? 'signal ' . ($status & 127) : 'exit ' . ($status >> 8)) . "\\n");
}
frame('r', $$);
for (;;) {
  my $m = take();
  if (!$m) { exit 0 if $eof; fill(); next }
  run($m->[1]) if $m->[0] eq 'run';
}
`;
