// The process driver, Marathon's Mesos containerizer without isolation: each container is a process
// group (`/bin/sh -c cmd`, or exec of args) started detached in a sandbox directory, stdout and stderr
// going to files there. The processes outlive the agent; a new driver over the same state directory
// adopts them from the records in their sandboxes (see process-sandbox.ts for the wrapper that keeps
// the exit status of a process that is no longer anyone's child).
//
// Exits are found by polling /proc every `pollIntervalMs` (one stat read per live container), sooner
// for our own children through their exit event. Sandboxes are kept after the exit, with logs and
// status, until `remove(taskUid)`.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, lstatSync, mkdirSync, openSync, rmSync, symlinkSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { Subject, type Observable } from 'rxjs';
import {
  describeExit,
  taskEnvironment,
  type ContainerExit,
  type ContainerLaunch,
  type ContainerState,
  type Driver,
  type ExecRequest,
  type ExecResult,
  type ExecSession,
  type LogOptions,
  type RunningTask,
  type TaskExit,
  type TaskLaunch,
} from '../driver.ts';
import {
  FILES,
  isAlive,
  procStat,
  readExitStatus,
  readRecords,
  sandboxDir,
  systemTool,
  taskDir,
  wrapperCommand,
  writeRecord,
  type SandboxRecord,
} from './process-sandbox.ts';
import { sandboxMounts, type SandboxMount } from './mounts.ts';

export interface ProcessDriverOptions {
  stateDir: string;
  /** The base environment of every task, under the task's own. Not the agent's: it may hold secrets. */
  baseEnv?: Record<string, string>;
  pollIntervalMs?: number;
  /** How long `start` waits for the wrapper to announce the workload. */
  startTimeoutMs?: number;
  /**
   * How a read-only mount is made. 'bind': a read-only bind mount in the container's own mount
   * namespace, which needs root (CAP_SYS_ADMIN) and util-linux's unshare and nsenter. 'refuse': such a
   * container does not start, with a sentence saying why. Defaults to 'bind' when the agent runs as
   * root, else 'refuse': a symlink cannot be made read-only, and a writable mount in its place would
   * break the promise the manifest makes.
   */
  readOnlyMounts?: 'bind' | 'refuse';
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const MAX_EXEC_OUTPUT = 64 * 1024;
/** After SIGKILL, how long to wait for the kernel to reap before giving up on a stop. */
const KILL_WAIT_MS = 5_000;

const messages = {
  needsOneCommand: (container: string) => `container ${container} needs exactly one of cmd or args for the process driver`,
  wrapperFailed: (container: string, detail: string) => `container ${container} did not start: ${detail}`,
  unknownContainer: (taskUid: string, container: string) => `no container ${container} of task ${taskUid} on this node`,
  notRunning: (container: string, reason: string) => `container ${container} is not running (it ${reason})`,
  stopTimedOut: (taskUid: string) => `task ${taskUid} still has live processes ${KILL_WAIT_MS} ms after SIGKILL`,
  readOnlyRefused: (container: string, mountPath: string) =>
    `container ${container} mounts ${mountPath} read-only, which a process container gets only from an agent running as root (a read-only bind mount); run the agent as root, mount it read-write, or give the container an image to run it under Docker`,
  mountFailed: (container: string, mount: SandboxMount, detail: string) =>
    `container ${container} could not mount ${mount.hostPath} at ${mount.mountPath}: ${detail}; the host path must be a directory (or missing, to be created)`,
  reservedPath: (container: string, mountPath: string) =>
    `container ${container}: mountPath ${mountPath} is a file the process driver keeps in the sandbox (${Object.values(FILES).join(', ')}); choose another name`,
};

interface Tracked {
  sandbox: string;
  record: SandboxRecord;
  exit?: ContainerExit;
  /** Set while we own the wrapper as a child: its exit event gives the signal if it was killed. */
  child?: ChildProcess;
  killSent?: boolean;
}

export class ProcessDriver implements Driver {
  readonly name = 'process' as const;
  private readonly stateDir: string;
  private readonly baseEnv: Record<string, string>;
  private readonly startTimeoutMs: number;
  private readonly readOnlyMounts: 'bind' | 'refuse';
  /** taskUid → container name → tracked container */
  private readonly tasks = new Map<string, Map<string, Tracked>>();
  private readonly stopRequested = new Set<string>();
  private readonly exits = new Subject<TaskExit>();
  private readonly timer: NodeJS.Timeout;

