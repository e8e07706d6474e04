// The node agent as a node runs it: `capstan agent` in its own OS process, a real etcd, a private real
// dockerd, real processes. Tasks are created already bound (nodeName, hostPorts, the agent's
// finalizer, and the node's index entry), as the scheduler leaves them. Every wait is a bounded poll on observable state.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeLeaseKey, nodeTaskIndexKey, specKey, statusKey } from '../api/keys.ts';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import type { NodeSpec, NodeStatus } from '../api/kinds/node.ts';
import type { TaskSpec, TaskStatus } from '../api/kinds/task.ts';
import { AGENT_FINALIZER } from '../api/kinds/wellknown.ts';
import { nodeTaskIndexEntry } from '../api/node-index.ts';
import type { CapstanObject } from '../api/object.ts';
import { LABELS } from '../runtime/drivers/docker.ts';
import { removeProcessTasks, startAgentProcess, type AgentProcess } from './helpers/agent-process.ts';
import { spawnCapstan } from './helpers/cli.ts';
import { startDocker, type TestDocker } from './helpers/dockerd.ts';
import { useStore } from './helpers/etcd.ts';
import { until } from './helpers/poll.ts';
import { freePort } from './helpers/ports.ts';
import { startProxy } from './helpers/tcp-proxy.ts';

type Task = CapstanObject<TaskSpec, TaskStatus>;
const NODE = 'n1';
const NS = 'default';

const db = useStore(builtinRegistry());
let docker: TestDocker;
let stateDir: string;
let agent: AgentProcess;
const figures: string[] = [];

beforeAll(async () => {
  docker = await startDocker();
  stateDir = mkdtempSync(join(tmpdir(), 'capstan-agent-'));
  agent = launchAgent();
  await agent.started;
});

afterAll(async () => {
  await agent?.kill();
  // Whatever the agents left: processes through a driver over the same state dir, containers with dockerd.
  if (stateDir) {
    await removeProcessTasks(stateDir);
    rmSync(stateDir, { recursive: true, force: true });
  }
  await docker?.stop();
  console.log(figures.join('\n'));
});

function launchAgent(): AgentProcess {
  return startAgentProcess({ etcd: db.etcd.url, node: NODE, stateDir, dockerSocket: docker.engine.socketPath, leaseTtlSeconds: 2 });
}

interface TaskOptions {
  driver: 'process' | 'docker';
  cmd: string;
  ports?: number;
  image?: string;
  grace?: number;
  /** Bound to another node than NODE. */
  node?: string;
  /** Leave out the index entry (a binding the scheduler would never write). */
  unindexed?: boolean;
}

/** Writes the node's index entry for a task created bound, as the scheduler does with each binding. */
async function indexBinding(task: Task): Promise<Task> {
  const { key, value } = nodeTaskIndexEntry({ node: task.spec.nodeName!, namespace: task.metadata.namespace!, name: task.metadata.name, uid: task.metadata.uid! });
  await db.client.put(key).value(value);
  return task;
}

/** Creates a Task bound to NODE, as the scheduler leaves it. */
async function boundTask(name: string, options: TaskOptions): Promise<{ task: Task; hostPorts: number[] }> {
  const hostPorts = await Promise.all(Array.from({ length: options.ports ?? 0 }, () => freePort()));
  const container = { name: 'main', cmd: options.cmd, resources: { cpus: 0.1, mem: 32 }, ...(options.driver === 'docker' ? { image: options.image ?? docker.image } : {}) };
  const template = {
    driver: options.driver,
    containers: [container],
    ports: hostPorts.map((_, i) => ({ name: `p${i}` })),
    taskKillGracePeriodSeconds: options.grace ?? 2,
  };
  const task = await db.store.create<Task>({
    apiVersion: 'capstan/v1',
    kind: 'Task',
    metadata: { name, namespace: NS, finalizers: [AGENT_FINALIZER], labels: { 'capstan.io/app': 'web' } },
    spec: { app: 'web', revision: 1, template, nodeName: options.node ?? NODE, hostPorts } as unknown as TaskSpec,
    status: { phase: 'Pending' },
  });
  return { task: options.unindexed ? task : await indexBinding(task), hostPorts };
}

const getTask = (name: string) => db.store.get<Task>('Task', { namespace: NS, name });

async function untilPhase(name: string, phase: TaskStatus['phase'], timeoutMs = 10_000): Promise<Task> {
  return until(
    async () => {
      const task = await getTask(name);
      return task?.status?.phase === phase ? task : undefined;
    },
    { timeoutMs, intervalMs: 5, what: `task ${name} to be ${phase}` },
  );
}

