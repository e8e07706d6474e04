// Both workload drivers against the real thing: a private dockerd with the busybox image, and real
// detached processes. Every wait is a bounded poll on observable state.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Subscription } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findReachableDocker } from '../cli/local/dockerd.ts';
import {
  taskOutcome,
  type ContainerLaunch,
  type ContainerMount,
  type Driver,
  type TaskExit,
  type TaskLaunch,
} from '../runtime/driver.ts';
import { DockerDriver } from '../runtime/drivers/docker.ts';
import { ProcessDriver } from '../runtime/drivers/process.ts';
import { startDocker, type TestDocker } from './helpers/dockerd.ts';
import { until } from './helpers/poll.ts';
import { freePort } from './helpers/ports.ts';

const NODE = 'n1';
const resources = { cpus: 0.1, mem: 32, disk: 0, gpus: 0 };

let docker: TestDocker;
let stateDir: string;
/** Drivers the tests made, closed and cleaned in afterAll. */
const drivers: Driver[] = [];
const timings: string[] = [];

beforeAll(async () => {
  const started = Date.now();
  docker = await startDocker();
  timings.push(`dockerd start + busybox import: ${Date.now() - started} ms`);
  stateDir = mkdtempSync(join(tmpdir(), 'capstan-process-'));
});

afterAll(async () => {
  for (const driver of drivers) {
    for (const task of await driver.list().catch(() => [])) await driver.remove(task.taskUid).catch(() => undefined);
    await driver.close();
  }
  await docker?.stop();
  for (const dir of hostDirs) rmSync(dir, { recursive: true, force: true });
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  console.log(timings.join('\n'));
});

const makers: Record<'docker' | 'process', () => Driver> = {
  docker: () => new DockerDriver({ docker: docker.docker, nodeName: NODE }),
  process: () => new ProcessDriver({ stateDir, pollIntervalMs: 50 }),
};

/** Host directories the mount tests made, removed in afterAll. */
const hostDirs: string[] = [];

function hostDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'capstan-volume-'));
  hostDirs.push(dir);
  return dir;
}

function make(kind: 'docker' | 'process'): Driver {
  const driver = makers[kind]();
  drivers.push(driver);
  return driver;
}

function container(name: string, command: Pick<ContainerLaunch, 'cmd' | 'args'>, env: Record<string, string> = {}): ContainerLaunch {
  return { name, image: docker.image, env, resources, ...command };
}

function task(containers: ContainerLaunch[], ports: TaskLaunch['ports'] = [], grace = 10): TaskLaunch {
  const taskUid = randomUUID();
  return {
    taskUid,
    taskName: `web-${taskUid.slice(0, 6)}`,
    namespace: 'shop',
    app: 'web',
    containers,
    ports,
    host: '127.0.0.1',
    env: { GREETING: 'hello' },
    killGracePeriodSeconds: grace,
  };
}

/** Serves "<PORT_HTTP> <CAPSTAN_APP> <GREETING>" from a fresh directory: in the sandbox, or /tmp in a container. */
const HTTPD =
  'cd "${CAPSTAN_SANDBOX:-/tmp}" && mkdir -p www && echo "$PORT_HTTP $CAPSTAN_APP $GREETING" > www/index.html && exec busybox httpd -f -p $PORT0 -h www';

async function httpdTask(): Promise<TaskLaunch> {
  return task([container('main', { cmd: HTTPD })], [{ name: 'http', hostPort: await freePort() }]);
}

async function get(port: number): Promise<string | undefined> {
  const response = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1_000) });
  return response.ok ? response.text() : undefined;
}

function watch(driver: Driver): { exits: TaskExit[]; subscription: Subscription } {
  const exits: TaskExit[] = [];
  const subscription = driver.watchExits().subscribe({ next: (exit) => exits.push(exit), error: () => undefined });
  return { exits, subscription };
}

function exitOf(exits: TaskExit[], taskUid: string, container = 'main'): TaskExit | undefined {
  return exits.find((exit) => exit.taskUid === taskUid && exit.container === container);
}