  constructor(options: ProcessDriverOptions) {
    this.stateDir = options.stateDir;
    this.baseEnv = options.baseEnv ?? { PATH: DEFAULT_PATH };
    this.startTimeoutMs = options.startTimeoutMs ?? 5_000;
    this.readOnlyMounts = options.readOnlyMounts ?? (process.getuid?.() === 0 ? 'bind' : 'refuse');
    mkdirSync(join(this.stateDir, 'tasks'), { recursive: true });
    this.adopt();
    this.timer = setInterval(() => this.checkAll(), options.pollIntervalMs ?? 200);
    this.timer.unref();
  }

  async start(launch: TaskLaunch): Promise<RunningTask> {
    const mounts = new Map<string, SandboxMount[]>();
    for (const container of launch.containers) {
      const hasCmd = container.cmd !== undefined;
      const hasArgs = container.args !== undefined && container.args.length > 0;
      if (hasCmd === hasArgs) throw new Error(messages.needsOneCommand(container.name));
      mounts.set(container.name, this.placeMounts(launch.taskUid, container));
    }
    const existing = this.tasks.get(launch.taskUid);
    if (existing && existing.size === launch.containers.length && [...existing.values()].every((t) => !t.exit)) {
      return this.describe(launch.taskUid); // already started: start is idempotent
    }
    if (existing) await this.remove(launch.taskUid); // leftovers of a start that did not finish

    const containers = new Map<string, Tracked>();
    this.tasks.set(launch.taskUid, containers);
    // A pod's containers start together; if one cannot, none is left running.
    const results = await Promise.allSettled(
      launch.containers.map((container, index) => this.spawnContainer(launch, container, index, mounts.get(container.name)!)),
    );
    results.forEach((result) => {
      if (result.status === 'fulfilled') containers.set(result.value.record.container, result.value);
    });
    const failure = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failure) {
      await this.remove(launch.taskUid);
      throw failure.reason;
    }
    return this.describe(launch.taskUid);
  }

  async stop(taskUid: string, gracePeriodSeconds: number): Promise<void> {
    this.stopRequested.add(taskUid);
    const live = () => this.containersOf(taskUid).filter((t) => !this.check(t));
    for (const tracked of live()) signalGroup(tracked, 'SIGTERM');
    const graceEnds = Date.now() + gracePeriodSeconds * 1000;
    while (live().length > 0 && Date.now() < graceEnds) await sleep(20);
    for (const tracked of live()) {
      tracked.killSent = true;
      signalGroup(tracked, 'SIGKILL');
    }
    const killEnds = Date.now() + KILL_WAIT_MS;
    while (live().length > 0) {
      if (Date.now() > killEnds) throw new Error(messages.stopTimedOut(taskUid));
      await sleep(20);
    }
  }

  async remove(taskUid: string): Promise<void> {
    if (this.containersOf(taskUid).some((t) => !this.check(t))) await this.stop(taskUid, 0);
    this.tasks.delete(taskUid);
    this.stopRequested.delete(taskUid);
    rmSync(taskDir(this.stateDir, taskUid), { recursive: true, force: true });
  }

  async list(): Promise<RunningTask[]> {
    this.checkAll();
    return [...this.tasks.keys()].map((uid) => this.describe(uid));
  }

  watchExits(): Observable<TaskExit> {
    return this.exits.asObservable();
  }

