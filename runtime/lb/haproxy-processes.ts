// The haproxy processes of a directory, as /proc shows them, and how they are ended.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const POLL_MS = 20;
const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A running haproxy process of one directory, as /proc shows it. */
export interface HAProxyProcessInfo {
  pid: number;
  ppid: number;
  pgid: number;
  argv: string[];
}

/** Every live haproxy process whose command line names this directory's haproxy.cfg (zombies are not live). */
export function findHAProxyProcesses(dir: string): HAProxyProcessInfo[] {
  const config = join(dir, 'haproxy.cfg');
  const found: HAProxyProcessInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter((arg) => arg !== '');
      if (!argv[0]?.endsWith('haproxy') || !argv.includes(config)) continue;
      // stat: "pid (comm) state ppid pgrp …"; comm may hold spaces, so read after its last ')'.
      const fields = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]!.split(' ');
      if (fields[0] === 'Z') continue;
      found.push({ pid: Number(entry), ppid: Number(fields[1]), pgid: Number(fields[2]), argv });
    } catch {
      // The process ended between readdir and read: not live, so not found.
    }
  }
  return found;
}

export function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    // ESRCH: it is gone already, which is what the caller wants.
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** SIGKILL to the master's process group: the master and every worker it forked. */
export function killGroup(pgid: number): void {
  signal(-pgid, 'SIGKILL');
}

/** SIGTERM (HAProxy's hard stop), SIGKILL after `timeoutMs`. */
export async function terminate(pid: number, timeoutMs: number): Promise<void> {
  signal(pid, 'SIGTERM');
  await waitGone(pid, timeoutMs).catch(() => {
    signal(pid, 'SIGKILL');
    return waitGone(pid, 1_000);
  });
}

/** A process is gone when /proc has no live (non-zombie) entry for it: a reparented zombie may never be reaped. */
export async function waitGone(pid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (isLive(pid)) {
    if (Date.now() > deadline) throw new Error(`process ${pid} did not exit within ${timeoutMs} ms`);
    await delay(POLL_MS);
  }
}

export function isLive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}
