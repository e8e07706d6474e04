// The garbage collector on a real etcd with the built-in kinds: App → Revision → Task.
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { appSpecSchema, templateOf } from '../api/kinds/app.ts';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import type { AnyObject, OwnerReference } from '../api/object.ts';
import { gcController } from '../controllers/gc.ts';
import { Manager } from '../controllers/manager.ts';
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

describe('the garbage collector', () => {
  const db = useStore(builtinRegistry());
  let manager: Manager;
  const exists = async (kind: string, name: string) => (await db.store.get(kind, { name })) !== undefined;

  beforeAll(async () => {
    const kinds = db.store.registry.kinds().map((k) => k.kind).filter((k) => k !== 'Event');
    // Concurrency 1: keys of one kind are then collected in the order their events arrived, which the
    // "no false positive" case uses as a barrier.
    manager = new Manager({ store: db.store, controllers: [gcController({ kinds, concurrency: 1 })], leaderElection: false, logger: pino({ level: 'silent' }) });
    await manager.start();
  });
  afterAll(async () => {
    await manager?.stop();
  });
  beforeEach(async () => {
    for (const kind of ['Task', 'Revision', 'App']) {
      for (const object of (await db.store.list(kind)).items) await db.store.delete(kind, { namespace: object.metadata.namespace, name: object.metadata.name });
    }
  });

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
});
