// Resident Apps (persistent volumes) on simulated nodes: the scheduler's instance slots and Volume
// objects, the volumes controller's phases, and the replicas controller's scale-down by slot. Real
// etcd and real controllers in one process; the nodes are Node objects whose liveness keys this test
// holds, and the agents' part (letting go of a stopped task, removing a wiped directory) is done by
// the test itself. What an agent does with a Volume's directory is covered by the agent tests.
import type { Lease } from 'etcd3';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { nodeLeaseKey } from '../api/keys.ts';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import type { TaskSpec, TaskStatus } from '../api/kinds/task.ts';
import type { VolumeSpec, VolumeStatus } from '../api/kinds/volume.ts';
import { AGENT_FINALIZER, VOLUME_FINALIZER } from '../api/kinds/wellknown.ts';
import { getCondition, type AnyObject, type CapstanObject } from '../api/object.ts';
import { runControllers, type RunningControllers } from '../controllers/builtin.ts';
import { useStore } from './helpers/etcd.ts';
import { until } from './helpers/poll.ts';

type Task = CapstanObject<TaskSpec, TaskStatus>;
type Volume = CapstanObject<VolumeSpec, VolumeStatus>;
const log = pino({ level: 'silent' });

describe('resident Apps: instance slots and their Volumes on simulated nodes', () => {
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

  async function addNode(name: string, disk = 10_000) {
    await db.store.create({
      apiVersion: 'capstan/v1',
      kind: 'Node',
      metadata: { name },
      spec: { address: '127.0.0.1', attributes: { hostname: name }, capacity: { cpus: 4, mem: 4096, disk }, portRange: { from: 31000, to: 31099 }, drivers: ['process'] },
      status: { leaseTTLSeconds: 1 },
    });
    const lease = db.client.lease(1);
    await lease.put(nodeLeaseKey(name)).value('alive');
    leases.set(name, lease);
    await until(async () => isReady(name), { what: `${name} Ready` });
  }

  const isReady = async (name: string) =>
    getCondition(((await db.store.mustGet('Node', { name })).status as { conditions?: [] })?.conditions, 'Ready')?.status === 'True';

  async function addApp(name: string, instances: number, size = 100, extra: Record<string, unknown> = {}) {
    await db.store.create({
      apiVersion: 'capstan/v1',
      kind: 'App',
      metadata: { name, namespace: 'default' },
      spec: {
        instances,
        driver: 'process',
        containers: [{ cmd: 'sleep 100', resources: { cpus: 0.1, mem: 16 }, volumeMounts: [{ name: 'data', mountPath: 'data' }] }],
        volumes: [{ name: 'data', persistent: { size } }],
        backoffSeconds: 0,
        ...extra,
      },
    });
  }

  async function scale(name: string, instances: number) {
    const app = await db.store.mustGet('App', { namespace: 'default', name });
    await db.store.update({ ...app, spec: { ...(app.spec as object), instances } });
  }

  const tasksOf = async (app: string) => (await db.store.list<Task>('Task', { namespace: 'default', labelSelector: `capstan.io/app=${app}` })).items;
  const volumesOf = async (app: string) =>
    (await db.store.list<Volume>('Volume', { namespace: 'default', labelSelector: `capstan.io/app=${app}` })).items.sort((a, b) => a.spec.slot - b.spec.slot);
  /** Live tasks (not ended, not being deleted), bound, by slot: `{ 0: 'n1', ... }`. */
  const slotNodes = (tasks: Task[]) =>
    Object.fromEntries(tasks.filter((t) => t.spec.slot !== undefined && !t.metadata.deletionTimestamp && !['Failed', 'Lost', 'Killed', 'Finished'].includes(t.status?.phase ?? 'Pending')).map((t) => [t.spec.slot!, t.spec.nodeName!]));
  const volumeNodes = (volumes: Volume[]) => Object.fromEntries(volumes.map((v) => [v.spec.slot, v.spec.nodeName]));

  /** The agents' part for a task being deleted: its workload stopped, the finalizer let go. */
  async function actAsAgents() {
    for (const task of await tasksOf('db')) {
      if (!task.metadata.deletionTimestamp || !task.metadata.finalizers?.includes(AGENT_FINALIZER)) continue;
      await db.store.update({ ...task, metadata: { ...task.metadata, finalizers: task.metadata.finalizers.filter((f) => f !== AGENT_FINALIZER) } }).catch(() => undefined);
    }
  }

  /** The agents' part for bound tasks: their workload runs (no health checks: Running is ready). */
  async function runBound() {
    for (const task of await tasksOf('db')) {
      if (!task.spec.nodeName || task.metadata.deletionTimestamp || (task.status?.phase ?? 'Pending') !== 'Pending') continue;
      await db.store.updateStatus({ ...task, status: { ...task.status, phase: 'Running', startedAt: new Date().toISOString() } }).catch(() => undefined);
    }
  }

  async function placed(app: string, instances: number) {
    return until(
      async () => {
        const [tasks, volumes] = await Promise.all([tasksOf(app), volumesOf(app)]);
        const slots = slotNodes(tasks);
        return Object.keys(slots).length === instances && volumes.length >= instances && { tasks, volumes, slots };
      },
      { what: `${app}: ${instances} tasks bound to slots` },
    );
  }

  it('first placement creates one Volume per slot, binds slots 0..n-1 on their nodes, and shows them Bound', async () => {
    await Promise.all(['n1', 'n2', 'n3'].map((n) => addNode(n)));
    await addApp('db', 3);
    const { volumes, slots } = await placed('db', 3);
    expect(volumes.map((v) => v.metadata.name)).toEqual(['db-data-0', 'db-data-1', 'db-data-2']);
    // Spread: one slot per node, each task on its slot's node.
    expect(new Set(Object.values(slots)).size).toBe(3);
    expect(slots).toEqual(volumeNodes(volumes));
    for (const volume of volumes) {
      expect(volume.spec).toMatchObject({ app: 'db', volume: 'data', size: 100 });
      expect(volume.metadata.labels).toEqual({ 'capstan.io/app': 'db' });
      expect(volume.metadata.finalizers).toEqual([VOLUME_FINALIZER]);
      expect(volume.metadata.ownerReferences ?? []).toEqual([]);
    }
    await until(async () => (await volumesOf('db')).every((v) => v.status?.phase === 'Bound' && v.status.task), { what: 'every Volume Bound' });
  });

  it("a replacement task of slot 1 lands on slot 1's node", async () => {
    await Promise.all(['n1', 'n2', 'n3'].map((n) => addNode(n)));
    await addApp('db', 3);
    const { tasks, volumes } = await placed('db', 3);
    const victim = tasks.find((t) => t.spec.slot === 1)!;
    await db.store.updateStatus({ ...victim, status: { phase: 'Failed', message: 'exited 1', exitCode: 1 } });
    const replaced = await until(
      async () => {
        const now = await tasksOf('db');
        const replacement = now.find((t) => t.spec.slot === 1 && t.metadata.name !== victim.metadata.name && t.spec.nodeName);
        return replacement && { replacement, now };
      },
      { what: 'a replacement bound to slot 1' },
    );
    expect(replaced.replacement.spec.nodeName).toBe(volumes[1]!.spec.nodeName);
    expect((await volumesOf('db')).map((v) => v.metadata.uid)).toEqual(volumes.map((v) => v.metadata.uid));
  });

  it("a node going NotReady keeps its slot's task Pending with the reason while the other slots run, and a wipe frees the slot elsewhere without the node's agent", async () => {
    await Promise.all(['n1', 'n2', 'n3'].map((n) => addNode(n)));
    await addApp('db', 3, 100, { unreachableStrategy: { inactiveAfterSeconds: 1, expungeAfterSeconds: 2 } });
    const { volumes, slots } = await placed('db', 3);
    const lostNode = slots[1]!;
    leases.get(lostNode)!.release();
    leases.delete(lostNode);
    const waiting = await until(
      async () => {
        const pending = (await tasksOf('db')).find((t) => !t.spec.nodeName && t.status?.message?.startsWith('waiting for node'));
        return pending;
      },
      { what: "slot 1's replacement Pending with its reason" },
    );
    expect(waiting.status?.message).toBe(`waiting for node ${lostNode}, which holds volume db-data-1 (slot 1): the node is not ready; wipe the volume (capstan delete volume db-data-1) to free the slot`);
    expect(getCondition(waiting.status?.conditions, 'Scheduled')).toMatchObject({ status: 'False', reason: 'Unschedulable' });
    const others = slotNodes(await tasksOf('db'));
    expect(others).toMatchObject({ 0: slots[0], 2: slots[2] });
    await until(async () => (await volumesOf('db')).find((v) => v.spec.slot === 1)?.status?.phase === 'Waiting', { what: 'db-data-1 Waiting' });
    expect((await volumesOf('db')).find((v) => v.spec.slot === 1)?.status?.message).toContain(`node ${lostNode} is not ready`);

    // The user gives up on the node: its agent cannot remove the directory, so the volumes controller
    // releases the Volume itself (no agent plays a part here), and the slot starts again elsewhere.
    await db.store.delete('Volume', { namespace: 'default', name: 'db-data-1' });
    const again = await until(
      async () => {
        const now = await volumesOf('db');
        const fresh = now.find((v) => v.spec.slot === 1);
        return fresh && fresh.metadata.uid !== volumes[1]!.metadata.uid && Object.keys(slotNodes(await tasksOf('db'))).length === 3 && fresh;
      },
      { what: 'slot 1 made again, fresh, on a live node' },
    );
    expect(again.spec.nodeName).not.toBe(lostNode);
  });

  it('scale 3 → 1 keeps the Volumes Reserved, and 1 → 3 reuses them on their nodes without new ones', async () => {
    await Promise.all(['n1', 'n2', 'n3'].map((n) => addNode(n)));
    await addApp('db', 3);
    const { volumes, slots } = await placed('db', 3);
    await scale('db', 1);
    await until(
      async () => {
        await actAsAgents();
        const tasks = (await tasksOf('db')).filter((t) => !t.metadata.deletionTimestamp);
        return tasks.length === 1 && tasks;
      },
      { what: 'scaled down to 1' },
    );
    // The highest slots went: slot 0 stays.
    expect(slotNodes(await tasksOf('db'))).toEqual({ 0: slots[0] });
    await until(
      async () => {
        await actAsAgents();
        const phases = (await volumesOf('db')).map((v) => v.status?.phase);
        return phases.join() === 'Bound,Reserved,Reserved';
      },
      { what: 'slots 1 and 2 Reserved' },
    );
    await scale('db', 3);
    const back = await placed('db', 3);
    expect(back.slots).toEqual(slots);
    expect(back.volumes.map((v) => v.metadata.uid)).toEqual(volumes.map((v) => v.metadata.uid));
  });

  it.each([1, 3])('a rolling upgrade of %i instances replaces each task in place, on its slot and volume', async (instances) => {
    await Promise.all(['n1', 'n2', 'n3'].map((n) => addNode(n)));
    await addApp('db', instances);
    const { volumes, slots } = await placed('db', instances);
    // Revision 1 running and ready first, so the rollout has healthy tasks to keep.
    await until(
      async () => {
        await runBound();
        const revision = await db.store.mustGet('Revision', { namespace: 'default', name: 'db-1' });
        return (revision.status as { ready?: number } | undefined)?.ready === instances;
      },
      { what: `revision 1 with ${instances} ready` },
    );
    const app = await db.store.mustGet('App', { namespace: 'default', name: 'db' });
    const spec = app.spec as { containers: { cmd: string }[] };
    await db.store.update({ ...app, spec: { ...spec, containers: [{ ...spec.containers[0], cmd: 'sleep 200' }] } });
    let mostOnOneSlot = 0;
    await until(
      async () => {
        await actAsAgents();
        await runBound();
        const tasks = await tasksOf('db');
        const holding = tasks.filter((t) => t.spec.slot !== undefined && !['Failed', 'Lost', 'Killed', 'Finished'].includes(t.status?.phase ?? 'Pending'));
        for (const slot of new Set(holding.map((t) => t.spec.slot))) mostOnOneSlot = Math.max(mostOnOneSlot, holding.filter((t) => t.spec.slot === slot).length);
        const live = tasks.filter((t) => !t.metadata.deletionTimestamp);
        return live.length === instances && live.every((t) => t.spec.revision === 2 && t.status?.phase === 'Running');
      },
      { what: `every one of the ${instances} tasks replaced by revision 2 and running` },
    );
    expect(slotNodes(await tasksOf('db'))).toEqual(slots);
    expect((await volumesOf('db')).map((v) => v.metadata.uid)).toEqual(volumes.map((v) => v.metadata.uid));
    expect(mostOnOneSlot).toBe(1);
  });

  it('a node whose disk the Volumes fill: the next slot stays Pending with the reason', async () => {
    await addNode('n1', 500);
    await addApp('db', 2, 300);
    await placed('db', 1);
    const pending = await until(
      async () => (await tasksOf('db')).find((t) => !t.spec.nodeName && t.status?.message),
      { what: 'the second task Pending with a reason' },
    );
    expect(pending.status?.message).toBe('0/1 nodes fit: node n1: insufficient disk (wants 300 MiB, 300 of 500 MiB allocated: default/db 300)');
    expect(await volumesOf('db')).toHaveLength(1);
    // `get nodes` counts the Volume's size as the scheduler does.
    await until(async () => ((await db.store.mustGet('Node', { name: 'n1' })).status as { allocated?: { disk: number } }).allocated?.disk === 300, {
      what: "n1's allocated disk to count the Volume",
    });
  });
});

export type { AnyObject };
