import { spawn } from 'node:child_process';
import { GitSourceError, say } from './git-parse.ts';

export interface GitRun {
  /** The step, as messages name it: `ls-remote`, `fetch`. */
  what: string;
  args: readonly string[];
  /** Bytes for git's stdin (cat-file --batch requests). */
  input?: string;
  timeoutMs: number;
}

export interface GitOutput {
  code: number;
  stdout: Buffer;
  stderr: string;
}

export interface GitRunnerOptions {
  /** Becomes HOME, so no user's ~/.gitconfig or credential helper is read. */
  home: string;
  /** Called once per git process, for metrics and for tests that count fetches. */
  onRun?: (args: readonly string[], ms: number) => void;
}

/**
 * Runs git from an argv array, never a shell, with no system or user config, never prompting for
 * credentials, in English (the stderr is classified by its text). Past `timeoutMs` the whole
 * process group is killed: git fetch runs helpers (git-remote-http, ssh) that would outlive a
 * kill of git alone and hold the cache repository's locks.
 */
export function runGit(options: GitRunnerOptions, run: GitRun): Promise<GitOutput> {
  const started = Date.now();
  const child = spawn('git', run.args, {
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: {
      // PATH only, to find git and its helpers; nothing else of the caller's environment leaks in.
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: options.home,
      LC_ALL: 'C',
      GIT_TERMINAL_PROMPT: '0',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_ASKPASS: 'false',
      SSH_ASKPASS: 'false',
    },
  });
  const stdout: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // git may exit before reading all its stdin (a bad argument); that EPIPE is reported by the exit code.
  child.stdin.on('error', () => undefined);
  child.stdin.end(run.input ?? '');
  return new Promise((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, run.timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      options.onRun?.(run.args, Date.now() - started);
      if (timedOut) reject(new GitSourceError('Timeout', say.timeout(run.what, run.timeoutMs)));
      else resolve({ code: code ?? 1, stdout: Buffer.concat(stdout), stderr });
    });
  });
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch (error) {
    // ESRCH: the group ended between the timer firing and the kill; nothing is left to stop.
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}
