// The controller chain without agents: App → Revision → Tasks → bindings, on nodes that are plain
// Node objects whose liveness keys this test holds itself (simulated agents). Real etcd, real
// controllers, in one process. What agents do with bound tasks is covered in test/agent*.test.ts and
// test/cluster.test.ts.
import type { Lease } from 'etcd3';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { nodeLeaseKey } from '../api/keys.ts';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import type { TaskSpec, TaskStatus } from '../api/kinds/task.ts';
import { getCondition, type AnyObject, type CapstanObject } from '../api/object.ts';
import { runControllers, type RunningControllers } from '../controllers/builtin.ts';
import { useStore } from './helpers/etcd.ts';
import { until } from './helpers/poll.ts';

type Task = CapstanObject<TaskSpec, TaskStatus>;
const log = pino({ level: 'silent' });

describe('scheduling and replicas on simulated nodes', () => {
  const db = useStore(builtinRegistry(), { clearEachTest: true });
  let controllers: RunningControllers | undefined;
  const leases = new Map<string, Lease>();

  beforeEach(async () => {
    controllers = await runControllers({ store: db.store, leaderElection: false, logger: log, handleSignals: false });
  });
  afterEach(async () => {
    await controllers?.stop();
    for (const lease of leases.values()) await lease.revoke().catch(() => undefined);
    leases.clear();
  });

  async function addNode(name: string, attributes: Record<string, string> = {}, capacity = { cpus: 4, mem: 4096 }) {
    await db.store.create({
      apiVersion: 'capstan/v1',
      kind: 'Node',
      metadata: { name },
      spec: { address: '127.0.0.1', attributes: { hostname: name, ...attributes }, capacity, portRange: { from: 31000, to: 31099 } },
      status: { leaseTTLSeconds: 1 },
    });
    const lease = db.client.lease(1);
    await lease.put(nodeLeaseKey(name)).value('alive');
    leases.set(name, lease);
    // Placement is decided against the nodes that are Ready at that moment (as Marathon decides
    // against the offers it holds): let the nodes controller see this one first.
    await until(async () => {
      const node = await db.store.mustGet('Node', { name });
      return getCondition((node.status as { conditions?: [] })?.conditions, 'Ready')?.status === 'True';
    }, { what: `${name} Ready` });
  }

  async function addApp(name: string, spec: Record<string, unknown>) {
    await db.store.create({
      apiVersion: 'capstan/v1',
      kind: 'App',
      metadata: { name, namespace: 'default' },
      spec: { driver: 'process', containers: [{ cmd: 'sleep 100', resources: { cpus: 0.1, mem: 16 } }], ports: [{ name: 'http' }], ...spec },
    });
  }

  const tasksOf = async (app: string) =>
    (await db.store.list<Task>('Task', { namespace: 'default', labelSelector: `capstan.io/app=${app}` })).items.filter((t) => t.status?.phase !== 'Lost');
  const bound = (tasks: Task[]) => tasks.filter((t) => t.spec.nodeName);
  const perNode = (tasks: Task[]) => bound(tasks).reduce<Record<string, number>>((acc, t) => ({ ...acc, [t.spec.nodeName!]: (acc[t.spec.nodeName!] ?? 0) + 1 }), {});

  async function settle(app: string, total: number, boundCount: number) {
    return until(
      async () => {
        const tasks = await tasksOf(app);
        return tasks.length === total && bound(tasks).length === boundCount && tasks;
      },
      { what: `${app}: ${total} tasks with ${boundCount} bound` },
    );
  }

  it('places 6 instances with hostname:UNIQUE on 3 nodes and explains the 3 it cannot place', async () => {
    await Promise.all(['n1', 'n2', 'n3'].map((n) => addNode(n)));
    await addApp('web', { instances: 6, constraints: [['hostname', 'UNIQUE']] });
    const tasks = await settle('web', 6, 3);
    expect(perNode(tasks)).toEqual({ n1: 1, n2: 1, n3: 1 });
    const pending = await until(async () => {
      const all = (await tasksOf('web')).filter((t) => !t.spec.nodeName);
      return all.every((t) => getCondition(t.status?.conditions, 'Scheduled')?.status === 'False') && all;
    }, { what: 'the pending tasks to carry their reason' });
    for (const task of pending) {
      expect(task.status?.message).toBe('0/3 nodes fit: 3 hostname:UNIQUE');
    }
    const events = await db.client.getAll().prefix('/capstan/events/default/').strings();
    expect(Object.values(events).some((e) => e.includes('FailedScheduling') && e.includes('hostname:UNIQUE'))).toBe(true);
  });

  it('places a pending task as soon as a node that fits appears', async () => {
    await addNode('n1');
    await addApp('web', { instances: 2, constraints: [['hostname', 'UNIQUE']] });
    await settle('web', 2, 1);
    await addNode('n2');
    expect(perNode(await settle('web', 2, 2))).toEqual({ n1: 1, n2: 1 });
  });

  it.each<[string, unknown[][], number, Record<string, number>]>([
    ['GROUP_BY rack splits evenly over two racks', [['rack', 'GROUP_BY']], 6, { r1: 3, r2: 3 }],
    ['MAX_PER rack 1 places one per rack', [['rack', 'MAX_PER', '1']], 2, { r1: 1, r2: 1 }],
    ['LIKE zone eu-.* keeps to the eu nodes', [['zone', 'LIKE', 'eu-.*']], 4, { r1: 4 }],
    ['UNLIKE zone eu-.* keeps off them', [['zone', 'UNLIKE', 'eu-.*']], 2, { r2: 2 }],
    ['IS rack r2', [['rack', 'IS', 'r2']], 2, { r2: 2 }],
    ['CLUSTER rack r1', [['rack', 'CLUSTER', 'r1']], 3, { r1: 3 }],
  ])('%s', async (_name, constraints, instances, racks) => {
    await addNode('a1', { rack: 'r1', zone: 'eu-west' });
    await addNode('a2', { rack: 'r1', zone: 'eu-east' });
    await addNode('b1', { rack: 'r2', zone: 'us-east' });
    await addApp('app', { instances, constraints });
    const tasks = await settle('app', instances, instances);
    const rackOf = (node: string) => (node.startsWith('a') ? 'r1' : 'r2');
    const byRack = bound(tasks).reduce<Record<string, number>>((acc, t) => ({ ...acc, [rackOf(t.spec.nodeName!)]: (acc[rackOf(t.spec.nodeName!)] ?? 0) + 1 }), {});
    expect(byRack).toEqual(racks);
  });

  it('never gives two tasks on one node the same host port', async () => {
    await addNode('n1');
    await addApp('a', { instances: 5, ports: [{ name: 'http' }, { name: 'admin' }] });
    await addApp('b', { instances: 5, ports: [{ name: 'http' }] });
    await settle('a', 5, 5);
    const all = [...(await settle('a', 5, 5)), ...(await settle('b', 5, 5))];
    const ports = all.flatMap((t) => t.spec.hostPorts ?? []);
    expect(ports).toHaveLength(15);
    expect(new Set(ports).size).toBe(15);
  });

  it('scales down youngest first and up again, and a changed command makes a new revision', async () => {
    await addNode('n1');
    await addApp('web', { instances: 3 });
    const three = await settle('web', 3, 3);
    const app = await db.store.mustGet('App', { namespace: 'default', name: 'web' });
    await db.store.update({ ...app, spec: { ...(app.spec as object), instances: 1 } });
    const one = await until(async () => {
      const live = (await tasksOf('web')).filter((t) => !t.metadata.deletionTimestamp);
      return live.length === 1 && live;
    }, { what: 'scale down to 1' });
    // Tasks created in one transaction share their creation time; among equals the plan kills in
    // name order, so the survivor is the oldest, and of several oldest the last by name.
    const oldest = [...three].sort(
      (a, b) => a.metadata.creationTimestamp!.localeCompare(b.metadata.creationTimestamp!) || b.metadata.name.localeCompare(a.metadata.name),
    )[0]!;
    expect(one[0]!.metadata.name).toBe(oldest.metadata.name);

    const fresh = await db.store.mustGet('App', { namespace: 'default', name: 'web' });
    const spec = fresh.spec as { containers: { cmd: string }[] };
    await db.store.update({ ...fresh, spec: { ...spec, containers: [{ ...spec.containers[0], cmd: 'sleep 200' }] } });
    await until(async () => {
      const revisions = (await db.store.list('Revision', { namespace: 'default' })).items;
      return revisions.length === 2 && revisions.find((r) => (r.spec as { number: number }).number === 2);
    }, { what: 'revision 2' });
    await until(async () => {
      const live = (await tasksOf('web')).filter((t) => !t.metadata.deletionTimestamp);
      return live.length === 1 && live[0]!.spec.revision === 2;
    }, { what: 'the task of revision 2' });
  });

  it('does not over-create across a controller restart', async () => {
    await addNode('n1');
    await addApp('web', { instances: 4 });
    await settle('web', 4, 4);
    await controllers!.stop();
    controllers = await runControllers({ store: db.store, leaderElection: false, logger: log, handleSignals: false });
    await controllers.stop();
    const restarted = await runControllers({ store: db.store, leaderElection: false, logger: log, handleSignals: false });
    controllers = restarted;
    // An over-create can only come from the restarted controllers' first look at web: the rollout
    // controller deciding its Revision (a second one would bring 4 more tasks) and the replicas
    // controller counting its tasks against a fresh cache (an incomplete one would create more).
    // Each writes what it creates before its reconcile returns, and web is the only App, so once
    // both have finished a reconcile since the restart and have nothing queued, an over-create is
    // already in etcd. The counts are read from etcd, not from a cache.
    const reconciles = async (controller: string) =>
      (await restarted.manager.metrics.reconciles.get()).values.filter((v) => v.labels.controller === controller).reduce((sum, v) => sum + v.value, 0);
    const queued = async (controller: string) =>
      (await restarted.manager.metrics.queueDepth.get()).values.find((v) => v.labels.controller === controller)?.value ?? 0;
    await until(
      async () => {
        for (const controller of ['rollout', 'replicas']) {
          if ((await reconciles(controller)) === 0 || (await queued(controller)) > 0) return false;
        }
        return true;
      },
      { what: 'the restarted rollout and replicas controllers to reconcile web and drain their queues' },
    );
    const revisions = (await db.store.list('Revision', { namespace: 'default' })).items;
    expect(revisions.map((r) => r.metadata.name)).toHaveLength(1);
    const tasks = await tasksOf('web');
    expect(tasks).toHaveLength(4);
    expect(new Set(tasks.map((t) => t.spec.revision)).size).toBe(1);
  });

  it('marks tasks of a node whose lease is gone Lost after inactiveAfterSeconds, and replaces them elsewhere', async () => {
    await addNode('n1');
    await addNode('n2');
    await addApp('web', { instances: 2, constraints: [['hostname', 'UNIQUE']], unreachableStrategy: { inactiveAfterSeconds: 1, expungeAfterSeconds: 2 } });
    await settle('web', 2, 2);
    await addNode('n3');
    const victim = (await tasksOf('web')).find((t) => t.spec.nodeName === 'n1')!;
    const started = Date.now();
    // Stop renewing, as a dead agent does: the key expires one TTL later.
    leases.get('n1')!.release();
    leases.delete('n1');
    await until(async () => {
      const node = await db.store.mustGet('Node', { name: 'n1' });
      return getCondition((node.status as { conditions?: [] })?.conditions, 'Ready')?.status === 'False';
    }, { what: 'n1 NotReady' });
    const lost = await until(async () => {
      const task = await db.store.get<Task>('Task', { namespace: 'default', name: victim.metadata.name });
      return task?.status?.phase === 'Lost' && task;
    }, { what: 'the task on n1 Lost' });
    expect(lost.status?.message).toContain('n1 unreachable');
    const replaced = await until(async () => {
      const live = await tasksOf('web');
      return live.length === 2 && bound(live).length === 2 && live;
    }, { what: 'a replacement on n3' });
    expect(perNode(replaced)).toEqual({ n2: 1, n3: 1 });
    expect(Date.now() - started).toBeLessThan(1_000 /* lease */ + 1_000 /* inactive */ + 3_000);
  });
});

export type { AnyObject };
