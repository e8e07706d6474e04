// The garbage collector on a real etcd with the built-in kinds: App → Revision → Task, in the
// background and in the foreground; and the task gc: a deleted node's tasks, the history of ended tasks.
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { appSpecSchema, templateOf } from '../api/kinds/app.ts';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import { AGENT_FINALIZER, APP_LABEL, FOREGROUND_FINALIZER } from '../api/kinds/wellknown.ts';
import { nodeTaskIndexKey } from '../api/keys.ts';
import { nodeTaskIndexEntry } from '../api/node-index.ts';
import type { AnyObject, OwnerReference } from '../api/object.ts';
import { gcController } from '../controllers/gc.ts';
import { Manager } from '../controllers/manager.ts';
import { replicasController } from '../controllers/replicas/index.ts';
import { rolloutController } from '../controllers/rollout/index.ts';
import { taskGcController } from '../controllers/task-gc/index.ts';
import { capstan } from './helpers/cli.ts';
import { useStore } from './helpers/etcd.ts';
import { until } from './helpers/poll.ts';

const appSpec = appSpecSchema.parse({ driver: 'process', containers: [{ cmd: 'sleep 600' }] });
const template = templateOf(appSpec);

const ownedBy = (owner: AnyObject, controller = true): OwnerReference => ({
  apiVersion: owner.apiVersion,
  kind: owner.kind,
  name: owner.metadata.name,
  uid: owner.metadata.uid!,
  controller,
});
const app = (name: string) => ({ apiVersion: 'capstan/v1', kind: 'App', metadata: { name }, spec: appSpec });
const revision = (name: string, owners: OwnerReference[], extra: Partial<AnyObject['metadata']> = {}) => ({
  apiVersion: 'capstan/v1',
  kind: 'Revision',
  metadata: { name, ownerReferences: owners, ...extra },
  spec: { app: name.replace(/-\d+$/, ''), number: 1, template, instances: 1 },
});
const task = (name: string, owner: AnyObject) => ({
  apiVersion: 'capstan/v1',
  kind: 'Task',
  metadata: { name, ownerReferences: [ownedBy(owner)] },
  spec: { app: owner.spec && (owner.spec as { app: string }).app, revision: 1, template },
});
/** A task created already bound to `node`, as the scheduler leaves it: it holds the agent's finalizer. */
const boundTask = (name: string, owner: AnyObject, node: string, status: Record<string, unknown> = { phase: 'Running' }): AnyObject => {
  const base = task(name, owner);
  const appName = (owner.spec as { app: string }).app;
  return { ...base, metadata: { ...base.metadata, labels: { [APP_LABEL]: appName } }, spec: { ...base.spec, nodeName: node, hostPorts: [] }, status };
};
const appOf = (t: AnyObject) => (t.spec as { app?: string }).app;
const node = (name: string) => ({
  apiVersion: 'capstan/v1',
  kind: 'Node',
  metadata: { name },
  spec: { address: '127.0.0.1', attributes: { hostname: name }, capacity: { cpus: 4, mem: 4096 } },
});