async function answersHttp(port: number): Promise<string | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(500) });
    return await response.text();
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Live processes whose command line contains `text` (a task's own port makes it unique). */
function processesWith(text: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        return argv[0] === 'busybox' && argv.join(' ').includes(text);
      } catch {
        return false;
      }
    })
    .map(Number);
}

const containersOf = (uid: string) => docker.docker.listContainers({ all: true, filters: { label: [`${LABELS.taskUid}=${uid}`] } });
const leaseKeyExists = async () => (await db.client.get(nodeLeaseKey(NODE)).string()) !== null;
const HTTPD = (home: string) => `mkdir -p ${home} && echo hello-$CAPSTAN_TASK_NAME > ${home}/index.html && exec busybox httpd -f -p $PORT0 -h ${home}`;

describe('capstan agent', () => {
  it('registers its Node with the lease key, its endpoint and drivers', async () => {
    const node = await db.store.mustGet<CapstanObject<NodeSpec, NodeStatus>>('Node', { name: NODE });
    expect(node.spec.attributes.hostname).toBe(NODE);
    expect(node.spec.drivers.sort()).toEqual(['docker', 'process']);
    expect(node.status).toMatchObject({ leaseTTLSeconds: 2, availableDrivers: expect.arrayContaining(['docker', 'process']) });
    expect(node.status?.agentEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await leaseKeyExists()).toBe(true);
  });

  it('runs a process task bound to it: Staging, Running, answering on its host port', async () => {
    const created = Date.now();
    const { hostPorts } = await boundTask('proc-web', { driver: 'process', cmd: HTTPD('www'), ports: 1 });
    const running = await untilPhase('proc-web', 'Running');
    figures.push(`process task created-bound → Running: ${Date.now() - created} ms`);
    expect(running.status?.runtime).toMatchObject({ driver: 'process', pid: expect.any(Number) });
    expect(running.status?.conditions).toContainEqual(expect.objectContaining({ type: 'Scheduled', status: 'True', reason: 'Bound' }));
    expect(await until(() => answersHttp(hostPorts[0]!), { what: 'httpd to answer' })).toContain('hello-proc-web');
  });

  it('runs a docker task bound to it, answering on its host port', async () => {
    const created = Date.now();
    const { hostPorts } = await boundTask('dock-web', { driver: 'docker', cmd: HTTPD('/tmp/www'), ports: 1 });
    const running = await untilPhase('dock-web', 'Running');
    figures.push(`docker task created-bound → Running: ${Date.now() - created} ms`);
    expect(running.status?.runtime?.driver).toBe('docker');
    expect(await until(() => answersHttp(hostPorts[0]!), { what: 'httpd in docker to answer' })).toContain('hello-dock-web');
  });

  it('stops the workload of a deleted task, then releases it so the object disappears', async () => {
    const { task, hostPorts } = await boundTask('doomed', { driver: 'process', cmd: HTTPD('www'), ports: 1 });
    const running = await untilPhase('doomed', 'Running');
    await db.store.delete('Task', { namespace: NS, name: 'doomed' });
    const deleted = Date.now();
    await until(async () => (await getTask('doomed')) === undefined, { what: 'the deleted task to disappear' });
    figures.push(`process task deleted → stopped and gone: ${Date.now() - deleted} ms`);
    expect(alive(running.status!.runtime!.pid!)).toBe(false);
    expect(await answersHttp(hostPorts[0]!)).toBeUndefined();
    expect(readdirSync(join(stateDir, 'process', 'tasks'))).not.toContain(task.metadata.uid);
  });

  it('stops a deleted docker task and removes its container', async () => {
    const { task } = await boundTask('doomed-docker', { driver: 'docker', cmd: 'sleep 1000', grace: 1 });
    await untilPhase('doomed-docker', 'Running');
    await db.store.delete('Task', { namespace: NS, name: 'doomed-docker' });
    await until(async () => (await getTask('doomed-docker')) === undefined, { what: 'the deleted docker task to disappear' });
    expect(await containersOf(task.metadata.uid!)).toEqual([]);
  });

  it('reports a workload killed with kill -9 as Failed, with its exit, within 2 s', async () => {
    await boundTask('victim', { driver: 'process', cmd: 'exec busybox sleep 1000' });
    const running = await untilPhase('victim', 'Running');
    process.kill(running.status!.runtime!.pid!, 'SIGKILL');
    const killed = Date.now();
    const failed = await untilPhase('victim', 'Failed', 2_000);
    figures.push(`kill -9 of a workload → Failed: ${Date.now() - killed} ms`);
    expect(failed.status).toMatchObject({ exitCode: 137, message: 'killed by SIGKILL' });
    // The remains (logs) stay while the Task exists, and go with it.
    const sandboxes = () => readdirSync(join(stateDir, 'process', 'tasks'));
    expect(sandboxes()).toContain(failed.metadata.uid);
    await db.store.delete('Task', { namespace: NS, name: 'victim' });
    await until(async () => (await getTask('victim')) === undefined, { what: 'the failed task to go once deleted' });
    expect(sandboxes()).not.toContain(failed.metadata.uid);
  });

  it.each([
    { name: 'exits-zero', cmd: 'echo done', phase: 'Finished', exitCode: 0 },
    { name: 'exits-three', cmd: 'exit 3', phase: 'Failed', exitCode: 3 },
  ] as const)('reports a workload that exits by itself: $cmd → $phase', async ({ name, cmd, phase, exitCode }) => {
    await boundTask(name, { driver: 'process', cmd });
    const ended = await untilPhase(name, phase);
    expect(ended.status).toMatchObject({ exitCode, finishedAt: expect.any(String) });
  });

  it('fails a pod when one container fails, and stops the others', async () => {
    const task = await indexBinding(await db.store.create<Task>({
      apiVersion: 'capstan/v1',
      kind: 'Task',
      metadata: { name: 'pod', namespace: NS, finalizers: [AGENT_FINALIZER] },
      spec: {
        app: 'web',
        revision: 1,
        nodeName: NODE,
        hostPorts: [],
        template: {
          driver: 'process',
          taskKillGracePeriodSeconds: 1,
          containers: [
            { name: 'server', cmd: 'exec busybox sleep 1000' },
            { name: 'sidecar', cmd: 'busybox sleep 0.3; exit 3' },
          ],
        },
      } as unknown as TaskSpec,
    }));
    const running = await untilPhase('pod', 'Running');
    const failed = await untilPhase('pod', 'Failed');
    expect(failed.status).toMatchObject({ exitCode: 3, message: 'container sidecar exited with code 3' });
    await until(() => !alive(running.status!.runtime!.pid!), { what: 'the pod\'s other container to be stopped' });
    expect(task.metadata.uid).toBe(failed.metadata.uid);
  });

  it('fails a task whose image is not on the node, saying so', async () => {
    await boundTask('no-image', { driver: 'docker', cmd: 'true', image: 'local/missing:1' });
    const failed = await untilPhase('no-image', 'Failed');
    expect(failed.status?.message).toBe(`image local/missing:1 is not present on node ${NODE} and there is no registry to pull from`);
  });

  it('stops the workload of a task marked Lost and releases it', async () => {
    const { hostPorts } = await boundTask('lost', { driver: 'process', cmd: HTTPD('www'), ports: 1 });
    const running = await untilPhase('lost', 'Running');
    await db.store.updateStatus({ ...running, status: { ...running.status!, phase: 'Lost', message: 'node unreachable' } });
    await until(() => !alive(running.status!.runtime!.pid!), { what: 'the Lost task\'s workload to stop' });
    await until(async () => !(await getTask('lost'))?.metadata.finalizers?.includes(AGENT_FINALIZER), { what: 'the finalizer to go' });
    expect((await getTask('lost'))?.status?.phase).toBe('Lost');
    expect(await answersHttp(hostPorts[0]!)).toBeUndefined();
  });

  it('learns its tasks from its index only: 200 tasks bound to another node, and one bound here without an entry, are never started or touched', async () => {
    const others = await Promise.all(Array.from({ length: 200 }, (_, i) => boundTask(`elsewhere-${i}`, { driver: 'process', cmd: 'bogus-command-never-run', node: 'n9' })));
    const unindexed = await boundTask('unindexed', { driver: 'process', cmd: 'bogus-command-never-run', unindexed: true });
    // Created after the others: once it runs, the agent has seen every earlier write.
    await boundTask('mine', { driver: 'process', cmd: 'exec busybox sleep 1000' });
    await untilPhase('mine', 'Running');
    for (const { task } of [...others, unindexed]) {
      const now = await getTask(task.metadata.name);
      expect({ name: task.metadata.name, resourceVersion: now?.metadata.resourceVersion, phase: now?.status?.phase }).toEqual({ name: task.metadata.name, resourceVersion: task.metadata.resourceVersion, phase: 'Pending' });
    }
    expect(agent.stderr()).not.toContain('elsewhere-');
    expect(agent.stderr()).not.toContain('"task":"default/unindexed"');
    await Promise.all([...others, unindexed].map(({ task }) => db.store.delete('Task', { namespace: NS, name: task.metadata.name })));
  });

  it('removes a stale index entry: a task deleted behind its back (its workload stopped), and an entry naming no task', async () => {
    const { task } = await boundTask('behind-back', { driver: 'process', cmd: 'exec busybox sleep 1000' });
    const running = await untilPhase('behind-back', 'Running');
    const definition = db.store.kind('Task');
    // Both keys gone without a deletion: no deletionTimestamp, no finalizer released.
    await db.client.delete().key(specKey(definition, NS, 'behind-back'));
    await db.client.delete().key(statusKey(definition, NS, 'behind-back'));
    await db.client.put(nodeTaskIndexKey(NODE, NS, 'ghost')).value('no-such-uid');
    const indexed = async (name: string) => (await db.client.get(nodeTaskIndexKey(NODE, NS, name)).string()) !== null;
    await until(async () => !(await indexed('behind-back')) && !(await indexed('ghost')), { what: 'the stale index entries to be removed' });
    await until(() => !alive(running.status!.runtime!.pid!), { what: 'the workload of the vanished task to stop' });
    expect(task.metadata.uid).toBe(running.metadata.uid);
  });

  it('prints a task\'s output with capstan logs', async () => {
    await boundTask('talker', { driver: 'process', cmd: 'echo line-one; echo line-two; exec busybox sleep 1000' });
    await untilPhase('talker', 'Running');
    const result = await until(
      async () => {
        const run = await spawnCapstan(['logs', 'talker'], { env: { CAPSTAN_ETCD: db.etcd.url, HOME: '/nonexistent' } });
        return run.stdout.includes('line-two') ? run : undefined;
      },
      { what: 'capstan logs to show the output' },
    );
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('line-one\nline-two\n');
  });

  it('after kill -9 and restart adopts what runs (same pid, same container), and stops what was deleted meanwhile', async () => {
    const kept = await boundTask('kept', { driver: 'process', cmd: HTTPD('www'), ports: 1 });
    const keptDocker = await boundTask('kept-docker', { driver: 'docker', cmd: HTTPD('/tmp/www'), ports: 1 });
    await boundTask('gone-while-down', { driver: 'process', cmd: HTTPD('www'), ports: 1 });
    const [keptRunning, , goneRunning] = await Promise.all([untilPhase('kept', 'Running'), untilPhase('kept-docker', 'Running'), untilPhase('gone-while-down', 'Running')]);
    const [container] = await containersOf(keptDocker.task.metadata.uid!);

    await agent.kill();
    const killed = Date.now();
    await until(async () => !(await leaseKeyExists()), { timeoutMs: 3_000, intervalMs: 10, what: 'the lease key to vanish within TTL + 1 s' });
    figures.push(`agent kill -9 → lease key gone: ${Date.now() - killed} ms (TTL 2 s)`);
    await db.store.delete('Task', { namespace: NS, name: 'gone-while-down' });

    agent = launchAgent();
    await agent.started;
    await until(async () => (await getTask('gone-while-down')) === undefined, { what: 'the task deleted while the agent was down to go' });
    expect(alive(goneRunning.status!.runtime!.pid!)).toBe(false);
    expect(await leaseKeyExists()).toBe(true);

    const adopted = await getTask('kept');
    expect(adopted?.status).toMatchObject({ phase: 'Running', runtime: keptRunning.status!.runtime, startedAt: keptRunning.status!.startedAt });
    expect(alive(keptRunning.status!.runtime!.pid!)).toBe(true);
    expect(processesWith(`-p ${kept.hostPorts[0]}`)).toEqual([keptRunning.status!.runtime!.pid]);
    expect(await containersOf(keptDocker.task.metadata.uid!)).toEqual([expect.objectContaining({ Id: container!.Id, State: 'running' })]);
    expect((await getTask('kept-docker'))?.status?.phase).toBe('Running');
  });

  it('grants a new lease and puts its key again after being cut off from etcd for longer than the TTL', async () => {
    const proxy = await startProxy(Number(new URL(db.etcd.url).port));
    const cutOff = startAgentProcess({ etcd: proxy.url, node: 'n2', stateDir: join(stateDir, 'n2'), dockerSocket: docker.engine.socketPath, extraArgs: ['--drivers', 'process'] });
    const key = nodeLeaseKey('n2');
    try {
      await cutOff.started;
      expect(await db.client.get(key).string()).not.toBeNull();
      proxy.partition();
      await until(async () => (await db.client.get(key).string()) === null, { timeoutMs: 4_000, what: 'the cut-off node\'s lease to expire' });
      proxy.heal();
      const healed = Date.now();
      await until(async () => (await db.client.get(key).string()) !== null, { timeoutMs: 8_000, what: 'the lease key to be put again' });
      figures.push(`partition healed → lease key back: ${Date.now() - healed} ms`);
    } finally {
      await cutOff.kill();
      await proxy.close();
    }
  });

  it('on SIGTERM revokes its lease at once and leaves the workloads running', async () => {
    const kept = await getTask('kept');
    await agent.terminate();
    expect(await leaseKeyExists()).toBe(false);
    expect(alive(kept!.status!.runtime!.pid!)).toBe(true);
    agent = launchAgent();
    await agent.started;
  });
});
