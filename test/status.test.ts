// Status that describes the present (issue 12, points 2 and 3), through the real controllers
// (rollout, replicas, scheduler, nodes, gc) on real etcd with simulated nodes, read back with the
// `capstan` command in-process. What an agent does with a bound task is played by this test with the
// agent's own status rules (runtime/agent/status.ts applyChange): Staging, then Running; a deleted
// task's workload stops at once (the agent's finalizer goes). Real agents are covered by
// test/agent.test.ts and test/cluster.test.ts.
import type { Lease } from 'etcd3';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEventRecorder } from '../api/events.ts';
import { isStoreError } from '../api/errors.ts';
import { nodeLeaseKey } from '../api/keys.ts';
import type { AppSpec, AppStatus } from '../api/kinds/app.ts';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import type { NodeSpec, NodeStatus } from '../api/kinds/node.ts';
import { isTerminal, type TaskSpec, type TaskStatus } from '../api/kinds/task.ts';
import { AGENT_FINALIZER } from '../api/kinds/wellknown.ts';
import { getCondition, type CapstanObject } from '../api/object.ts';
import { runControllers, type RunningControllers } from '../controllers/builtin.ts';
import { applyChange } from '../runtime/agent/status.ts';
import { capstan } from './helpers/cli.ts';
import { useStore } from './helpers/etcd.ts';
import { until } from './helpers/poll.ts';

type Task = CapstanObject<TaskSpec, TaskStatus>;
type App = CapstanObject<AppSpec, AppStatus>;
type Node = CapstanObject<NodeSpec, NodeStatus>;
const NS = 'default';
const log = pino({ level: 'silent' });

