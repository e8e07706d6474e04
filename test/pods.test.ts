// Pods and volumes on one node agent (`capstan agent` in its own OS process, a real etcd, a private
// real dockerd, real processes): a pod mixing a Docker container and a process container, sharing
// the node's loopback and an ephemeral volume; per-container status, logs and exec; one container's
// death failing the pod as a whole; adoption of both parts after kill -9 of the agent; a persistent
// Volume's directory made, reported and removed. Tasks and Volumes are created as the scheduler
// leaves them. Every wait is a bounded poll on observable state.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import type { TaskSpec, TaskStatus } from '../api/kinds/task.ts';
import { volumeObjectName, type VolumeSpec, type VolumeStatus } from '../api/kinds/volume.ts';
import { AGENT_FINALIZER, APP_LABEL, VOLUME_FINALIZER } from '../api/kinds/wellknown.ts';
import { nodeTaskIndexEntry } from '../api/node-index.ts';
import { getCondition, type CapstanObject } from '../api/object.ts';
import { LABELS } from '../runtime/drivers/docker.ts';
import { removeProcessTasks, startAgentProcess, type AgentProcess } from './helpers/agent-process.ts';
import { spawnCapstan } from './helpers/cli.ts';
import { startDocker, type TestDocker } from './helpers/dockerd.ts';
import { useStore } from './helpers/etcd.ts';
import { until } from './helpers/poll.ts';
import { freePort } from './helpers/ports.ts';

type Task = CapstanObject<TaskSpec, TaskStatus>;
type Volume = CapstanObject<VolumeSpec, VolumeStatus>;
const NODE = 'p1';
const NS = 'default';

const db = useStore(builtinRegistry());
let docker: TestDocker;
let stateDir: string;
let agent: AgentProcess;

beforeAll(async () => {
  docker = await startDocker();
  stateDir = mkdtempSync(join(tmpdir(), 'capstan-pods-'));
  agent = launchAgent();
  await agent.started;
});

afterAll(async () => {
  await agent?.kill();
  if (stateDir) {
    await removeProcessTasks(stateDir);
    rmSync(stateDir, { recursive: true, force: true });
  }
  await docker?.stop();
});

function launchAgent(): AgentProcess {
  return startAgentProcess({ etcd: db.etcd.url, node: NODE, stateDir, dockerSocket: docker.engine.socketPath, leaseTtlSeconds: 2 });
}

const cli = (args: string[]) => spawnCapstan(args, { env: { CAPSTAN_ETCD: db.etcd.url, HOME: '/nonexistent' } });
const getTask = (name: string) => db.store.get<Task>('Task', { namespace: NS, name });
const dockerContainersOf = (uid: string) => docker.docker.listContainers({ all: true, filters: { label: [`${LABELS.taskUid}=${uid}`] } });

async function untilPhase(name: string, phase: TaskStatus['phase'], timeoutMs = 15_000): Promise<Task> {
  return until(
    async () => {
      const task = await getTask(name);
      return task?.status?.phase === phase ? task : undefined;
    },
    { timeoutMs, intervalMs: 20, what: `task ${name} to be ${phase}` },
  );
}

/** Creates a Task bound to NODE with its index entry, as the scheduler leaves it. */
/** `template` as a manifest writes it: the store fills the defaults. */
async function boundTask(name: string, spec: { app: string; hostPorts: number[]; slot?: number; template: unknown }): Promise<Task> {
  const task = await db.store.create<Task>({
    apiVersion: 'capstan/v1',
    kind: 'Task',
    metadata: { name, namespace: NS, finalizers: [AGENT_FINALIZER], labels: { [APP_LABEL]: spec.app } },
    spec: { revision: 1, nodeName: NODE, ...spec } as unknown as TaskSpec,
    status: { phase: 'Pending' },
  });
  const { key, value } = nodeTaskIndexEntry({ node: NODE, namespace: NS, name, uid: task.metadata.uid! });
  await db.client.put(key).value(value);
  return task;
}

