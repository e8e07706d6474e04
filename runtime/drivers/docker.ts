// The docker driver: one container per App container, on the host's network, labelled with the task
// and the node so that a restarted agent finds (adopts) exactly its own containers, even when several
// agents share one engine.
//
// Lifecycle: containers of a failed start are removed at once. Exited containers are kept, with their
// exit code and logs, until `remove(taskUid)`, so an agent that restarts after the exit still reads it.
import { PassThrough, Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import { Observable } from 'rxjs';
import {
  describeExit,
  taskEnvironment,
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
import { demuxExec, demuxFrames, jsonLines } from './docker-streams.ts';
import { dockerBinds } from './mounts.ts';

export const LABELS = {
  taskUid: 'capstan.task-uid',
  task: 'capstan.task',
  app: 'capstan.app',
  namespace: 'capstan.namespace',
  container: 'capstan.container',
  node: 'capstan.node',
} as const;

export interface DockerDriverOptions {
  docker: Dockerode;
  /** This agent's node: its label scopes everything the driver lists, watches and removes. */
  nodeName: string;
}

const MAX_EXEC_OUTPUT = 64 * 1024;

const messages = {
  noImage: (container: string) => `container ${container} has no image; the docker driver needs one`,
  imageMissing: (image: string, node: string) =>
    `image ${image} is not present on node ${node} and there is no registry to pull from`,
  startFailed: (container: string, detail: string) => `container ${container} failed to start: ${detail}`,
  unknownTask: (taskUid: string, container: string) => `no container ${container} of task ${taskUid} on this node`,
  notRunning: (container: string, state: string) => `container ${container} is not running (its state is ${state})`,
  execNotStarted: (command: string, container: string, code: number) =>
    `${command}: could not be started in container ${container} (exit code ${code}: not found on its PATH, or not executable)`,
};

export class DockerDriver implements Driver {
  readonly name = 'docker' as const;
  private readonly docker: Dockerode;
  private readonly nodeName: string;
  /** Tasks this instance was asked to stop: their exits are reported as `stopped`, not `failed`. */
  private readonly stopRequested = new Set<string>();

  constructor(options: DockerDriverOptions) {
    this.docker = options.docker;
    this.nodeName = options.nodeName;
  }

  async start(launch: TaskLaunch): Promise<RunningTask> {
    const binds = new Map<string, string[]>();
    for (const container of launch.containers) {
      if (!container.image) throw new Error(messages.noImage(container.name));
      const placed = dockerBinds(container);
      if (!placed.ok) throw new Error(placed.message);
      binds.set(container.name, placed.value);
    }
    await Promise.all([...new Set(launch.containers.map((c) => c.image!))].map((image) => this.requireImage(image)));

    const leftovers = await this.containersOf(launch.taskUid);
    if (leftovers.length === launch.containers.length && leftovers.every((c) => c.State === 'running')) {
      return this.describe(launch.taskUid); // already started: start is idempotent
    }
    // Leftovers of a start that did not finish (the agent died between create and start).
    await this.removeContainers(leftovers.map((c) => c.Id));

    const created: Dockerode.Container[] = [];
    try {
      for (const container of launch.containers) created.push(await this.create(launch, container, binds.get(container.name)!));
      // A pod's containers start together: create them all first, then start them at once.
      const results = await Promise.allSettled(created.map((container) => container.start()));
      const index = results.findIndex((result) => result.status === 'rejected');
      if (index !== -1) {
        const reason = (results[index] as PromiseRejectedResult).reason;
        throw new Error(messages.startFailed(launch.containers[index]!.name, dockerMessage(reason)));
      }
    } catch (error) {
      await this.removeContainers(created.map((c) => c.id));
      throw error;
    }
    return this.describe(launch.taskUid);
  }

  async stop(taskUid: string, gracePeriodSeconds: number): Promise<void> {
    this.stopRequested.add(taskUid);
    const containers = await this.containersOf(taskUid);
    // `docker stop -t`: SIGTERM (the image's StopSignal), then SIGKILL after t seconds.
    const t = Math.max(0, Math.ceil(gracePeriodSeconds));
    await Promise.all(
      containers
        .filter((c) => c.State === 'running' || c.State === 'restarting' || c.State === 'paused')
        .map((c) => this.docker.getContainer(c.Id).stop({ t }).catch(ignoreStatus(304, 404))),
    );
  }

  async remove(taskUid: string): Promise<void> {
    await this.removeContainers((await this.containersOf(taskUid)).map((c) => c.Id));
    this.stopRequested.delete(taskUid);
  }

  async list(): Promise<RunningTask[]> {
    const containers = await this.docker.listContainers({ all: true, filters: { label: [this.nodeLabel()] } });
    const uids = [...new Set(containers.map((c) => c.Labels[LABELS.taskUid]).filter((uid): uid is string => !!uid))];
    return Promise.all(uids.map((uid) => this.describe(uid)));
  }

  watchExits(): Observable<TaskExit> {
    return new Observable<TaskExit>((subscriber) => {
      let stream: NodeJS.ReadableStream | undefined;
      let closed = false;
      // Exits are inspected (for OOMKilled and the finish time) one after another, to keep their order.
      let queue = Promise.resolve();
      const onEvent = (event: unknown) => {
        queue = queue
          .then(() => this.exitFromEvent(event as DieEvent))
          .then((exit) => {
            if (exit && !closed) subscriber.next(exit);
          });
      };
      // `since` (fractional seconds) replays what happened between this call and the moment the stream is open.
      const since = Date.now() / 1000;
      this.docker
        .getEvents({ since, filters: { type: ['container'], event: ['die'], label: [this.nodeLabel()] } })
        .then((events) => {
          stream = events;
          if (closed) return void (events as Readable).destroy();
          events.on('data', jsonLines(onEvent));
          events.on('error', (error: Error) => subscriber.error(error));
          events.on('end', () => subscriber.error(new Error('the Docker events stream ended (did dockerd stop?)')));
        })
        .catch((error: unknown) => subscriber.error(error));
      return () => {
        closed = true;
        (stream as Readable | undefined)?.destroy();
      };
    });
  }

  async exec(taskUid: string, container: string, command: string, timeoutMs: number): Promise<ExecResult> {
    const target = await this.containerNamed(taskUid, container);
    const exec = await this.docker.getContainer(target).exec({
      Cmd: ['/bin/sh', '-c', command],
      AttachStdout: true,
      AttachStderr: true,
    });
    const stream = await exec.start({ hijack: true, stdin: false });
    const chunks: Buffer[] = [];
    let size = 0;
    const output = stream.pipe(demuxFrames('all'));
    output.on('data', (chunk: Buffer) => {
      if (size < MAX_EXEC_OUTPUT) chunks.push(chunk);
      size += chunk.length;
    });
    const finished = new Promise<'exited'>((resolve) => {
      output.on('end', () => resolve('exited'));
      output.on('error', () => resolve('exited'));
    });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timedOut'>((resolve) => (timer = setTimeout(() => resolve('timedOut'), timeoutMs)));
    const status = await Promise.race([finished, timedOut]);
    clearTimeout(timer);
    const text = Buffer.concat(chunks).subarray(0, MAX_EXEC_OUTPUT).toString('utf8');
    if (status === 'timedOut') {
      stream.destroy();
      await killExec(exec);
      return { status: 'timedOut', output: text };
    }
    const inspected = await exec.inspect();
    return { status: 'exited', exitCode: inspected.ExitCode ?? -1, output: text };
  }

  async execStream(taskUid: string, request: ExecRequest): Promise<ExecSession> {
    const target = this.docker.getContainer(await this.containerNamed(taskUid, request.container));
    const { State, Config } = await target.inspect();
    const name = Config.Labels[LABELS.container] ?? request.container ?? '(first)';
    if (!State.Running) throw new Error(messages.notRunning(name, State.Status));
    const withStdin = request.stdin !== undefined;
    const exec = await target.exec({ Cmd: request.command, AttachStdin: withStdin, AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({ hijack: true, stdin: withStdin });
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    stream.on('data', demuxExec({ stdout: (payload) => stdout.write(payload), stderr: (payload) => stderr.write(payload) }));
    // Ending the input half-closes the hijacked connection: the engine closes the command's stdin.
    if (request.stdin) request.stdin.pipe(stream);
    const exited = new Promise<number>((resolve) => {
      let settled = false;
      const finish = () => {
        if (settled) return;
        settled = true;
        exec.inspect().then(
          (info) => {
            // A command that never started (not found, not executable): the engine's own error text
            // arrives in a malformed frame and is easily lost, so say it in a sentence of ours.
            if (info.Pid === 0 && (info.ExitCode === 126 || info.ExitCode === 127)) stderr.write(`${messages.execNotStarted(request.command[0]!, name, info.ExitCode)}\n`);
            stdout.end();
            stderr.end();
            resolve(info.ExitCode ?? -1);
          },
          () => {
            stdout.end();
            stderr.end();
            resolve(-1);
          },
        );
      };
      stream.once('end', finish);
      stream.once('close', finish);
      stream.once('error', finish);
    });
    return {
      stdout,
      stderr,
      exited,
      kill: () => {
        void killExec(exec);
        stream.destroy();
      },
    };
  }

  logs(taskUid: string, options: LogOptions = {}): Readable {
    const out = new PassThrough();
    const selection = options.stream ?? 'all';
    (async () => {
      const target = await this.containerNamed(taskUid, options.container);
      const container = this.docker.getContainer(target);
      const both = { stdout: true, stderr: true, ...(options.tail !== undefined ? { tail: options.tail } : {}) };
      const source = options.follow
        ? ((await container.logs({ ...both, follow: true })) as unknown as Readable)
        : Readable.from([(await container.logs({ ...both, follow: false })) as Buffer]);
      source.on('error', (error) => out.destroy(error));
      source.pipe(demuxFrames(selection)).pipe(out);
      out.on('close', () => source.destroy());
    })().catch((error: unknown) => out.destroy(error as Error));
    return out;
  }

  async close(): Promise<void> {
    // Nothing held between calls: event streams belong to their subscriptions.
  }

  // --- helpers --------------------------------------------------------------------------------

  private nodeLabel(): string {
    return `${LABELS.node}=${this.nodeName}`;
  }

  private async requireImage(image: string): Promise<void> {
    try {
      await this.docker.getImage(image).inspect();
    } catch (error) {
      if (statusOf(error) === 404) throw new Error(messages.imageMissing(image, this.nodeName));
      throw error;
    }
  }

  private create(launch: TaskLaunch, container: ContainerLaunch, binds: string[]): Promise<Dockerode.Container> {
    const env = taskEnvironment(launch, container);
    const { cpus, mem } = container.resources;
    return this.docker.createContainer({
      name: `capstan.${this.nodeName}.${launch.namespace}.${launch.taskName}.${container.name}.${launch.taskUid.slice(0, 8)}`,
      Image: container.image!,
      // cmd: the shell form, as Marathon's `cmd`; args: the exec form, given to the image's entrypoint.
      ...(container.cmd !== undefined
        ? { Entrypoint: ['/bin/sh', '-c', container.cmd], Cmd: [] }
        : container.args !== undefined
          ? { Cmd: container.args }
          : {}),
      Env: Object.entries(env).map(([key, value]) => `${key}=${value}`),
      Labels: {
        [LABELS.taskUid]: launch.taskUid,
        [LABELS.task]: launch.taskName,
        [LABELS.app]: launch.app,
        [LABELS.namespace]: launch.namespace,
        [LABELS.container]: container.name,
        [LABELS.node]: this.nodeName,
      },
      StopTimeout: Math.ceil(launch.killGracePeriodSeconds),
      HostConfig: {
        NetworkMode: 'host',
        // docker-init (tini) as PID 1: the kernel gives PID 1 no default signal actions, so without it
        // a workload that installs no SIGTERM handler (busybox httpd, sleep) would ignore every stop
        // and always wait out the grace period. With it, SIGTERM behaves as in the process driver.
        Init: true,
        // Binds rather than Mounts: the engine creates a missing host directory instead of refusing
        // it, as the process driver does, so a hostPath volume behaves alike in both runtimes.
        ...(binds.length > 0 ? { Binds: binds } : {}),
        ...(cpus > 0 ? { NanoCpus: Math.round(cpus * 1e9) } : {}),
        ...(mem > 0 ? { Memory: Math.round(mem * 1024 * 1024) } : {}),
      },
    });
  }

  private containersOf(taskUid: string): Promise<Dockerode.ContainerInfo[]> {
    return this.docker.listContainers({
      all: true,
      filters: { label: [this.nodeLabel(), `${LABELS.taskUid}=${taskUid}`] },
    });
  }

  private async containerNamed(taskUid: string, container: string | undefined): Promise<string> {
    const containers = await this.containersOf(taskUid);
    // Without a name, the task's first container: launch order is kept by creation time.
    const sorted = [...containers].sort((a, b) => a.Created - b.Created);
    const found = container === undefined ? sorted[0] : sorted.find((c) => c.Labels[LABELS.container] === container);
    if (!found) throw new Error(messages.unknownTask(taskUid, container ?? '(any)'));
    return found.Id;
  }

  private async removeContainers(ids: string[]): Promise<void> {
    await Promise.all(ids.map((id) => this.docker.getContainer(id).remove({ force: true }).catch(ignoreStatus(404, 409))));
  }

  private async describe(taskUid: string): Promise<RunningTask> {
    const summaries = await this.containersOf(taskUid);
    const inspected = await Promise.all(summaries.map((c) => this.docker.getContainer(c.Id).inspect()));
    inspected.sort((a, b) => a.Created.localeCompare(b.Created));
    const labels = inspected[0]?.Config.Labels ?? {};
    return {
      taskUid,
      taskName: labels[LABELS.task] ?? '',
      namespace: labels[LABELS.namespace] ?? '',
      app: labels[LABELS.app] ?? '',
      containers: inspected.map((info) => this.containerState(taskUid, info)),
    };
  }

  private containerState(taskUid: string, info: Dockerode.ContainerInspectInfo): ContainerState {
    const name = info.Config.Labels[LABELS.container] ?? info.Name;
    const { State } = info;
    if (State.Running) return { name, state: 'running', pid: State.Pid, startedAt: State.StartedAt };
    const neverStarted = State.Status === 'created';
    const exit = neverStarted
      ? { ...describeExit(null, { stopRequested: false }), reason: 'was created but never started' }
      : describeExit(State.ExitCode, {
          stopRequested: this.stopRequested.has(taskUid),
          oomKilled: State.OOMKilled,
          finishedAt: State.FinishedAt,
        });
    return { name, state: 'exited', startedAt: State.StartedAt, exit };
  }

  private async exitFromEvent(event: DieEvent): Promise<TaskExit | undefined> {
    const attributes = event.Actor?.Attributes ?? {};
    const taskUid = attributes[LABELS.taskUid];
    const container = attributes[LABELS.container];
    if (!taskUid || !container) return undefined;
    const exitCode = attributes.exitCode === undefined ? null : Number(attributes.exitCode);
    let oomKilled = false;
    try {
      oomKilled = (await this.docker.getContainer(event.Actor!.ID).inspect()).State.OOMKilled;
    } catch {
      // removed already: the event is all we know
    }
    const finishedAt = event.timeNano ? new Date(Math.floor(event.timeNano / 1e6)).toISOString() : undefined;
    const exit = describeExit(exitCode, { stopRequested: this.stopRequested.has(taskUid), oomKilled, finishedAt });
    return { taskUid, container, ...exit };
  }
}

interface DieEvent {
  Type?: string;
  Action?: string;
  Actor?: { ID: string; Attributes?: Record<string, string> };
  timeNano?: number;
}

function statusOf(error: unknown): number | undefined {
  return (error as { statusCode?: number }).statusCode;
}

function dockerMessage(error: unknown): string {
  const json = (error as { json?: { message?: string } }).json;
  return json?.message ?? (error instanceof Error ? error.message : String(error));
}

/** For calls whose listed HTTP statuses mean "already done" (304 not modified, 404 gone, 409 in progress). */
function ignoreStatus(...statuses: number[]): (error: unknown) => void {
  return (error) => {
    if (!statuses.includes(statusOf(error) ?? 0)) throw error;
  };
}

/**
 * Docker has no API to stop an exec; its process is a host process (same pid namespace as the engine,
 * which is local to the agent), so a timed-out check is SIGKILLed directly.
 */
async function killExec(exec: Dockerode.Exec): Promise<void> {
  try {
    const info = await exec.inspect();
    if (info.Running && info.Pid > 0) process.kill(info.Pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