  async exec(taskUid: string, container: string, command: string, timeoutMs: number): Promise<ExecResult> {
    const tracked = this.find(taskUid, container);
    // Its own process group, so that a timed-out check is killed with everything it started.
    const beside = besideContainer(tracked, ['/bin/sh', '-c', command]);
    const child = spawn(beside.file, beside.args, {
      cwd: tracked.sandbox,
      env: { ...this.baseEnv, ...tracked.record.env },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const chunks: Buffer[] = [];
    let size = 0;
    const collect = (chunk: Buffer) => {
      if (size < MAX_EXEC_OUTPUT) chunks.push(chunk);
      size += chunk.length;
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid, 'SIGKILL');
    }, timeoutMs);
    const exitCode = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, signal) => resolve(code ?? 128 + signalNumber(signal)));
    }).finally(() => clearTimeout(timer));
    const output = Buffer.concat(chunks).subarray(0, MAX_EXEC_OUTPUT).toString('utf8');
    return timedOut ? { status: 'timedOut', output } : { status: 'exited', exitCode, output };
  }

  async execStream(taskUid: string, request: ExecRequest): Promise<ExecSession> {
    const tracked = request.container
      ? this.find(taskUid, request.container)
      : this.containersOf(taskUid).sort((a, b) => a.record.index - b.record.index)[0];
    if (!tracked) throw new Error(messages.unknownContainer(taskUid, '(any)'));
    if (this.check(tracked)) throw new Error(messages.notRunning(tracked.record.container, tracked.exit?.reason ?? 'exited'));
    // Through `sh -c 'exec "$0" "$@"'`: argv runs without shell parsing, found on the task's PATH, and
    // a command that is not found is the shell's one line on stderr and exit 127, as in a terminal.
    const beside = besideContainer(tracked, ['/bin/sh', '-c', 'exec "$0" "$@"', ...request.command]);
    const child = spawn(beside.file, beside.args, {
      cwd: tracked.sandbox,
      env: { ...this.baseEnv, ...tracked.record.env },
      // Its own process group: kill() ends whatever the command started, too.
      detached: true,
      stdio: [request.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    if (request.stdin && child.stdin) {
      // A command that exits without reading all of its input closes the pipe: not an error of ours.
      child.stdin.on('error', () => undefined);
      request.stdin.pipe(child.stdin);
    }
    const exited = new Promise<number>((resolve) => {
      child.once('error', () => resolve(127));
      child.once('close', (code, signal) => resolve(code ?? 128 + signalNumber(signal)));
    });
    return { stdout: child.stdout!, stderr: child.stderr!, exited, kill: () => killGroup(child.pid, 'SIGKILL') };
  }

  logs(taskUid: string, options: LogOptions = {}): Readable {
    const tracked = options.container
      ? this.find(taskUid, options.container)
      : this.containersOf(taskUid).sort((a, b) => a.record.index - b.record.index)[0];
    if (!tracked) throw new Error(messages.unknownContainer(taskUid, options.container ?? '(any)'));
    const selection = options.stream ?? 'all';
    const files = [
      ...(selection !== 'stderr' ? [join(tracked.sandbox, FILES.stdout)] : []),
      ...(selection !== 'stdout' ? [join(tracked.sandbox, FILES.stderr)] : []),
    ];
    const running = () => !this.check(tracked);
    return Readable.from(readFiles(files, options.follow ? running : () => false, options.tail));
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.exits.complete();
  }

  // --- helpers --------------------------------------------------------------------------------

  /** Where the container's mounts land in its sandbox; throws a sentence when one cannot be made. */
  private placeMounts(taskUid: string, container: ContainerLaunch): SandboxMount[] {
    const placed = sandboxMounts(sandboxDir(this.stateDir, taskUid, container.name), container);
    if (!placed.ok) throw new Error(placed.message);
    for (const mount of placed.value) {
      const first = mount.mountPath.split('/').find((segment) => segment !== '' && segment !== '.');
      if ((Object.values(FILES) as string[]).includes(first ?? '')) throw new Error(messages.reservedPath(container.name, mount.mountPath));
      if (mount.readOnly && this.readOnlyMounts === 'refuse') throw new Error(messages.readOnlyRefused(container.name, mount.mountPath));
    }
    return placed.value;
  }

  private async spawnContainer(launch: TaskLaunch, container: ContainerLaunch, index: number, mounts: SandboxMount[]): Promise<Tracked> {
    const sandbox = sandboxDir(this.stateDir, launch.taskUid, container.name);
    mkdirSync(sandbox, { recursive: true });
    for (const mount of mounts) {
      try {
        prepareMount(mount);
      } catch (error) {
        throw new Error(messages.mountFailed(container.name, mount, (error as Error).message));
      }
    }
    const readOnly = mounts.filter((mount) => mount.readOnly);
    // MESOS_SANDBOX as the Mesos containerizer sets it; CAPSTAN_SANDBOX is the same directory.
    const env = { ...taskEnvironment(launch, container), CAPSTAN_SANDBOX: sandbox, MESOS_SANDBOX: sandbox };
    const argv = container.cmd !== undefined ? ['/bin/sh', '-c', container.cmd] : container.args!;
    const record: SandboxRecord = {
      taskUid: launch.taskUid,
      taskName: launch.taskName,
      namespace: launch.namespace,
      app: launch.app,
      container: container.name,
      index,
      env,
      argv,
      startedAt: new Date().toISOString(),
      ...(readOnly.length > 0 ? { mountNamespace: true } : {}),
    };
    // Recorded before the spawn, so that even a crash right after it leaves a sandbox that says whose it is.
    writeRecord(sandbox, record);
    const stdout = openSync(join(sandbox, FILES.stdout), 'a');
    const stderr = openSync(join(sandbox, FILES.stderr), 'a');
    let child: ChildProcess;
    try {
      const command = wrapperCommand(argv, readOnly);
      child = spawn(command.file, command.args, {
        cwd: sandbox,
        env: { ...this.baseEnv, ...env },
        // Its own session and process group: it survives the agent, and stop signals the whole group.
        detached: true,
        stdio: ['ignore', stdout, stderr, 'pipe'],
      });
    } finally {
      closeSync(stdout);
      closeSync(stderr);
    }
    const pid = await this.workloadPid(child, container.name);
    const stat = procStat(child.pid!);
    record.wrapper = { pid: child.pid!, startTime: stat?.startTime ?? -1 };
    record.pid = pid;
    writeRecord(sandbox, record);
    const tracked: Tracked = { sandbox, record, child };
    child.once('exit', () => this.check(tracked));
    child.unref();
    return tracked;
  }

  /** Reads the workload's pid that the wrapper announces on fd 3. */
  private workloadPid(child: ChildProcess, container: string): Promise<number> {
    const announce = child.stdio[3] as Readable;
    return new Promise<number>((resolve, reject) => {
      let text = '';
      const timer = setTimeout(() => fail(`no word from the wrapper within ${this.startTimeoutMs} ms`), this.startTimeoutMs);
      const done = () => {
        clearTimeout(timer);
        announce.destroy();
      };
      const fail = (detail: string) => {
        done();
        reject(new Error(messages.wrapperFailed(container, detail)));
      };
      child.once('error', (error) => fail(error.message));
      announce.on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8');
        const line = text.split('\n')[0];
        if (!text.includes('\n') || !line) return;
        // The pid, or a sentence from READ_ONLY_MOUNTS saying why the workload was not started.
        if (!/^\d+$/.test(line)) return fail(line);
        done();
        resolve(Number(line));
      });
      announce.on('end', () => fail('the wrapper exited before starting the workload'));
    });
  }

  /** Takes over every sandbox in the state dir. Dead ones get their recorded exit, but no event. */
  private adopt(): void {
    for (const { sandbox, record } of readRecords(this.stateDir)) {
      const containers = this.tasks.get(record.taskUid) ?? new Map<string, Tracked>();
      this.tasks.set(record.taskUid, containers);
      const tracked: Tracked = { sandbox, record };
      if (!record.wrapper) {
        tracked.exit = { ...describeExit(null, { stopRequested: false }), reason: 'the agent stopped before the process was recorded' };
      } else if (!isAlive(record.wrapper)) {
        tracked.exit = describeExit(readExitStatus(sandbox), { stopRequested: false });
      }
      containers.set(record.container, tracked);
    }
  }

  private checkAll(): void {
    for (const containers of this.tasks.values()) for (const tracked of containers.values()) this.check(tracked);
  }

  /**
   * Has this container exited? Records and reports the exit the first time it is seen. Anything left
   * in the process group (the workload of a wrapper that was SIGKILLed, or a daemonized grandchild)
   * is killed: a container that exited leaves nothing running.
   */
  private check(tracked: Tracked): boolean {
    if (tracked.exit) return true;
    const wrapper = tracked.record.wrapper;
    if (!wrapper || isAlive(wrapper)) return false;
    killStragglers(wrapper);
    const exitCode = readExitStatus(tracked.sandbox);
    const wrapperSignal = tracked.child?.signalCode ?? (tracked.killSent ? 'SIGKILL' : null);
    tracked.exit = describeExit(exitCode, {
      signal: exitCode === null ? wrapperSignal : undefined,
      stopRequested: this.stopRequested.has(tracked.record.taskUid),
    });
    tracked.child = undefined;
    this.exits.next({ taskUid: tracked.record.taskUid, container: tracked.record.container, ...tracked.exit });
    return true;
  }

  private containersOf(taskUid: string): Tracked[] {
    return [...(this.tasks.get(taskUid)?.values() ?? [])];
  }

  private find(taskUid: string, container: string): Tracked {
    const tracked = this.tasks.get(taskUid)?.get(container);
    if (!tracked) throw new Error(messages.unknownContainer(taskUid, container));
    return tracked;
  }

  private describe(taskUid: string): RunningTask {
    const containers = this.containersOf(taskUid).sort((a, b) => a.record.index - b.record.index);
    const first = containers[0]?.record;
    return {
      taskUid,
      taskName: first?.taskName ?? '',
      namespace: first?.namespace ?? '',
      app: first?.app ?? '',
      containers: containers.map((t): ContainerState => {
        const base = { name: t.record.container, pid: t.record.pid, startedAt: t.record.startedAt };
        return t.exit ? { ...base, state: 'exited', exit: t.exit } : { ...base, state: 'running' };
      }),
    };
  }
}