describe('status that describes the present, on simulated nodes', () => {
  const db = useStore(builtinRegistry(), { clearEachTest: true });
  let controllers: RunningControllers | undefined;
  const leases: Lease[] = [];
  let agent: { playing: boolean; stop(): Promise<void> } | undefined;

  beforeEach(async () => {
    controllers = await runControllers({ store: db.store, leaderElection: false, logger: log, handleSignals: false, only: ['rollout', 'replicas', 'scheduler', 'nodes', 'gc'] });
    agent = fakeAgent();
  });
  afterEach(async () => {
    await agent?.stop();
    await controllers?.stop();
    for (const lease of leases.splice(0)) await lease.revoke().catch(() => undefined);
  });

  const run = (...args: string[]) => capstan(args, { etcd: db.etcd.url });

  async function createNode(name: string, capacity: { cpus: number; mem: number }) {
    await db.store.create({
      apiVersion: 'capstan/v1',
      kind: 'Node',
      metadata: { name },
      spec: { address: '127.0.0.1', attributes: { hostname: name }, capacity, portRange: { from: 31000, to: 31099 } },
      status: { leaseTTLSeconds: 1 },
    });
  }

  /** The node's agent comes alive: its lease key appears and the nodes controller marks it Ready. */
  async function holdLease(name: string) {
    const lease = db.client.lease(1);
    await lease.put(nodeLeaseKey(name)).value('alive');
    leases.push(lease);
    await until(async () => getCondition((await db.store.mustGet<Node>('Node', { name })).status?.conditions, 'Ready')?.status === 'True', { what: `${name} Ready` });
  }

  async function addNode(name: string, capacity = { cpus: 4, mem: 4096 }) {
    await createNode(name, capacity);
    await holdLease(name);
  }

  async function createApp(name: string, spec: Record<string, unknown>) {
    await db.store.create({ apiVersion: 'capstan/v1', kind: 'App', metadata: { name, namespace: NS }, spec: { driver: 'process', containers: [{ cmd: 'sleep 100' }], ...spec } });
  }

  const tasksOf = async (app: string) => (await db.store.list<Task>('Task', { namespace: NS, labelSelector: `capstan.io/app=${app}` })).items;
  const allocatedOn = async (name: string) => (await db.store.mustGet<Node>('Node', { name })).status?.allocated;

  /** What an agent does with its node's tasks, by the agent's own status rules, until stopped. */
  function fakeAgent() {
    const state = { playing: true, stopped: false };
    const loop = (async () => {
      while (!state.stopped) {
        if (state.playing) {
          const { items } = await db.store.list<Task>('Task').catch(() => ({ items: [] as Task[] }));
          for (const task of items) await playTask(task).catch((error: unknown) => (isStoreError(error) ? undefined : Promise.reject(error)));
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    return {
      set playing(value: boolean) {
        state.playing = value;
      },
      get playing() {
        return state.playing;
      },
      async stop() {
        state.stopped = true;
        await loop;
      },
    };
  }

  async function playTask(task: Task) {
    if (task.metadata.deletionTimestamp) {
      const finalizers = task.metadata.finalizers ?? [];
      if (finalizers.includes(AGENT_FINALIZER)) await db.store.update({ ...task, metadata: { ...task.metadata, finalizers: finalizers.filter((f) => f !== AGENT_FINALIZER) } });
      return;
    }
    const nodeName = task.spec.nodeName;
    if (!nodeName || isTerminal(task.status?.phase)) return;
    const change =
      task.status?.phase === 'Pending' || task.status === undefined
        ? ({ phase: 'Staging' } as const)
        : ({ phase: 'Running', startedAt: new Date().toISOString(), runtime: { driver: 'process' } } as const);
    const status = applyChange(task.status, change, { nodeName });
    if (status) await db.store.updateStatus({ ...task, status });
  }

  it('a Running task shows no scheduling message: Scheduled=True on its node once bound', async () => {
    agent!.playing = false;
    await createNode('n1', { cpus: 4, mem: 4096 });
    await until(async () => getCondition((await db.store.mustGet<Node>('Node', { name: 'n1' })).status?.conditions, 'Ready')?.status === 'False', { what: 'n1 NotReady' });
    await createApp('web', { instances: 1, containers: [{ cmd: 'sleep 100', resources: { cpus: 0.1, mem: 16 } }] });
    const [pending] = await until(async () => {
      const tasks = await tasksOf('web');
      return tasks.length === 1 && getCondition(tasks[0]!.status?.conditions, 'Scheduled')?.status === 'False' && tasks;
    }, { what: 'the task to carry its scheduling reason' });
    expect(pending!.status?.message).toBe('0/1 nodes fit: 1 node not ready');

    await holdLease('n1');
    // Bound, and before any agent looked at it: the status already says so, and nothing else.
    const bound = await until(async () => {
      const [task] = await tasksOf('web');
      return Boolean(task?.spec.nodeName) && getCondition(task!.status?.conditions, 'Scheduled')?.status === 'True' && task;
    }, { what: 'the bound task to be Scheduled' });
    expect(bound.status?.phase).toBe('Pending');
    expect(bound.status?.message).toBeUndefined();
    expect(getCondition(bound.status?.conditions, 'Scheduled')).toMatchObject({ reason: 'Bound', message: 'bound to node n1' });

    agent!.playing = true;
    const running = await until(async () => {
      const [task] = await tasksOf('web');
      return task?.status?.phase === 'Running' && task;
    }, { what: 'the task Running' });
    expect(running.status?.message).toBeUndefined();
    expect(getCondition(running.status?.conditions, 'Scheduled')).toMatchObject({ status: 'True', message: 'bound to node n1' });
    const table = await run('get', 'tasks', '-o', 'wide');
    expect(table.stdout).toContain('Running');
    expect(table.stdout).not.toContain('nodes fit');
  });

  it('a node shows what its tasks hold once they are placed, and frees it when they are deleted', async () => {
    await addNode('n1');
    await createApp('web', { instances: 2, containers: [{ cmd: 'sleep 100', resources: { cpus: 0.5, mem: 64 } }], ports: [{ name: 'http' }] });
    await createApp('echo', { instances: 1, containers: [{ cmd: 'sleep 100', resources: { cpus: 0.25, mem: 32 } }] });
    await until(async () => (await allocatedOn('n1'))?.cpus === 1.25 && true, { what: 'n1 allocated 1.25 cpus' });
    expect(await allocatedOn('n1')).toEqual({ cpus: 1.25, mem: 160, disk: 0, gpus: 0, ports: 2 });

    const nodes = await run('get', 'nodes', '-o', 'wide');
    expect(nodes.stdout).toMatch(/n1\s+Ready\s+127\.0\.0\.1\s+1\.25\/4\s+160\/4096\s+\S+\s+2\/100 \(31000-31099\)/);

    const described = await run('describe', 'node', 'n1');
    expect(described.code).toBe(0);
    const tasks = [...(await tasksOf('web')), ...(await tasksOf('echo'))];
    expect(described.stdout).toContain('Tasks holding resources (3 in total):');
    for (const task of tasks) {
      const ports = task.spec.hostPorts?.join(',') || '-';
      expect(described.stdout).toMatch(new RegExp(`default/${task.spec.app}\\s+${task.metadata.name}\\s+\\w+\\s+${task.spec.app === 'web' ? '0.5\\s+64 MiB' : '0.25\\s+32 MiB'}\\s+${ports}`));
    }
    expect(described.stdout).toMatch(/Allocated resources:\n\s+RESOURCE\s+ALLOCATED\s+ALLOCATABLE\s+SHARE\n\s+cpus\s+1\.25\s+4\s+31%\n\s+mem\s+160 MiB\s+4096 MiB\s+4%/);
    expect(described.stdout).toMatch(/ports\s+2\s+100 \(31000-31099\)\s+2%/);

    await db.store.delete('App', { namespace: NS, name: 'web' });
    await until(async () => (await allocatedOn('n1'))?.cpus === 0.25 && true, { what: 'web\'s share freed on n1' });
    expect(await allocatedOn('n1')).toEqual({ cpus: 0.25, mem: 32, disk: 0, gpus: 0, ports: 0 });
    expect((await run('describe', 'node', 'n1')).stdout).toContain('Tasks holding resources (1 in total):');
  });

  it('the resource trap: a pending task\'s reason names what holds the node\'s cpus', async () => {
    await addNode('n1', { cpus: 2, mem: 4096 });
    // No resources: Marathon's default of 1 cpu per instance.
    await createApp('web', { instances: 1 });
    await createApp('echo', { instances: 1 });
    await until(async () => (await allocatedOn('n1'))?.cpus === 2 && true, { what: 'n1 full' });
    await createApp('third', { instances: 1 });
    const [task] = await until(async () => {
      const tasks = await tasksOf('third');
      return tasks.length === 1 && Boolean(tasks[0]!.status?.message) && tasks;
    }, { what: 'third\'s pending reason' });
    expect(task!.status?.message).toBe('0/1 nodes fit: node n1: insufficient cpus (wants 1, 2 of 2 allocated: default/echo 1, default/web 1)');
    expect((await run('get', 'nodes')).stdout).toMatch(/n1\s+Ready\s+127\.0\.0\.1\s+2\/2\s/);
  });

  it('rollout history marks only the stable revision', async () => {
    await addNode('n1');
    await createApp('web', { instances: 1, containers: [{ cmd: 'sleep 100', resources: { cpus: 0.1, mem: 16 } }] });
    const settled = (revision: number) =>
      until(async () => {
        const app = await db.store.mustGet<App>('App', { namespace: NS, name: 'web' });
        return app.status?.stableRevision === revision && app.status.rollout?.phase === 'Complete' && app;
      }, { timeoutMs: 30_000, what: `web stable on revision ${revision}` });
    await settled(1);
    for (;;) {
      const app = await db.store.mustGet<App>('App', { namespace: NS, name: 'web' });
      try {
        await db.store.update({ ...app, spec: { ...app.spec, containers: [{ ...app.spec.containers[0]!, cmd: 'sleep 200' }] } });
        break;
      } catch (error) {
        if (!isStoreError(error, 'Conflict')) throw error;
      }
    }
    await settled(2);
    // Both were fully healthy once; only the newest of them is the App's stable revision.
    const revision1 = await db.store.mustGet<CapstanObject<unknown, { fullyHealthyAt?: string }>>('Revision', { namespace: NS, name: 'web-1' });
    expect(revision1.status?.fullyHealthyAt).toBeDefined();
    const history = await run('rollout', 'history', 'web');
    expect(history.code).toBe(0);
    const rows = history.stdout.trim().split('\n').slice(1);
    expect(rows.map((row) => row.split(/\s{2,}/).slice(0, 4))).toEqual([
      ['1', '0', '0', 'no'],
      ['2 (current)', '1', '1', 'yes'],
    ]);
  });
});

describe('events in time order', () => {
  const db = useStore(builtinRegistry(), { clearEachTest: true });

  it('get events lists them oldest first, newest last (with -A too), whatever their names', async () => {
    const t0 = Date.parse('2026-01-01T10:00:00Z');
    let now = t0;
    const recorder = createEventRecorder({ client: db.client, registry: builtinRegistry(), component: 'test', log, now: () => new Date(now) });
    const object = (namespace: string, name: string) => ({ apiVersion: 'capstan/v1', kind: 'App', metadata: { namespace, name, uid: `uid-${name}` }, spec: {} });
    // Names in the opposite order to the times; b's event happens again last, which moves it down.
    const story: [string, string, string][] = [
      [NS, 'c', 'First'],
      [NS, 'b', 'Second'],
      ['other', 'z', 'Third'],
      [NS, 'a', 'Fourth'],
      [NS, 'b', 'Second'],
    ];
    for (const [namespace, name, reason] of story) {
      now += 1000;
      await recorder.record(object(namespace, name), { reason, message: `${reason} happened` });
    }
    const reasons = (stdout: string) => stdout.trim().split('\n').slice(1).map((row) => /(First|Second|Third|Fourth)/.exec(row)?.[1]);

    const one = await capstan(['get', 'events'], { etcd: db.etcd.url });
    expect(one.code).toBe(0);
    expect(reasons(one.stdout)).toEqual(['First', 'Fourth', 'Second']);
    const all = await capstan(['get', 'events', '-A'], { etcd: db.etcd.url });
    expect(reasons(all.stdout)).toEqual(['First', 'Third', 'Fourth', 'Second']);
  });
});