/**
 * The seed's demo: `web`, busybox httpd under Docker (an image), and `fetch`, a process (no image)
 * that reads web's page over the node's loopback through Marathon's EP_HOST_/PORT_ variables and
 * writes it into the ephemeral volume both mount (at /shared in Docker, data/ in the sandbox).
 */
async function mixedPod(name: string): Promise<{ task: Task; port: number }> {
  const port = await freePort();
  const task = await boundTask(name, {
    app: 'demo',
    hostPorts: [port],
    template: {
      driver: 'docker',
      taskKillGracePeriodSeconds: 1,
      ports: [{ name: 'http' }],
      volumes: [{ name: 'shared', ephemeral: {} }],
      // Each runs where it names: in the Docker container (docker exec), beside the process (its sandbox).
      healthChecks: [
        { protocol: 'COMMAND', command: 'test -f /shared/page.html', container: 'web', delaySeconds: 0, intervalSeconds: 1, gracePeriodSeconds: 60 },
        { protocol: 'COMMAND', command: 'test -f data/page.html', container: 'fetch', delaySeconds: 0, intervalSeconds: 1, gracePeriodSeconds: 60 },
      ],
      containers: [
        {
          name: 'web',
          image: docker.image,
          cmd: 'mkdir -p /www && echo hello-from-docker > /www/index.html && echo web-started && exec busybox httpd -f -p $PORT_HTTP -h /www',
          resources: { cpus: 0.1, mem: 32 },
          volumeMounts: [{ name: 'shared', mountPath: '/shared' }],
        },
        {
          name: 'fetch',
          cmd: 'echo fetch-started; until busybox wget -q -O data/page.html http://$EP_HOST_HTTP:$PORT_HTTP/; do busybox sleep 0.2; done; exec busybox sleep 1000',
          resources: { cpus: 0.1, mem: 32 },
          volumeMounts: [{ name: 'shared', mountPath: 'data' }],
        },
      ],
    },
  });
  return { task, port };
}

const ephemeral = (uid: string) => join(stateDir, 'volumes', 'ephemeral', uid, 'shared');

