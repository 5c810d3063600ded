/** bin/taskexec's entry point: runs the CLI on the process's arguments and exits with its status. */
import { runCli } from './cli';

/** Exits once stdout and stderr have taken everything written (a pipe may still be draining). */
function exitAfterFlush(code: number): void {
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}

// A reader that went away (`taskexec logs ID | head -1`) is not an error of ours.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

void runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  exit: (code) => process.exit(code),
}).then(exitAfterFlush);