/**
 * A read-write mount is a symlink in the sandbox to the host directory: commands run beside the
 * container see it too, and removing the sandbox removes the link, never the files. A read-only one
 * is an empty directory that READ_ONLY_MOUNTS binds over inside the container's mount namespace.
 * The host directory is created when missing, as the Docker Engine does for a bind.
 */
function prepareMount(mount: SandboxMount): void {
  mkdirSync(mount.hostPath, { recursive: true });
  mkdirSync(dirname(mount.sandboxPath), { recursive: true });
  if (mount.readOnly) return void mkdirSync(mount.sandboxPath, { recursive: true });
  if (lstatSync(mount.sandboxPath, { throwIfNoEntry: false })) rmSync(mount.sandboxPath, { recursive: true, force: true });
  symlinkSync(mount.hostPath, mount.sandboxPath, 'dir');
}

/**
 * A command beside a container (COMMAND checks, `capstan exec`): in its mount namespace when it has
 * one, so it sees the read-only mounts the workload sees. The working directory is the wrapper's
 * (its sandbox) as seen from inside: a directory opened from the host's namespace would not show
 * the mounts.
 */
function besideContainer(tracked: Tracked, argv: string[]): { file: string; args: string[] } {
  const wrapper = tracked.record.wrapper;
  if (!tracked.record.mountNamespace || !wrapper) return { file: argv[0]!, args: argv.slice(1) };
  return { file: systemTool('nsenter'), args: [`--target=${wrapper.pid}`, '--mount', '--wd', '--', ...argv] };
}

