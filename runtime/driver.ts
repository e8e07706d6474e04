// The one contract between the node agent and the things that run workloads. Two drivers implement
// it: docker (containers through the local Docker Engine) and process (Marathon's Mesos containerizer:
// plain processes in a sandbox directory). The agent never needs to know which one it holds.
//
// What the contract promises beyond start and stop, and why:
// - Exits are reported per container with an `outcome`, and `taskOutcome()` folds a task's containers
//   into one verdict. A pod fails as soon as one container fails; the agent reads that from the
//   single exit report and then stops the rest.
// - `list()` also returns exited containers, with their exit. Drivers keep exited containers (docker)
//   and sandboxes (process) until `remove(taskUid)`: an agent that restarts after its task died still
//   finds the exit code and the logs, which is what a level-triggered agent needs. `watchExits()` only
//   reports exits observed while subscribed, so an agent subscribes first and then calls `list()`.
// - `exec` says "timed out" as its own outcome instead of a made-up exit code. It buffers its output
//   for COMMAND health checks; `execStream` streams, for a person at `capstan exec`.
import type { Observable } from 'rxjs';
import type { Readable } from 'node:stream';

export type DriverName = 'docker' | 'process';

export interface ContainerResources {
  cpus: number;
  /** MiB */
  mem: number;
  /** MiB */
  disk: number;
  gpus: number;
}

export interface ContainerLaunch {
  name: string;
  /** docker only */
  image?: string;
  /** run by /bin/sh -c */
  cmd?: string;
  /** exec form; docker passes it as the image's Cmd */
  args?: string[];
  env: Record<string, string>;
  resources: ContainerResources;
  /** Host directories this container sees; none when missing. */
  mounts?: ContainerMount[];
}

/**
 * A host directory mounted into one container. docker: `mountPath` is absolute inside the container.
 * process: `mountPath` is relative to the container's sandbox (Marathon's `containerPath: "data"`).
 */
export interface ContainerMount {
  /** Absolute, on the node. */
  hostPath: string;
  mountPath: string;
  readOnly: boolean;
}

export interface TaskLaunch {
  taskUid: string;
  taskName: string;
  namespace: string;
  app: string;
  containers: ContainerLaunch[];
  /** Host ports the scheduler already allocated, in the App's port order. */
  ports: { name?: string; hostPort: number }[];
  /** The node's address, e.g. 127.0.0.1 */
  host: string;
  /** The App's env */
  env: Record<string, string>;
  killGracePeriodSeconds: number;
}

/**
 * succeeded: exit code 0. failed: any other code, a signal, or an unknown status. stopped: the exit
 * followed a `stop()` by this driver instance (after an agent restart a stop in flight is reported by
 * its code; the agent knows from the Task's phase that it asked for it).
 */
export type ExitOutcome = 'succeeded' | 'failed' | 'stopped';

export interface ContainerExit {
  /** null when the status is unknown (e.g. the process wrapper itself was SIGKILLed). */
  exitCode: number | null;
  /** The signal that ended it, when known; an exit code above 128 is read as 128 + signal number. */
  signal: NodeJS.Signals | null;
  outcome: ExitOutcome;
  /** One sentence for Task.status.message: "exited with code 1", "killed by SIGKILL (out of memory)". */
  reason: string;
  finishedAt: string;
}

export interface TaskExit extends ContainerExit {
  taskUid: string;
  container: string;
}

export type ContainerState =
  | { name: string; state: 'running'; pid?: number; startedAt: string }
  | { name: string; state: 'exited'; pid?: number; startedAt: string; exit: ContainerExit };

export interface RunningTask {
  taskUid: string;
  taskName: string;
  namespace: string;
  app: string;
  containers: ContainerState[];
}

export type ExecResult =
  | { status: 'exited'; exitCode: number; output: string }
  | { status: 'timedOut'; output: string };

/** `capstan exec`: a command run beside a task's container, streaming, with the container's environment. */
export interface ExecRequest {
  /** Defaults to the task's first container. */
  container?: string;
  /** argv, run without a shell (as `docker exec` and `kubectl exec`). */
  command: string[];
  /** Passed to the command's stdin, ended when it ends; without it the command's stdin is closed. */
  stdin?: Readable;
}

export interface ExecSession {
  stdout: Readable;
  stderr: Readable;
  /** The command's exit code: 128 + n when killed by signal n, as shells report it. */
  exited: Promise<number>;
  /** Ends the command early (whoever asked for it went away). */
  kill(): void;
}

export interface LogOptions {
  /** Defaults to the task's first container. */
  container?: string;
  /** Keep the stream open and pass on new output until the container exits. */
  follow?: boolean;
  stream?: 'stdout' | 'stderr' | 'all';
  /** Only the last this many lines (per stream for the process driver: stdout's, then stderr's). */
  tail?: number;
}

