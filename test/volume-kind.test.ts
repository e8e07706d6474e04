// The API contracts of pods and persistent volumes against a real etcd: a Task's slot is part of its
// binding (written once, in the binding key, joined back on read), and a Volume keeps its finalizer
// and carries no owner, so only an explicit delete that the agent completes removes it.
import { describe, expect, it } from 'vitest';
import { appSpecSchema, templateOf } from '../api/kinds/app.ts';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import type { TaskSpec } from '../api/kinds/task.ts';
import { volumeObjectName } from '../api/kinds/volume.ts';
import type { VolumeSpec, VolumeStatus } from '../api/kinds/volume.ts';
import { APP_LABEL, VOLUME_FINALIZER } from '../api/kinds/wellknown.ts';
import type { AnyObject } from '../api/object.ts';
import { useStore } from './helpers/etcd.ts';

const NS = 'shop';
const resident = appSpecSchema.parse({
  containers: [{ name: 'db', image: 'local/busybox:1', volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
  volumes: [{ name: 'data', persistent: { size: 64 } }],
});

function task(name: string): AnyObject & { spec: TaskSpec } {
  return { apiVersion: 'capstan/v1', kind: 'Task', metadata: { name, namespace: NS }, spec: { app: 'db', revision: 1, template: templateOf(resident) } };
}

describe('the pod and volume contracts in the store', () => {
  const db = useStore(builtinRegistry(), { clearEachTest: true });
  const rawJson = async (key: string) => JSON.parse((await db.client.get(key).string())!);

  it('binds a Task with its slot in the binding key, joined into the spec when read', async () => {
    const created = await db.store.create(task('db-1-a'));
    const { failed } = await db.store.bindMany([{ object: created, binding: { nodeName: 'n1', hostPorts: [], slot: 2 } }]);
    expect(failed).toEqual([]);
    expect(await rawJson(`/capstan/binding/tasks/${NS}/db-1-a`)).toEqual({ nodeName: 'n1', hostPorts: [], slot: 2 });
    expect((await rawJson(`/capstan/spec/tasks/${NS}/db-1-a`)).spec.slot).toBeUndefined();
    const read = await db.store.mustGet<AnyObject & { spec: TaskSpec }>('Task', { namespace: NS, name: 'db-1-a' });
    expect(read.spec).toMatchObject({ nodeName: 'n1', slot: 2 });
  });

  it('keeps the slot through a spec update that leaves it out, and refuses to change it', async () => {
    const created = await db.store.create(task('db-1-b'));
    await db.store.bindMany([{ object: created, binding: { nodeName: 'n1', hostPorts: [], slot: 0 } }]);
    const bound = await db.store.mustGet<AnyObject & { spec: TaskSpec }>('Task', { namespace: NS, name: 'db-1-b' });
    const { nodeName: _n, hostPorts: _h, slot: _s, ...unbound } = bound.spec;
    const updated = await db.store.update({ ...bound, metadata: { ...bound.metadata, labels: { x: 'y' } }, spec: unbound });
    expect(updated.spec).toMatchObject({ slot: 0, nodeName: 'n1' });
    await expect(db.store.update({ ...updated, spec: { ...updated.spec, slot: 1 } })).rejects.toThrow(/spec.slot are written once, by binding/);
  });

  it('creates a Task already bound to a slot (as an agent adopting it would find it)', async () => {
    await db.store.create({ ...task('db-1-c'), spec: { ...task('db-1-c').spec, nodeName: 'n2', hostPorts: [], slot: 5 } });
    expect(await rawJson(`/capstan/binding/tasks/${NS}/db-1-c`)).toEqual({ nodeName: 'n2', hostPorts: [], slot: 5 });
  });

  it('keeps a deleted Volume until its finalizer is released, and round-trips its status', async () => {
    const name = volumeObjectName('db', 'data', 0);
    const spec: VolumeSpec = { app: 'db', volume: 'data', slot: 0, size: 64, nodeName: 'n1' };
    const created = await db.store.create({
      apiVersion: 'capstan/v1',
      kind: 'Volume',
      metadata: { name, namespace: NS, labels: { [APP_LABEL]: 'db' }, finalizers: [VOLUME_FINALIZER] },
      spec,
    });
    const status: VolumeStatus = { phase: 'Bound', task: 'db-1-a', hostPath: '/var/lib/capstan/volumes/persistent/shop/db-data-0-1234abcd', usedMiB: 1 };
    await db.store.updateStatus({ ...created, status });
    expect((await db.store.mustGet('Volume', { namespace: NS, name })).status).toEqual(status);

    await db.store.delete('Volume', { namespace: NS, name });
    const deleting = await db.store.mustGet('Volume', { namespace: NS, name });
    expect(deleting.metadata.deletionTimestamp).toBeDefined();
    await db.store.update({ ...deleting, metadata: { ...deleting.metadata, finalizers: [] } });
    expect(await db.store.get('Volume', { namespace: NS, name })).toBeUndefined();
  });
});
