// What the process driver keeps on disk and reads from /proc. A sandbox is one container's directory,
// <stateDir>/tasks/<taskUid>/<container>/: the workload's cwd, its stdout and stderr files, and the
// driver's records. Everything a fresh driver needs to adopt a running process is in there.
import { existsSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where the system's tools (mount, unshare, nsenter) are looked up: never the task's PATH, which its manifest may set. */
const SYSTEM_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

export const FILES = {
  record: 'capstan.json',
  /** "<wrapper pid> <workload pid>", written by the wrapper as soon as it has forked the workload. */
  pids: 'capstan.pid',
  /** The workload's exit status as the shell reports it ($?), written by the wrapper. */
  exit: 'capstan.exit',
  stdout: 'stdout',
  stderr: 'stderr',
} as const;

/**
 * The wrapper every workload runs under (`/bin/sh -c WRAPPER capstan-wrapper argv...`). An adopted
 * process is not our child, so its exit status cannot be read from /proc or waitpid; the wrapper waits
 * for it and writes `$?` to capstan.exit, where any later driver instance finds it.
 *
 * - It traps TERM (and friends) with a no-op rather than ignoring them, because ignored signals are
 *   inherited by the workload while trapped ones are reset to the default: the workload still dies
 *   of SIGTERM, and the wrapper, interrupted in `wait`, loops to wait again and records the status.
 * - `kill -0` tells a wait interrupted by a signal (child still there, or a zombie) from a finished one.
 * - fd 3 is a pipe to the driver: the workload pid is announced on it, so `start` needs no polling.
 *   The workload does not inherit it.
 * - Caveat: POSIX has a non-interactive shell start background commands with SIGINT and SIGQUIT
 *   ignored, so the workload inherits those two as ignored. Stops use SIGTERM and SIGKILL, unaffected.
 * - A workload killed by a signal is recorded as 128 + the signal number, as shells report it.
 * - If the wrapper itself is SIGKILLed (only the stop escalation does that), the status is lost and
 *   the driver reports the signal it sent, or an unknown status.
 */
export const WRAPPER = `trap : HUP INT QUIT TERM
"$@" 3>&- &
child=$!
echo "$$ $child" > ${FILES.pids}
echo "$child" >&3
exec 3>&-
while :; do
  wait "$child"
  code=$?
  kill -0 "$child" 2>/dev/null || break
done
echo "$code" > ${FILES.exit}
`;

/**
 * Run before WRAPPER when a container has read-only mounts, in a mount namespace of its own
 * (`unshare --mount --propagation private`, which execs, so the wrapper keeps the pid the driver
 * records). Its arguments are pairs of host path and sandbox path, then `--`, then the workload's argv.
 * Each host directory is bind-mounted read-only over its (empty) directory in the sandbox. Nothing of
 * it reaches the host's namespace: the mounts go away with the container's last process, and removing
 * the sandbox never walks into a host directory. A mount that fails is reported on fd 3 in place of
 * the pid, so `start` fails with the reason.
 */
export const READ_ONLY_MOUNTS = `while [ "$1" != -- ]; do
  if ! { PATH=${SYSTEM_PATH.join(':')} mount --bind "$1" "$2" && PATH=${SYSTEM_PATH.join(':')} mount -o remount,bind,ro "$2"; }; then
    echo "could not mount $1 read-only at $2" >&3
    exit 126
  fi
  shift 2
done
shift
`;

/** The command that starts a container: the wrapper, in a private mount namespace when some mounts are read-only. */
export function wrapperCommand(argv: string[], readOnly: { hostPath: string; sandboxPath: string }[]): { file: string; args: string[] } {
  if (readOnly.length === 0) return { file: '/bin/sh', args: ['-c', WRAPPER, 'capstan-wrapper', ...argv] };
  const pairs = readOnly.flatMap((mount) => [mount.hostPath, mount.sandboxPath]);
  return {
    file: systemTool('unshare'),
    args: ['--mount', '--propagation', 'private', '/bin/sh', '-c', READ_ONLY_MOUNTS + WRAPPER, 'capstan-wrapper', ...pairs, '--', ...argv],
  };
}

/** A system tool's absolute path (the bare name when it is in none of SYSTEM_PATH: the spawn then says ENOENT). */
export function systemTool(name: string): string {
  return SYSTEM_PATH.map((dir) => join(dir, name)).find((path) => existsSync(path)) ?? name;
}

export interface SandboxRecord {
  taskUid: string;
  taskName: string;
  namespace: string;
  app: string;
  container: string;
  /** The container's position in the launch: logs default to the first. */
  index: number;
  env: Record<string, string>;
  argv: string[];
  startedAt: string;
  /** Missing only if the agent died between writing the record and starting the wrapper. */
  wrapper?: { pid: number; startTime: number };
  /** The workload, a child of the wrapper. */
  pid?: number;
  /** Set when the wrapper runs in a mount namespace of its own (read-only mounts): commands run beside it enter it. */
  mountNamespace?: boolean;
}

export function sandboxDir(stateDir: string, taskUid: string, container: string): string {
  return join(stateDir, 'tasks', taskUid, container);
}

export function taskDir(stateDir: string, taskUid: string): string {
  return join(stateDir, 'tasks', taskUid);
}

/** Written by rename, so a reader never sees half a record. */
export function writeRecord(sandbox: string, record: SandboxRecord): void {
  const path = join(sandbox, FILES.record);
  writeFileSync(`${path}.tmp`, JSON.stringify(record, null, 2));
  renameSync(`${path}.tmp`, path);
}

/** Every sandbox record under the state dir; unreadable ones are skipped (a sandbox being removed). */
export function readRecords(stateDir: string): { sandbox: string; record: SandboxRecord }[] {
  const tasks = join(stateDir, 'tasks');
  if (!existsSync(tasks)) return [];
  const found: { sandbox: string; record: SandboxRecord }[] = [];
  for (const uid of readdirSync(tasks)) {
    for (const container of safeReaddir(join(tasks, uid))) {
      const sandbox = join(tasks, uid, container);
      try {
        found.push({ sandbox, record: JSON.parse(readFileSync(join(sandbox, FILES.record), 'utf8')) as SandboxRecord });
      } catch {
        // no record (yet, or any more)
      }
    }
  }
  return found;
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** The wrapper's recorded exit status of the workload, or null when it was never written. */
export function readExitStatus(sandbox: string): number | null {
  try {
    const text = readFileSync(join(sandbox, FILES.exit), 'utf8').trim();
    return text === '' ? null : Number(text);
  } catch {
    return null;
  }
}

export interface ProcStat {
  state: string;
  pgrp: number;
  /** Clock ticks since boot: with the pid, it names a process uniquely (pids are reused). */
  startTime: number;
}

/** /proc/<pid>/stat, or undefined if there is no such process. */
export function procStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces or parentheses itself.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '?', pgrp: Number(fields[2]), startTime: Number(fields[19]) };
}

/** Is the process that was `pid` at `startTime` still alive (not a zombie)? */
export function isAlive(process: { pid: number; startTime: number }): boolean {
  const stat = procStat(process.pid);
  return stat !== undefined && stat.startTime === process.startTime && stat.state !== 'Z' && stat.state !== 'X';
}
