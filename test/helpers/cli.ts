// Runs the `capstan` command for tests: in-process through runCli (fast, for the many small cases),
// or as a real child process through bin/capstan.js (for exit codes, timing and stderr as a user
// sees them).
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../cli/program.ts';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = fileURLToPath(new URL('../../bin/capstan.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliRunOptions {
  etcd: string;
  stdin?: string;
  env?: Record<string, string | undefined>;
  cwd?: string;
  home?: string;
}

function buffer() {
  let text = '';
  return { output: { write: (chunk: string) => (text += chunk), isTTY: false }, text: () => text };
}

export async function capstan(args: string[], options: CliRunOptions): Promise<CliResult> {
  return startCapstan(args, options).done;
}

export interface RunningCli {
  /** What was printed so far. */
  stdout(): string;
  stderr(): string;
  /** As SIGINT would: for -w, controllers and up. */
  interrupt(): void;
  done: Promise<CliResult>;
}

/** Runs the command in-process without waiting: for commands that run until interrupted. */
export function startCapstan(args: string[], options: CliRunOptions): RunningCli {
  const stdout = buffer();
  const stderr = buffer();
  let interrupt = () => {};
  const interrupted = new Promise<void>((resolve) => (interrupt = resolve));
  const done = runCli({
    argv: args,
    env: { CAPSTAN_ETCD: options.etcd, NO_COLOR: '1', HOME: options.home ?? '/nonexistent', ...options.env },
    stdout: stdout.output,
    stderr: stderr.output,
    stdin: Readable.from([options.stdin ?? '']),
    cwd: options.cwd ?? REPO,
    homedir: options.home ?? '/nonexistent',
    untilInterrupted: () => interrupted,
  }).then((code) => ({ code, stdout: stdout.text(), stderr: stderr.text() }));
  return { stdout: stdout.text, stderr: stderr.text, interrupt: () => interrupt(), done };
}

export interface SpawnOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  stdin?: string;
}

/** `node bin/capstan.js ...` as a child process; resolves when it exits. */
export function spawnCapstan(args: string[], options: SpawnOptions = {}): Promise<CliResult & { ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd ?? REPO,
      env: definedOnly({ ...process.env, NO_COLOR: '1', CAPSTAN_DEBUG: undefined, ...options.env }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr, ms: Date.now() - started }));
    child.stdin.end(options.stdin ?? '');
  });
}

function definedOnly(env: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined));
}