export interface Driver {
  readonly name: DriverName;
  /** Starts every container of the task together; resolves once all are started. Throws a sentence saying why not. */
  start(launch: TaskLaunch): Promise<RunningTask>;
  /** SIGTERM, then SIGKILL after the grace period; resolves once every container has exited. Idempotent. */
  stop(taskUid: string, gracePeriodSeconds: number): Promise<void>;
  /** Forgets an exited task: removes its containers or sandbox. Kills whatever still runs. Idempotent. */
  remove(taskUid: string): Promise<void>;
  /** Every task this driver holds for this node, running or exited: what a restarted agent adopts. */
  list(): Promise<RunningTask[]>;
  /** Exits observed while subscribed (adopted tasks included). */
  watchExits(): Observable<TaskExit>;
  /** Runs `/bin/sh -c command` beside the container, with its env: COMMAND health checks. */
  exec(taskUid: string, container: string, command: string, timeoutMs: number): Promise<ExecResult>;
  /**
   * Runs a command in (docker) or beside (process) a running container, streaming its output and its
   * stdin: `capstan exec`. Rejects with a sentence when the container is unknown or not running.
   */
  execStream(taskUid: string, request: ExecRequest): Promise<ExecSession>;
  logs(taskUid: string, options?: LogOptions): Readable;
  /** Releases timers and streams; leaves workloads running. */
  close(): Promise<void>;
}

export type TaskOutcome = 'running' | ExitOutcome;

/**
 * One verdict for a task from its containers: failed as soon as any container failed (the agent then
 * stops the rest), running while any still runs, otherwise stopped if any was stopped, else succeeded.
 */
export function taskOutcome(containers: readonly ContainerState[]): TaskOutcome {
  if (containers.some((c) => c.state === 'exited' && c.exit.outcome === 'failed')) return 'failed';
  if (containers.length === 0 || containers.some((c) => c.state === 'running')) return 'running';
  if (containers.some((c) => c.state === 'exited' && c.exit.outcome === 'stopped')) return 'stopped';
  return 'succeeded';
}

/**
 * The environment of one container. The App's env, then the container's, then Capstan's own variables
 * last: PORT0 must be the port the scheduler allocated, or health checks and load balancers would
 * point elsewhere, so a manifest cannot override it.
 */
export function taskEnvironment(launch: TaskLaunch, container: ContainerLaunch): Record<string, string> {
  const env: Record<string, string> = { ...launch.env, ...container.env };
  launch.ports.forEach((port, index) => {
    env[`PORT${index}`] = String(port.hostPort);
    if (!port.name) return;
    const name = port.name.toUpperCase().replace(/-/g, '_');
    env[`PORT_${name}`] = String(port.hostPort);
    // Marathon's pod endpoint address: with host networking, every container of the task reaches it here.
    env[`EP_HOST_${name}`] = launch.host;
  });
  const first = launch.ports[0];
  if (first) env.PORT = String(first.hostPort);
  env.PORTS = launch.ports.map((port) => port.hostPort).join(',');
  env.HOST = launch.host;
  env.CAPSTAN_TASK_ID = launch.taskUid;
  env.CAPSTAN_TASK_NAME = launch.taskName;
  env.CAPSTAN_APP = launch.app;
  env.CAPSTAN_NAMESPACE = launch.namespace;
  env.CAPSTAN_CONTAINER = container.name;
  return env;
}

/** How much of a failed or finished task's output its status keeps (`outputTail`). */
export const OUTPUT_TAIL = { lines: 10, bytes: 2048 } as const;

/**
 * The last lines of some output, newest last, within `lines` and `bytes` (UTF-8): what a Task's
 * status keeps of its output when it ends. A newest line longer than the whole budget keeps its end.
 */
export function outputTail(text: string, limits: { lines: number; bytes: number } = OUTPUT_TAIL): string[] {
  const lines = text.replace(/\r\n?/g, '\n').replace(/\n+$/, '').split('\n');
  if (lines.length === 1 && lines[0] === '') return [];
  const kept: string[] = [];
  let bytes = 0;
  for (let i = lines.length - 1; i >= 0 && kept.length < limits.lines; i -= 1) {
    const line = lines[i]!;
    const size = Buffer.byteLength(line) + 1;
    if (bytes + size > limits.bytes) {
      if (kept.length === 0) kept.unshift(Buffer.from(line).subarray(-(limits.bytes - 1)).toString('utf8'));
      break;
    }
    kept.unshift(line);
    bytes += size;
  }
  return kept;
}

/** Reads an exit status the way shells and Docker report it: above 128 means killed by signal (code - 128). */
export function describeExit(
  exitCode: number | null,
  options: { signal?: NodeJS.Signals | null; stopRequested: boolean; oomKilled?: boolean; finishedAt?: string },
): ContainerExit {
  const signal = options.signal ?? (exitCode !== null && exitCode > 128 ? signalName(exitCode - 128) : null);
  const outcome: ExitOutcome = options.stopRequested ? 'stopped' : exitCode === 0 ? 'succeeded' : 'failed';
  const cause = options.oomKilled ? ' (out of memory)' : options.stopRequested ? ' (stopped)' : '';
  const reason = signal
    ? `killed by ${signal}${cause}`
    : exitCode === null
      ? `exited with an unknown status${cause}`
      : `exited with code ${exitCode}${cause}`;
  return { exitCode, signal, outcome, reason, finishedAt: options.finishedAt ?? new Date().toISOString() };
}

const SIGNALS: Record<number, NodeJS.Signals> = {
  1: 'SIGHUP', 2: 'SIGINT', 3: 'SIGQUIT', 4: 'SIGILL', 5: 'SIGTRAP', 6: 'SIGABRT', 7: 'SIGBUS', 8: 'SIGFPE',
  9: 'SIGKILL', 10: 'SIGUSR1', 11: 'SIGSEGV', 12: 'SIGUSR2', 13: 'SIGPIPE', 14: 'SIGALRM', 15: 'SIGTERM',
};

function signalName(number: number): NodeJS.Signals | null {
  return SIGNALS[number] ?? null;
}