describe('a pod mixing a Docker container and a process container', () => {
  it('runs both under one task: the process reads the Docker container over localhost, both see the shared volume', async () => {
    const created = Date.now();
    const { task } = await mixedPod('demo-1');
    const running = await untilPhase('demo-1', 'Running');
    console.log(`mixed pod created-bound → Running: ${Date.now() - created} ms`);
    expect(running.status?.runtime?.driver).toBe('docker');
    expect(running.status?.containers).toEqual([
      expect.objectContaining({ name: 'web', runtime: 'docker', state: 'Running', startedAt: expect.any(String) }),
      expect.objectContaining({ name: 'fetch', runtime: 'process', state: 'Running', pid: expect.any(Number) }),
    ]);
    const page = join(ephemeral(task.metadata.uid!), 'page.html');
    await until(() => existsSync(page) && readFileSync(page, 'utf8').includes('hello-from-docker'), { timeoutMs: 15_000, what: 'the process container to fetch the page into the volume' });
    // And the Docker container sees what the process container wrote.
    const seen = await until(
      async () => {
        const run = await cli(['exec', 'demo-1', '-c', 'web', '--', 'cat', '/shared/page.html']);
        return run.code === 0 ? run.stdout : undefined;
      },
      { timeoutMs: 10_000, what: 'exec in the Docker container to read the shared file' },
    );
    expect(seen).toBe('hello-from-docker\n');
    // Both COMMAND checks pass, each in the container it names.
    const healthy = await until(
      async () => {
        const results = (await getTask('demo-1'))?.status?.healthResults ?? [];
        return results.length === 2 && results.every((r) => r.alive) ? results : undefined;
      },
      { timeoutMs: 15_000, what: 'both COMMAND checks to pass' },
    );
    expect(healthy.map((r) => r.index).sort()).toEqual([0, 1]);
  });

  it('capstan logs -c and exec -c reach each container, whichever runtime runs it', async () => {
    await untilPhase('demo-1', 'Running');
    const logsOf = async (container: string, marker: string) =>
      until(
        async () => {
          const run = await cli(['logs', 'demo-1', '-c', container]);
          return run.stdout.includes(marker) ? run.stdout : undefined;
        },
        { timeoutMs: 10_000, what: `the logs of ${container}` },
      );
    expect(await logsOf('web', 'web-started')).not.toContain('fetch-started');
    expect(await logsOf('fetch', 'fetch-started')).not.toContain('web-started');
    // The default container is the template's first: web, under Docker.
    expect((await cli(['logs', 'demo-1'])).stdout).toContain('web-started');
    const inFetch = await cli(['exec', 'demo-1', '-c', 'fetch', '--', 'busybox', 'cat', 'data/page.html']);
    expect(inFetch).toMatchObject({ code: 0, stdout: 'hello-from-docker\n' });
    const inWeb = await cli(['exec', 'demo-1', '-c', 'web', '--', 'cat', '/www/index.html']);
    expect(inWeb).toMatchObject({ code: 0, stdout: 'hello-from-docker\n' });
  });

  it('kill -9 of the agent: the restarted agent adopts both parts (same pid, same container)', async () => {
    const before = await untilPhase('demo-1', 'Running');
    const [container] = await dockerContainersOf(before.metadata.uid!);
    await agent.kill();
    // Written into the shared volume while no agent runs: the pod keeps running by itself.
    writeFileSync(join(ephemeral(before.metadata.uid!), 'while-down'), 'x');
    agent = launchAgent();
    await agent.started;
    // A pass after adoption: another task's start proves the agent has planned its tasks.
    await boundTask('marker', { app: 'other', hostPorts: [], template: { driver: 'process', containers: [{ name: 'main', cmd: 'exec busybox sleep 1000' }] } });
    await untilPhase('marker', 'Running');
    const after = await getTask('demo-1');
    expect(after?.status).toMatchObject({ phase: 'Running', startedAt: before.status!.startedAt, containers: before.status!.containers });
    expect(await dockerContainersOf(before.metadata.uid!)).toEqual([expect.objectContaining({ Id: container!.Id, State: 'running' })]);
    const fetchPid = before.status!.containers!.find((c) => c.name === 'fetch')!.pid!;
    expect(alive(fetchPid)).toBe(true);
    expect(await cli(['exec', 'demo-1', '-c', 'web', '--', 'cat', '/shared/while-down'])).toMatchObject({ code: 0, stdout: 'x' });
    await db.store.delete('Task', { namespace: NS, name: 'marker' });
  });

  it('one container killed fails the pod as a whole: the other part is stopped', async () => {
    const running = await untilPhase('demo-1', 'Running');
    const fetchPid = running.status!.containers!.find((c) => c.name === 'fetch')!.pid!;
    process.kill(fetchPid, 'SIGKILL');
    const failed = await untilPhase('demo-1', 'Failed');
    expect(failed.status).toMatchObject({ message: 'container fetch killed by SIGKILL', signal: 'SIGKILL' });
    expect(failed.status?.containers?.find((c) => c.name === 'fetch')).toMatchObject({ state: 'Exited', runtime: 'process', signal: 'SIGKILL', reason: 'Error' });
    await until(async () => (await dockerContainersOf(failed.metadata.uid!)).every((c) => c.State === 'exited'), { timeoutMs: 15_000, what: 'the Docker part to be stopped' });
  });

  it('deleting the task removes both parts and the ephemeral volume', async () => {
    const task = (await getTask('demo-1'))!;
    const uid = task.metadata.uid!;
    expect(existsSync(ephemeral(uid))).toBe(true);
    await db.store.delete('Task', { namespace: NS, name: 'demo-1' });
    await until(async () => (await getTask('demo-1')) === undefined, { timeoutMs: 15_000, what: 'the deleted pod to go' });
    expect(existsSync(join(stateDir, 'volumes', 'ephemeral', uid))).toBe(false);
    expect(await dockerContainersOf(uid)).toEqual([]);
    expect(existsSync(join(stateDir, 'process', 'tasks', uid))).toBe(false);
  });

  it('a pod whose Docker part cannot start fails whole, leaving no process behind', async () => {
    const task = await boundTask('half', {
      app: 'half',
      hostPorts: [],
      template: {
        driver: 'docker',
        taskKillGracePeriodSeconds: 1,
        containers: [
          { name: 'web', image: 'local/missing:1', cmd: 'true' },
          { name: 'side', cmd: 'exec busybox sleep 1000' },
        ],
      },
    });
    const failed = await untilPhase('half', 'Failed');
    expect(failed.status?.message).toBe(`image local/missing:1 is not present on node ${NODE} and there is no registry to pull from`);
    expect(existsSync(join(stateDir, 'process', 'tasks', task.metadata.uid!))).toBe(false);
  });
});

