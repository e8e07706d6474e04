import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import { GitSourceError } from './git-parse.ts';

const say = {
  lockTimeout: (path: string, ms: number, holder: string) =>
    `the git cache lock ${path} was held by process ${holder} for over ${ms} ms: another fetch of this repository is stuck; wait, or stop that process`,
} as const;

const POLL_MS = 20;

/**
 * Runs `work` holding `<path>`, a lock file created exclusively and naming the holder's pid. It
 * serialises fetches into one cache repository, across GitSources and processes: two git fetches
 * into one repository race on its `shallow.lock` and ref locks, and one of them fails. A lock left
 * by a process that died (kill -9 mid-fetch) is taken over once that pid is gone.
 */
export async function withRepoLock<T>(path: string, timeoutMs: number, work: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const acquired = await tryCreate(path);
    if (acquired) break;
    const holder = await readHolder(path);
    if (holder !== undefined && !isAlive(holder)) {
      await unlink(path).catch(ignoreMissing);
      continue;
    }
    if (Date.now() > deadline) throw new GitSourceError('Timeout', say.lockTimeout(path, timeoutMs, String(holder ?? 'unknown')));
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  try {
    return await work();
  } finally {
    await unlink(path).catch(ignoreMissing);
  }
}

/**
 * The pid is written to a file of our own first and then hard-linked into place, so the lock file
 * appears with its holder in it: a holder killed between creating and writing it cannot leave an
 * empty lock no one can judge.
 */
async function tryCreate(path: string): Promise<boolean> {
  const mine = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  await writeFile(mine, String(process.pid));
  try {
    await link(mine, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await unlink(mine);
  }
}

/** The holder's pid; undefined when the lock was released while we looked. */
async function readHolder(path: string): Promise<number | undefined> {
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return '';
    throw error;
  });
  const pid = Number(text);
  return text !== '' && Number.isInteger(pid) ? pid : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

function ignoreMissing(error: NodeJS.ErrnoException): void {
  if (error.code !== 'ENOENT') throw error;
}
