import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { until } from './poll.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface Line {
  [field: string]: unknown;
  /** When the test process read the line. */
  receivedAt: number;
}

/** A TypeScript script run as its own OS process, whose stdout JSON lines are collected. */
export interface Child {
  process: ChildProcess;
  lines: Line[];
  /** Waits for a line (after index `from`) matching `predicate`. */
  waitFor(predicate: (line: Line) => boolean, options?: { timeoutMs?: number; what?: string; from?: number }): Promise<Line>;
  send(line: string): void;
  signal(signal: NodeJS.Signals): void;
  /** SIGKILL if still running, and wait for the exit. */
  dispose(): Promise<void>;
  stderr(): string;
}

export function spawnScript(script: string, env: Record<string, string>, args: string[] = []): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines: Line[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout! }).on('line', (text) => {
    try {
      lines.push({ ...(JSON.parse(text) as object), receivedAt: Date.now() });
    } catch {
      // not a report line
    }
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    process: child,
    lines,
    waitFor: (predicate, options = {}) =>
      until(() => lines.slice(options.from ?? 0).find(predicate), {
        timeoutMs: options.timeoutMs ?? 15_000,
        intervalMs: 5,
        what: `${options.what ?? 'a line'} from ${script} (stderr: ${stderr.slice(-500)})`,
      }),
    send: (line) => child.stdin!.write(`${line}\n`),
    signal: (signal) => child.kill(signal),
    async dispose() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    stderr: () => stderr,
  };
}