describe('the garbage collector', () => {
  const db = useStore(builtinRegistry());
  let manager: Manager;
  const exists = async (kind: string, name: string) => (await db.store.get(kind, { name })) !== undefined;

  beforeAll(async () => {
    const kinds = db.store.registry.kinds().map((k) => k.kind).filter((k) => k !== 'Event');
    // Concurrency 1: keys of one kind are then collected in the order their events arrived, which the
    // "no false positive" case uses as a barrier.
    const controllers = [gcController({ kinds, concurrency: 1 }), taskGcController({ terminalTaskHistory: 3 })];
    manager = new Manager({ store: db.store, controllers, leaderElection: false, logger: pino({ level: 'silent' }) });
    await manager.start();
  });
  afterAll(async () => {
    await manager?.stop();
  });
  beforeEach(async () => {
    // Raw: some objects of a test still hold finalizers nobody will release.
    await db.client.delete().prefix('/capstan/');
  });
  /** Removes the agent's finalizer, as the agent does once it stopped the workload. */
  const release = async (name: string) => {
    const current = await db.store.mustGet('Task', { name });
    await db.store.update({ ...current, metadata: { ...current.metadata, finalizers: current.metadata.finalizers!.filter((f) => f !== AGENT_FINALIZER) } });
  };

  it('deletes a whole chain when its root is deleted: App → Revision → Tasks, and leaves other chains alone', async () => {
    const web = await db.store.create(app('web'));
    const rev = await db.store.create(revision('web-1', [ownedBy(web)]));
    await db.store.create(task('web-1-a', rev));
    await db.store.create(task('web-1-b', rev));
    const dbApp = await db.store.create(app('db'));
    const dbRev = await db.store.create(revision('db-1', [ownedBy(dbApp)]));
    await db.store.create(task('db-1-a', dbRev));

    await db.store.delete('App', { name: 'web' });
    await until(async () => !(await exists('Revision', 'web-1')) && !(await exists('Task', 'web-1-a')) && !(await exists('Task', 'web-1-b')), {
      what: 'the web chain collected',
    });
    expect(await exists('App', 'db')).toBe(true);
    expect(await exists('Revision', 'db-1')).toBe(true);
    expect(await exists('Task', 'db-1-a')).toBe(true);
  });

  it('collects a dependent whose owner uid differs from the live object of the same name', async () => {
    const web = await db.store.create(app('web'));
    await db.store.create(revision('web-1', [{ ...ownedBy(web), uid: '00000000-0000-4000-8000-000000000000' }]));
    await db.store.create(revision('web-2', [ownedBy(web)]));
    await until(async () => !(await exists('Revision', 'web-1')), { what: 'the stale dependent collected' });
    expect(await exists('Revision', 'web-2')).toBe(true);
  });

  it('collects dependents of an owner deleted and re-created under the same name', async () => {
    const first = await db.store.create(app('web'));
    await db.store.create(revision('web-1', [ownedBy(first)]));
    await db.store.delete('App', { name: 'web' });
    await db.store.create(app('web'));
    await until(async () => !(await exists('Revision', 'web-1')), { what: 'the old incarnation\'s dependent collected' });
    expect(await exists('App', 'web')).toBe(true);
  });

  it('removes only the reference to a gone owner when another owner remains', async () => {
    const web = await db.store.create(app('web'));
    const other = await db.store.create(app('other'));
    await db.store.create(revision('web-1', [ownedBy(web), ownedBy(other, false)]));
    await db.store.delete('App', { name: 'other' });
    const kept = await until(async () => {
      const object = await db.store.get('Revision', { name: 'web-1' });
      return object?.metadata.ownerReferences?.length === 1 && object;
    }, { what: 'the dangling reference removed' });
    expect(kept.metadata.ownerReferences).toEqual([ownedBy(web)]);
  });

  it('marks a dependent with finalizers for deletion and lets its finalizers finish it', async () => {
    const web = await db.store.create(app('web'));
    await db.store.create(revision('web-1', [ownedBy(web)], { finalizers: ['capstan.io/drain'] }));
    await db.store.delete('App', { name: 'web' });
    const marked = await until(async () => {
      const object = await db.store.get('Revision', { name: 'web-1' });
      return object?.metadata.deletionTimestamp ? object : undefined;
    }, { what: 'deletionTimestamp set' });
    await db.store.update({ ...marked, metadata: { ...marked.metadata, finalizers: [] } });
    expect(await exists('Revision', 'web-1')).toBe(false);
  });

  it('does not collect a dependent created right after its owner', async () => {
    const web = await db.store.create(app('web'));
    await db.store.create(revision('web-1', [ownedBy(web)]));
    // A later orphan of the same kind is collected after web-1 was looked at (concurrency 1, FIFO).
    await db.store.create(revision('ghost-1', [{ ...ownedBy(web), name: 'ghost', uid: '00000000-0000-4000-8000-000000000001' }]));
    await until(async () => !(await exists('Revision', 'ghost-1')), { what: 'the orphan collected' });
    expect(await exists('Revision', 'web-1')).toBe(true);
  });
  describe('foreground deletion', () => {
    it('keeps the App and its Revision, marked, until every Task is gone, then removes them bottom up', async () => {
      await db.store.create(node('n1'));
      const web = await db.store.create(app('web'));
      const rev = await db.store.create(revision('web-1', [ownedBy(web)]));
      await db.store.create(boundTask('web-1-a', rev, 'n1'));
      await db.store.create(boundTask('web-1-b', rev, 'n1'));

      await db.store.delete('App', { name: 'web' }, { propagationPolicy: 'Foreground' });
      // The foreground travels down: every level is marked, and the tasks wait for their agent.
      const marked = await until(async () => {
        const tasks = await Promise.all(['web-1-a', 'web-1-b'].map((name) => db.store.get('Task', { name })));
        // Tasks have no dependents: the gc takes their foreground finalizer off at once.
        return tasks.every((t) => t?.metadata.deletionTimestamp && t.metadata.finalizers?.join() === AGENT_FINALIZER) && tasks;
      }, { what: 'both tasks marked for deletion, held only by their agent' });
      expect(marked).toHaveLength(2);
      const [appNow, revNow] = [await db.store.get('App', { name: 'web' }), await db.store.get('Revision', { name: 'web-1' })];
      expect(appNow?.metadata).toMatchObject({ finalizers: [FOREGROUND_FINALIZER], deletionTimestamp: expect.any(String) });
      expect(revNow?.metadata).toMatchObject({ finalizers: [FOREGROUND_FINALIZER], deletionTimestamp: expect.any(String) });

      await release('web-1-a');
      expect(await exists('Task', 'web-1-a')).toBe(false);
      expect(await exists('App', 'web')).toBe(true); // web-1-b still holds it

      await release('web-1-b');
      await until(async () => !(await exists('App', 'web')), { what: 'the App gone once its last task is' });
      expect(await exists('Revision', 'web-1')).toBe(false);
    });

    it('finishes at once for an object without dependents', async () => {
      await db.store.create(app('lonely'));
      const marked = await db.store.delete('App', { name: 'lonely' }, { propagationPolicy: 'Foreground' });
      expect(marked?.metadata.finalizers).toEqual([FOREGROUND_FINALIZER]);
      await until(async () => !(await exists('App', 'lonely')), { what: 'the App gone' });
    });
  });

  describe('the tasks of a deleted node', () => {
    it('turn Lost naming the node and lose the agent finalizer; one being deleted is gone; other nodes\' tasks stay', async () => {
      const web = await db.store.create(app('web'));
      const rev = await db.store.create(revision('web-1', [ownedBy(web)]));
      await db.store.create(node('n1'));
      await db.store.create(node('n2'));
      await db.store.create(boundTask('web-1-a', rev, 'n1'));
      await db.store.create(boundTask('web-1-b', rev, 'n1'));
      await db.store.create(boundTask('web-1-c', rev, 'n2'));
      const entry = nodeTaskIndexEntry({ node: 'n1', namespace: 'default', name: 'web-1-a', uid: (await db.store.mustGet('Task', { name: 'web-1-a' })).metadata.uid! });
      await db.client.put(entry.key).value(entry.value);
      await db.store.delete('Task', { name: 'web-1-b' });
      expect((await db.store.get('Task', { name: 'web-1-b' }))?.metadata.deletionTimestamp).toBeDefined();

      await db.store.delete('Node', { name: 'n1' });
      // Two writes (controllers/nodes.ts dropFinalizer): the finalizer goes, then the index entry.
      const lost = await until(async () => {
        const a = await db.store.get('Task', { name: 'web-1-a' });
        return a?.metadata.finalizers?.length === 0 && (await db.client.get(nodeTaskIndexKey('n1', 'default', 'web-1-a'))) === null && a;
      }, { what: 'web-1-a released and out of n1\'s index' });
      expect(lost.status).toMatchObject({ phase: 'Lost', message: expect.stringContaining('node n1 was deleted') });
      await until(async () => !(await exists('Task', 'web-1-b')), { what: 'the deleting task gone' });
      const other = await db.store.mustGet('Task', { name: 'web-1-c' });
      expect(other.metadata.finalizers).toEqual([AGENT_FINALIZER]);
      expect(other.status).toEqual({ phase: 'Running' });
    });
  });

  describe('ended tasks', () => {
    it('keeps the newest few failures per App (3 here), across revisions, no killed task, and never a live task', async () => {
      await db.store.create(node('n1'));
      const web = await db.store.create(app('web'));
      const rev1 = await db.store.create(revision('web-1', [ownedBy(web)]));
      const rev2 = await db.store.create({ ...revision('web-2', [ownedBy(web)]), spec: { ...revision('web-2', []).spec, number: 2 } });
      const other = await db.store.create(app('other'));
      const otherRev = await db.store.create(revision('other-1', [ownedBy(other)]));
      const failedAt = (minute: number) => ({ phase: 'Failed', message: 'exited with code 1', finishedAt: `2026-01-01T00:0${minute}:00.000Z` });
      await db.store.create(boundTask('web-1-live', rev1, 'n1'));
      for (const minute of [1, 2, 3]) await db.store.create(boundTask(`web-1-f${minute}`, rev1, 'n1', failedAt(minute)));
      for (const minute of [4, 5]) await db.store.create(boundTask(`web-2-f${minute}`, rev2, 'n1', failedAt(minute)));
      for (const minute of [1, 2]) await db.store.create(boundTask(`other-1-f${minute}`, otherRev, 'n1', failedAt(minute)));
      // Stopped by `capstan up`'s Ctrl-C in an earlier run: the newest, and still not history.
      await db.store.create(boundTask('web-2-k', rev2, 'n1', { phase: 'Killed', message: 'stopped', finishedAt: '2026-01-01T00:09:00.000Z' }));

      // Deleted ones are marked (their agent still has to clean up), so count those not being deleted.
      const kept = async (prefix: string) =>
        (await db.store.list('Task')).items.filter((t) => t.metadata.name.startsWith(prefix) && !t.metadata.deletionTimestamp).map((t) => t.metadata.name).sort();
      await until(async () => (await kept('web-')).length === 4, { what: 'web\'s ended tasks trimmed to 3 failures (plus the live one)' });
      expect(await kept('web-')).toEqual(['web-1-f3', 'web-1-live', 'web-2-f4', 'web-2-f5']);
      expect(await kept('other-')).toEqual(['other-1-f1', 'other-1-f2']);
    });

    it('capstan controllers refuses a negative --terminal-task-history and says what it expects', async () => {
      const result = await capstan(['controllers', '--terminal-task-history', '-1'], { etcd: db.etcd.url });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('--terminal-task-history: expected a whole number of ended tasks to keep per App (0 or more, e.g. 5), found "-1"');
    });
  });

  describe('with the replicas controller', () => {
    let workloads: Manager;
    beforeAll(async () => {
      workloads = new Manager({ store: db.store, controllers: [rolloutController(), replicasController()], leaderElection: false, logger: pino({ level: 'silent' }) });
      await workloads.start();
    });
    afterAll(async () => {
      await workloads?.stop();
    });

    it('a deleted node\'s task is replaced', async () => {
      await db.store.create(node('n3'));
      await db.store.create({ apiVersion: 'capstan/v1', kind: 'App', metadata: { name: 'svc' }, spec: appSpecSchema.parse({ driver: 'process', instances: 1, containers: [{ cmd: 'sleep 600' }] }) });
      const first = await until(async () => (await db.store.list('Task')).items.find((t) => appOf(t) === 'svc'), { what: 'svc\'s task created' });
      // Bound as the scheduler binds, with the node's index entry in the same transaction.
      const entry = nodeTaskIndexEntry({ node: 'n3', namespace: 'default', name: first.metadata.name, uid: first.metadata.uid! });
      const { written } = await db.store.bindMany([{ object: first, binding: { nodeName: 'n3', hostPorts: [] }, alsoPut: [entry] }]);
      expect(written).toHaveLength(1);
      await db.store.updateStatus({ ...(await db.store.mustGet('Task', { name: first.metadata.name })), status: { phase: 'Running', startedAt: new Date().toISOString() } });

      await db.store.delete('Node', { name: 'n3' });
      const replaced = await until(async () => {
        const tasks = (await db.store.list('Task')).items.filter((t) => appOf(t) === 'svc');
        const old = tasks.find((t) => t.metadata.uid === first.metadata.uid);
        const fresh = tasks.find((t) => t.metadata.uid !== first.metadata.uid && (t.status as { phase?: string } | undefined)?.phase === 'Pending');
        const lost = old && (old.status as { phase?: string } | undefined)?.phase === 'Lost' && old.metadata.finalizers?.length === 0;
        return lost && fresh ? { old, fresh } : undefined;
      }, { what: 'the lost task released and a replacement created' });
      expect(replaced.old!.status).toMatchObject({ message: expect.stringContaining('node n3 was deleted') });
    });
  });
});
