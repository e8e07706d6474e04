// Entry point of the `capstan` command (bin/capstan.js imports this). The only module that reads
// process.argv, process.env and the process's streams; everything below receives them.
import { homedir } from 'node:os';
import { runCli } from './program.ts';

// Only commands that run until stopped (get -w, controllers, up) take over SIGINT/SIGTERM; for the
// others Node's default applies and Ctrl-C ends them at once.
let interrupted: Promise<void> | undefined;
const untilInterrupted = () =>
  (interrupted ??= new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  }));

const code = await runCli({
  argv: process.argv.slice(2),
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  cwd: process.cwd(),
  homedir: homedir(),
  untilInterrupted,
});
// Exit at once: an etcd client's sockets must not keep a finished command alive. Writes to pipes and
// files are synchronous on Linux, so nothing printed is lost.
process.exit(code);