function signalGroup(tracked: Tracked, signal: NodeJS.Signals): void {
  if (tracked.record.wrapper) killGroup(tracked.record.wrapper.pid, signal);
}

/**
 * SIGKILLs what is left of a dead wrapper's process group. Safe against pid reuse: while any member of
 * our group lives, the kernel does not hand out its id as a pid; so if a *different* process now has
 * the wrapper's pid, the group is gone and that id may name someone else's group.
 */
function killStragglers(wrapper: { pid: number; startTime: number }): void {
  const now = procStat(wrapper.pid);
  if (now === undefined || now.startTime === wrapper.startTime) killGroup(wrapper.pid, 'SIGKILL');
}

/** Signals a process group; a group that is gone already is not an error. */
function killGroup(pgid: number | undefined, signal: NodeJS.Signals): void {
  if (!pgid) return;
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: nothing left in the group
  }
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? osConstants.signals[signal] : 0;
}

/** The files' contents one after another; with `follow`, keeps reading what is appended until `stillRunning()` is false. */
async function* readFiles(files: string[], stillRunning: () => boolean, tail?: number): AsyncGenerator<Buffer> {
  const offsets = tail === undefined ? files.map(() => 0) : await Promise.all(files.map((file) => tailOffset(file, tail)));
  for (;;) {
    // Asked before reading, so that the last round catches everything written before the exit.
    const running = stillRunning();
    for (const [index, file] of files.entries()) {
      const chunk = await readFrom(file, offsets[index]!);
      offsets[index]! += chunk.length;
      if (chunk.length > 0) yield chunk;
    }
    if (!running) return;
    await sleep(100);
  }
}

/** How far back a tail looks for its lines: a tail of longer lines starts within a line. */
const TAIL_SCAN_BYTES = 64 * 1024;

/** Where the file's last `lines` lines start (a final line without a newline counts as one). */
async function tailOffset(file: string, lines: number): Promise<number> {
  const size = await stat(file).then((s) => s.size, () => 0);
  if (lines <= 0) return size;
  const start = Math.max(0, size - TAIL_SCAN_BYTES);
  const buffer = await readFrom(file, start);
  let position = buffer.length;
  if (buffer[position - 1] === 0x0a) position -= 1;
  for (let found = 0; position > 0; position -= 1) {
    if (buffer[position - 1] === 0x0a && ++found === lines) break;
  }
  return start + position;
}

async function readFrom(file: string, offset: number): Promise<Buffer> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch {
    return Buffer.alloc(0);
  }
  try {
    const { size } = await handle.stat();
    if (size <= offset) return Buffer.alloc(0);
    const buffer = Buffer.alloc(size - offset);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
