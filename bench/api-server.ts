// bench:api's API server: `capstan api` started as a user starts it (`node bin/capstan.js api`), a
// process of its own, so that its RSS (/proc/<pid>/status VmRSS) is the server's alone and its CPU
// is not the bench's. Registered with interrupt.ts until stopped.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { onInterrupt } from './interrupt.ts';

const CAPSTAN = fileURLToPath(new URL('../bin/capstan.js', import.meta.url));
/** The server starts in about a second (bundle cached, informers listed); well past that, it is stuck. */
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;

const say = {
  exited: (code: number | null, stderr: string) => `capstan api exited (code ${code}) before listening:\n${stderr}`,
  noUrl: (seconds: number, stderr: string) => `capstan api did not say its URL within ${seconds} s:\n${stderr}`,
};

export interface BenchApiServer {
  url: string;
  pid: number;
  /** The server's resident set, in MiB. */
  rssMiB(): number;
  stop(): Promise<void>;
}

/** Starts `capstan api --port 0` on `etcd` and waits for the URL it prints. */
export async function startApiServerProcess(etcd: string): Promise<BenchApiServer> {
  const child = spawn(process.execPath, [CAPSTAN, 'api', '--port', '0'], {
    env: { ...process.env, CAPSTAN_ETCD: etcd, NO_COLOR: '1', CAPSTAN_DEBUG: undefined },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const undo = onInterrupt('capstan api', () => stopChild(child));
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const url = await new Promise<string>((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => reject(new Error(say.noUrl(START_TIMEOUT_MS / 1000, stderr))), START_TIMEOUT_MS);
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const found = / on (http:\/\/\S+) from /.exec(stdout);
      if (!found) return;
      clearTimeout(timer);
      resolve(found[1]!);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(say.exited(code, stderr)));
    });
  }).catch(async (error: unknown) => {
    await stopChild(child);
    undo();
    throw error;
  });
  return {
    url,
    pid: child.pid!,
    rssMiB: () => rssMiBOf(child.pid!),
    async stop() {
      await stopChild(child);
      undo();
    },
  };
}

/** VmRSS of a process, in MiB. */
export function rssMiBOf(pid: number): number {
  const line = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(line![1]) / 1024;
}

/** SIGTERM (the server closes its streams and informers), SIGKILL if it has not exited in time. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}