async function text(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

async function pidOf(driver: Driver, taskUid: string, name = 'main'): Promise<number> {
  const found = (await driver.list()).find((t) => t.taskUid === taskUid)?.containers.find((c) => c.name === name);
  if (!found?.pid) throw new Error(`no pid for ${taskUid}/${name}`);
  return found.pid;
}

describe.each(['docker', 'process'] as const)('the %s driver', (kind) => {
  let driver: Driver;
  beforeAll(() => {
    driver = make(kind);
  });

  it('starts busybox httpd on the allocated port, with the task environment', async () => {
    const launch = await httpdTask();
    const port = launch.ports[0]!.hostPort;
    const before = Date.now();
    const running = await driver.start(launch);
    const started = Date.now();
    const body = await until(() => get(port), { what: `httpd on ${port}` });
    timings.push(`${kind}: start() ${started - before} ms, serving HTTP after ${Date.now() - before} ms`);
    expect(running.containers).toMatchObject([{ name: 'main', state: 'running' }]);
    expect(body.trim()).toBe(`${port} web hello`);
  });

  it('runs COMMAND checks with exec: output, exit code, and a timeout', async () => {
    const launch = await httpdTask();
    await driver.start(launch);
    const result = await driver.exec(launch.taskUid, 'main', 'echo "$CAPSTAN_NAMESPACE $PORT"; exit 3', 5_000);
    expect(result).toEqual({ status: 'exited', exitCode: 3, output: `shop ${launch.ports[0]!.hostPort}\n` });
    const before = Date.now();
    const slow = await driver.exec(launch.taskUid, 'main', 'sleep 5', 300);
    expect(slow.status).toBe('timedOut');
    expect(Date.now() - before).toBeLessThan(2_000);
  });

  it('returns the logs of an exec-form (args) task, and follows them until the exit', async () => {
    const launch = task([
      container('main', { args: ['/bin/busybox', 'sh', '-c', 'echo out-line; echo err-line >&2; sleep 0.3; echo last-line'] }),
    ]);
    await driver.start(launch);
    const followed = await text(driver.logs(launch.taskUid, { follow: true }));
    expect(followed).toContain('out-line\n');
    expect(followed).toContain('err-line\n');
    expect(followed).toContain('last-line\n');
    expect(await text(driver.logs(launch.taskUid, { stream: 'stderr' }))).toBe('err-line\n');
  });

  it('reports a kill -9 of the workload as an exit by SIGKILL', async () => {
    const { exits, subscription } = watch(driver);
    const launch = task([container('main', { cmd: 'exec sleep 100' })]);
    await driver.start(launch);
    process.kill(await pidOf(driver, launch.taskUid), 'SIGKILL');
    const exit = await until(() => exitOf(exits, launch.taskUid), { what: 'the exit report' });
    subscription.unsubscribe();
    expect(exit).toMatchObject({ exitCode: 137, signal: 'SIGKILL', outcome: 'failed', reason: 'killed by SIGKILL' });
    const listed = (await driver.list()).find((t) => t.taskUid === launch.taskUid)!;
    expect(taskOutcome(listed.containers)).toBe('failed');
  });

  it('stops with SIGTERM first, and SIGKILLs a workload that ignores it after the grace period', async () => {
    const { exits, subscription } = watch(driver);
    const polite = task([container('main', { cmd: "trap 'exit 0' TERM; echo trapped; sleep 100 & wait" })]);
    const stubborn = task([container('main', { cmd: "trap '' TERM; echo trapped; sleep 100 & wait; sleep 100" })]);
    await Promise.all([driver.start(polite), driver.start(stubborn)]);
    // A signal that arrives before the shell has set its trap would take the default action.
    for (const launch of [polite, stubborn]) {
      await until(async () => (await text(driver.logs(launch.taskUid))).includes('trapped'), { what: 'the traps' });
    }

    let before = Date.now();
    await driver.stop(polite.taskUid, 10);
    const politeMs = Date.now() - before;
    before = Date.now();
    await driver.stop(stubborn.taskUid, 1);
    const stubbornMs = Date.now() - before;
    timings.push(`${kind}: stop of a polite task ${politeMs} ms, of one ignoring SIGTERM with 1 s grace ${stubbornMs} ms`);

    expect(politeMs).toBeLessThan(3_000);
    expect(stubbornMs).toBeGreaterThanOrEqual(900);
    expect(stubbornMs).toBeLessThan(4_000);
    const politeExit = await until(() => exitOf(exits, polite.taskUid), { what: 'the polite exit' });
    const stubbornExit = await until(() => exitOf(exits, stubborn.taskUid), { what: 'the stubborn exit' });
    subscription.unsubscribe();
    expect(politeExit).toMatchObject({ exitCode: 0, outcome: 'stopped' });
    expect(stubbornExit).toMatchObject({ signal: 'SIGKILL', outcome: 'stopped' });
  });

  it('fails a pod as soon as one of its containers exits with 1', async () => {
    const { exits, subscription } = watch(driver);
    const pod = task([container('server', { cmd: 'exec sleep 100' }), container('sidecar', { cmd: 'sleep 0.2; exit 1' })]);
    const running = await driver.start(pod);
    expect(running.containers.map((c) => c.name)).toEqual(['server', 'sidecar']);
    const exit = await until(() => exitOf(exits, pod.taskUid, 'sidecar'), { what: 'the sidecar exit' });
    expect(exit).toMatchObject({ exitCode: 1, signal: null, outcome: 'failed', reason: 'exited with code 1' });
    const listed = (await driver.list()).find((t) => t.taskUid === pod.taskUid)!;
    expect(listed.containers.find((c) => c.name === 'server')?.state).toBe('running');
    expect(taskOutcome(listed.containers)).toBe('failed');
    // What the agent does next: stop the rest.
    await driver.stop(pod.taskUid, 1);
    expect(await until(() => exitOf(exits, pod.taskUid, 'server'), { what: 'the server exit' })).toMatchObject({
      outcome: 'stopped',
    });
    subscription.unsubscribe();
    await driver.remove(pod.taskUid);
    expect((await driver.list()).some((t) => t.taskUid === pod.taskUid)).toBe(false);
  });

  it('lets a new driver instance adopt a running task, see its exit, and stop another', async () => {
    const first = make(kind);
    const killed = await httpdTask();
    const stopped = await httpdTask();
    await Promise.all([first.start(killed), first.start(stopped)]);
    // The first agent goes away; its workloads must not.
    await first.close();

    const second = make(kind);
    const { exits, subscription } = watch(second);
    const adopted = await second.list();
    for (const launch of [killed, stopped]) {
      expect(adopted.find((t) => t.taskUid === launch.taskUid)).toMatchObject({
        taskName: launch.taskName,
        namespace: 'shop',
        app: 'web',
        containers: [{ name: 'main', state: 'running' }],
      });
      await until(() => get(launch.ports[0]!.hostPort), { what: 'the adopted httpd' });
    }

    process.kill(await pidOf(second, killed.taskUid), 'SIGKILL');
    expect(await until(() => exitOf(exits, killed.taskUid), { what: 'the adopted exit' })).toMatchObject({
      exitCode: 137,
      signal: 'SIGKILL',
      outcome: 'failed',
    });
    await second.stop(stopped.taskUid, 5);
    await until(() => exitOf(exits, stopped.taskUid), { what: 'the stopped adopted exit' });
    subscription.unsubscribe();
    await expect(get(stopped.ports[0]!.hostPort)).rejects.toThrow();
  });
});

describe('the docker driver, specifically', () => {
  it('finds the engine reachable at its socket, and says why not elsewhere', async () => {
    expect(await findReachableDocker(docker.engine.socketPath)).toMatchObject({ reachable: true });
    expect(await findReachableDocker(join(docker.dir, 'nothing.sock'))).toMatchObject({
      reachable: false,
      reason: 'no socket there',
    });
  });

  it('refuses an image that is not on the node, saying there is no registry', async () => {
    const driver = make('docker');
    const launch = task([{ ...container('main', { cmd: 'true' }), image: 'local/x:1' }]);
    await expect(driver.start(launch)).rejects.toThrow(
      'image local/x:1 is not present on node n1 and there is no registry to pull from',
    );
    expect(await driver.list()).not.toContainEqual(expect.objectContaining({ taskUid: launch.taskUid }));
  });

  it('shows each agent only the containers of its own node', async () => {
    const mine = make('docker');
    const launch = task([container('main', { cmd: 'exec sleep 100' })]);
    await mine.start(launch);
    const other = new DockerDriver({ docker: docker.docker, nodeName: 'n2' });
    expect(await other.list()).toEqual([]);
    expect((await mine.list()).map((t) => t.taskUid)).toContain(launch.taskUid);
    await mine.remove(launch.taskUid);
  });
});

describe('the process driver, specifically', () => {
  it('refuses a container with neither cmd nor args', async () => {
    const driver = make('process');
    await expect(driver.start(task([{ name: 'main', env: {}, resources }]))).rejects.toThrow(
      'container main needs exactly one of cmd or args for the process driver',
    );
  });
});

describe('mounts and the pod environment, in both runtimes', () => {
  /** What the agent does for a mixed pod: one task uid, its Docker containers to one driver, its process containers to the other. */
  function pod(containers: { docker: ContainerLaunch; process: ContainerLaunch }, ports: TaskLaunch['ports'] = []) {
    const launch = task([containers.docker, containers.process], ports);
    return {
      taskUid: launch.taskUid,
      docker: { ...launch, containers: [containers.docker] },
      process: { ...launch, containers: [containers.process] },
    };
  }

  function processContainer(name: string, cmd: string, mounts: ContainerMount[]): ContainerLaunch {
    return { name, cmd, env: {}, resources, mounts };
  }

  /** Waits for a line of the container's output that starts with `prefix`, and returns the rest of it. */
  async function line(driver: Driver, taskUid: string, container: string, prefix: string): Promise<string> {
    return until(
      async () => {
        const found = (await text(driver.logs(taskUid, { container }))).split('\n').find((l) => l.startsWith(prefix));
        return found?.slice(prefix.length);
      },
      { what: `"${prefix}" in the output of ${container}` },
    );
  }

  it('lets a Docker container and a process container share one host directory, each reading what the other wrote', async () => {
    const shared = hostDir();
    const dockerDriver = make('docker');
    const processDriver = make('process');
    const both = pod({
      docker: container(
        'web',
        { cmd: 'echo from-docker > /shared/docker.txt; until [ -f /shared/process.txt ]; do sleep 0.1; done; echo "read: $(cat /shared/process.txt)"; exec sleep 100' },
      ),
      process: processContainer(
        'fetcher',
        'echo from-process > shared/process.txt; until [ -f shared/docker.txt ]; do sleep 0.1; done; echo "read: $(cat shared/docker.txt)"; exec sleep 100',
        [{ hostPath: shared, mountPath: 'shared', readOnly: false }],
      ),
    });
    both.docker.containers[0]!.mounts = [{ hostPath: shared, mountPath: '/shared', readOnly: false }];
    await Promise.all([dockerDriver.start(both.docker), processDriver.start(both.process)]);

    expect(await line(dockerDriver, both.taskUid, 'web', 'read: ')).toBe('from-process');
    expect(await line(processDriver, both.taskUid, 'fetcher', 'read: ')).toBe('from-docker');
    // COMMAND checks beside the process container see the mount too.
    expect(await processDriver.exec(both.taskUid, 'fetcher', 'cat shared/docker.txt', 5_000)).toEqual({
      status: 'exited',
      exitCode: 0,
      output: 'from-docker\n',
    });

    // Removing the task removes the sandbox and its link, never the host directory's files.
    await Promise.all([dockerDriver.remove(both.taskUid), processDriver.remove(both.taskUid)]);
    expect(existsSync(join(stateDir, 'tasks', both.taskUid))).toBe(false);
    expect(readdirSync(shared).sort()).toEqual(['docker.txt', 'process.txt']);
    expect(readFileSync(join(shared, 'docker.txt'), 'utf8')).toBe('from-docker\n');
  });

  it('refuses writes to a read-only mount in both runtimes, while reads work', async () => {
    const config = hostDir();
    writeFileSync(join(config, 'seed'), 'seeded\n');
    const dockerDriver = make('docker');
    const processDriver = make('process');
    const tryWrite = (dir: string) =>
      `echo "seed: $(cat ${dir}/seed)"; if touch ${dir}/written 2>/dev/null; then echo "write: allowed"; else echo "write: refused"; fi; exec sleep 100`;
    const both = pod({
      docker: { ...container('web', { cmd: tryWrite('/config') }), mounts: [{ hostPath: config, mountPath: '/config', readOnly: true }] },
      process: processContainer('sidecar', tryWrite('etc/config'), [{ hostPath: config, mountPath: 'etc/config', readOnly: true }]),
    });
    await Promise.all([dockerDriver.start(both.docker), processDriver.start(both.process)]);

    for (const [driver, name] of [[dockerDriver, 'web'], [processDriver, 'sidecar']] as const) {
      expect(await line(driver, both.taskUid, name, 'seed: ')).toBe('seeded');
      expect(await line(driver, both.taskUid, name, 'write: ')).toBe('refused');
    }
    // A command beside the process container runs in its mount namespace: read-only there too.
    const beside = await processDriver.exec(both.taskUid, 'sidecar', 'cat etc/config/seed; touch etc/config/written', 5_000);
    expect(beside).toMatchObject({ status: 'exited', output: expect.stringContaining('seeded\n') });
    expect(beside.status === 'exited' && beside.exitCode).not.toBe(0);
    expect(readdirSync(config)).toEqual(['seed']);
    // A restarted agent's driver still runs such commands in the container's namespace.
    const adopting = make('process');
    expect(await adopting.exec(both.taskUid, 'sidecar', 'touch etc/config/written', 5_000)).toMatchObject({ status: 'exited', exitCode: 1 });

    await Promise.all([dockerDriver.remove(both.taskUid), processDriver.remove(both.taskUid)]);
    expect(readdirSync(config)).toEqual(['seed']);
  });

  it('refuses a read-only mount in a process container when bind mounts are off, saying what to do', async () => {
    const driver = new ProcessDriver({ stateDir, pollIntervalMs: 50, readOnlyMounts: 'refuse' });
    drivers.push(driver);
    const launch = task([processContainer('main', 'exec sleep 100', [{ hostPath: hostDir(), mountPath: 'data', readOnly: true }])]);
    await expect(driver.start(launch)).rejects.toThrow(
      'container main mounts data read-only, which a process container gets only from an agent running as root',
    );
    expect(existsSync(join(stateDir, 'tasks', launch.taskUid))).toBe(false);
  });

  it('says which mount failed when its host path is a file', async () => {
    const file = join(hostDir(), 'file');
    writeFileSync(file, '');
    const launch = task([processContainer('main', 'exec sleep 100', [{ hostPath: file, mountPath: 'data', readOnly: false }])]);
    await expect(make('process').start(launch)).rejects.toThrow(`container main could not mount ${file} at data: EEXIST`);
  });

  it.each([
    ['docker', '/data', 'data', 'mountPath "data" must be absolute in a Docker container'],
    ['process', 'data', '/data', 'mountPath "/data" must be relative in a process container'],
  ] as const)('refuses a %s container mounting at the other runtime\'s kind of path', async (kind, _right, wrong, message) => {
    const driver = make(kind);
    const base = kind === 'docker' ? container('main', { cmd: 'true' }) : processContainer('main', 'true', []);
    const launch = task([{ ...base, mounts: [{ hostPath: hostDir(), mountPath: wrong, readOnly: false }] }]);
    await expect(driver.start(launch)).rejects.toThrow(message);
  });

  it('gives every container the endpoint address and port by name, and process containers MESOS_SANDBOX', async () => {
    const port = await freePort();
    const dockerDriver = make('docker');
    const processDriver = make('process');
    const show = 'echo "env: $EP_HOST_HTTP $PORT_HTTP ${MESOS_SANDBOX:-none}"; exec sleep 100';
    const both = pod({ docker: container('web', { cmd: show }), process: processContainer('sidecar', show, []) }, [
      { name: 'http', hostPort: port },
    ]);
    await Promise.all([dockerDriver.start(both.docker), processDriver.start(both.process)]);
    expect(await line(dockerDriver, both.taskUid, 'web', 'env: ')).toBe(`127.0.0.1 ${port} none`);
    expect(await line(processDriver, both.taskUid, 'sidecar', 'env: ')).toBe(
      `127.0.0.1 ${port} ${join(stateDir, 'tasks', both.taskUid, 'sidecar')}`,
    );
    await Promise.all([dockerDriver.remove(both.taskUid), processDriver.remove(both.taskUid)]);
  });
});