describe('a persistent Volume on this node', () => {
  it('gets its directory, reported as hostPath; a task of its slot writes there; deleting the Volume removes the directory', async () => {
    const name = volumeObjectName('counter', 'data', 0);
    const volume = await db.store.create<Volume>({
      apiVersion: 'capstan/v1',
      kind: 'Volume',
      metadata: { name, namespace: NS, labels: { [APP_LABEL]: 'counter' }, finalizers: [VOLUME_FINALIZER] },
      spec: { app: 'counter', volume: 'data', slot: 0, size: 16, nodeName: NODE },
    });
    const provisioned = await until(
      async () => {
        const current = await db.store.get<Volume>('Volume', { namespace: NS, name });
        return current?.status?.hostPath && getCondition(current.status.conditions, 'Provisioned')?.status === 'True' ? current : undefined;
      },
      { timeoutMs: 10_000, what: 'the agent to make the directory and report it' },
    );
    const hostPath = provisioned.status!.hostPath!;
    expect(hostPath).toBe(join(stateDir, 'volumes', 'persistent', NS, `${name}-${volume.metadata.uid!.slice(0, 8)}`));
    expect(existsSync(hostPath)).toBe(true);

    await boundTask('counter-0', {
      app: 'counter',
      hostPorts: [],
      slot: 0,
      template: {
        driver: 'process',
        taskKillGracePeriodSeconds: 1,
        volumes: [{ name: 'data', persistent: { size: 16 } }],
        containers: [{ name: 'main', cmd: 'echo one >> data/count; exec busybox sleep 1000', volumeMounts: [{ name: 'data', mountPath: 'data' }] }],
      },
    });
    await untilPhase('counter-0', 'Running');
    await until(() => existsSync(join(hostPath, 'count')), { timeoutMs: 10_000, what: 'the task to write into its volume' });
    expect(readFileSync(join(hostPath, 'count'), 'utf8')).toBe('one\n');

    // The task goes first (the volumes controller deletes the slot's task of a wiped Volume), then the Volume.
    await db.store.delete('Task', { namespace: NS, name: 'counter-0' });
    await until(async () => (await getTask('counter-0')) === undefined, { timeoutMs: 15_000, what: 'the task to go' });
    expect(readFileSync(join(hostPath, 'count'), 'utf8')).toBe('one\n');
    await db.store.delete('Volume', { namespace: NS, name });
    await until(async () => (await db.store.get('Volume', { namespace: NS, name })) === undefined, { timeoutMs: 15_000, what: 'the Volume to be released and go' });
    expect(existsSync(hostPath)).toBe(false);
  });

  it('reports the free disk of its volumes dir as capacity.disk (--disk auto)', async () => {
    const node = await db.store.mustGet<CapstanObject<{ capacity: { disk: number } }>>('Node', { name: NODE });
    expect(node.spec.capacity.disk).toBeGreaterThan(0);
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
