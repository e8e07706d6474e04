import { describe, expect, it } from 'vitest';
import { isStoreError } from '../api/errors.ts';
import { useStore } from './helpers/etcd.ts';
import { placed, widget, widgetRegistry } from './helpers/kinds.ts';

type Widget = ReturnType<typeof widget>;

describe('the store on a real etcd', () => {
  const db = useStore(widgetRegistry(), { clearEachTest: true });


  it('creates with uid, generation 1 and creation time, under the spec key of DESIGN.md', async () => {
    const created = await db.store.create(widget('a', 3, 'shop'));
    expect(created.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.metadata.generation).toBe(1);
    expect(created.metadata.creationTimestamp).toBeTruthy();
    const raw = JSON.parse((await db.client.get('/capstan/spec/widgets/shop/a').string())!);
    expect(raw.spec).toEqual({ size: 3 });
    expect(raw.metadata.resourceVersion).toBeUndefined();
  });

  it('reports AlreadyExists, NotFound and Invalid as typed errors carrying the key', async () => {
    await db.store.create(widget('a'));
    await expect(db.store.create(widget('a'))).rejects.toSatisfy((e) => isStoreError(e, 'AlreadyExists'));
    await expect(db.store.create(widget('a'))).rejects.toThrow('store: already exists: /capstan/spec/widgets/default/a');
    await expect(db.store.update({ ...widget('missing'), metadata: { name: 'missing', namespace: 'default', resourceVersion: '1' } }))
      .rejects.toSatisfy((e) => isStoreError(e, 'NotFound'));
    await expect(db.store.create({ ...widget('bad'), spec: { size: 'big' } as never })).rejects.toSatisfy((e) => isStoreError(e, 'Invalid'));
  });

  it('bumps generation on spec change only, and an unchanged update writes nothing', async () => {
    const created = await db.store.create(widget('a', 1));
    const same = await db.store.update(created);
    expect(same.metadata.resourceVersion).toBe(created.metadata.resourceVersion);
    const labelled = await db.store.update({ ...created, metadata: { ...created.metadata, labels: { x: 'y' } } });
    expect(labelled.metadata.generation).toBe(1);
    const resized = await db.store.update({ ...labelled, spec: { size: 2 } });
    expect(resized.metadata.generation).toBe(2);
    expect(BigInt(resized.metadata.resourceVersion!)).toBeGreaterThan(BigInt(labelled.metadata.resourceVersion!));
  });

  it('conditions spec and status writes independently: neither conflicts with the other', async () => {
    const created = await db.store.create(widget('a', 1));
    const withStatus = await db.store.updateStatus({ ...created, status: { ready: true } });
    // An apply that read before the status write still lands: status is not its business.
    const applied = await db.store.update({ ...created, spec: { size: 5 } });
    expect(applied.spec).toEqual({ size: 5 });
    // A controller that read before the apply still writes its status.
    await db.store.updateStatus({ ...withStatus, status: { ready: false } });
    const now = await db.store.mustGet<Widget>('Widget', { namespace: 'default', name: 'a' });
    expect(now.spec).toEqual({ size: 5 });
    expect(now.status).toEqual({ ready: false });
    expect(now.metadata.generation).toBe(2);
  });

  it('rejects a stale spec write and a stale status write with Conflict', async () => {
    const created = await db.store.create(widget('a', 1));
    await db.store.update({ ...created, spec: { size: 2 } });
    await expect(db.store.update({ ...created, spec: { size: 3 } })).rejects.toSatisfy((e) => isStoreError(e, 'Conflict'));
    const first = await db.store.updateStatus({ ...created, status: { n: 1 } });
    await db.store.updateStatus({ ...first, status: { n: 2 } });
    await expect(db.store.updateStatus({ ...first, status: { n: 3 } })).rejects.toSatisfy((e) => isStoreError(e, 'Conflict'));
  });

  it('does not write status onto a new object of the same name', async () => {
    const first = await db.store.create(widget('a'));
    await db.store.delete('Widget', { namespace: 'default', name: 'a' });
    await db.store.create(widget('a'));
    await expect(db.store.updateStatus({ ...first, status: { stale: true } })).rejects.toSatisfy((e) => isStoreError(e, 'Conflict'));
  });

  it('loses no update among concurrent read-modify-write writers', async () => {
    await db.store.create(widget('counter', 0));
    const writers = 8;
    const incrementsEach = 15;
    const increment = async () => {
      for (;;) {
        const current = await db.store.mustGet<Widget>('Widget', { namespace: 'default', name: 'counter' });
        try {
          await db.store.update({ ...current, spec: { size: current.spec.size + 1 } });
          return;
        } catch (error) {
          if (!isStoreError(error, 'Conflict')) throw error;
        }
      }
    };
    await Promise.all(
      Array.from({ length: writers }, async () => {
        for (let i = 0; i < incrementsEach; i += 1) await increment();
      }),
    );
    const final = await db.store.mustGet<Widget>('Widget', { namespace: 'default', name: 'counter' });
    expect(final.spec.size).toBe(writers * incrementsEach);
    expect(final.metadata.generation).toBe(1 + writers * incrementsEach);
  });

  it('holds an object with finalizers until the last finalizer is removed', async () => {
    const created = await db.store.create<Widget>({ ...widget('f'), metadata: { name: 'f', namespace: 'default', finalizers: ['capstan.io/test'] } });
    const marked = await db.store.delete<Widget>('Widget', { namespace: 'default', name: 'f' });
    expect(marked?.metadata).toMatchObject({ deletionTimestamp: expect.any(String) });
    const still = await db.store.mustGet('Widget', { namespace: 'default', name: 'f' });
    expect(still.metadata.deletionTimestamp).toBeTruthy();
    await db.store.update({ ...still, metadata: { ...still.metadata, finalizers: [] } });
    expect(await db.store.get('Widget', { namespace: 'default', name: 'f' })).toBeUndefined();
    expect(created.metadata.uid).toBeTruthy();
  });

  it('lists by namespace and label selector, at one revision', async () => {
    await db.store.create({ ...widget('a', 1, 'one'), metadata: { name: 'a', namespace: 'one', labels: { tier: 'front' } } });
    await db.store.create({ ...widget('b', 1, 'two'), metadata: { name: 'b', namespace: 'two', labels: { tier: 'back' } } });
    await db.store.create(widget('c', 1, 'two'));
    expect((await db.store.list('widgets')).items.map((w) => w.metadata.name).sort()).toEqual(['a', 'b', 'c']);
    expect((await db.store.list('wd', { namespace: 'two' })).items).toHaveLength(2);
    expect((await db.store.list('Widget', { labelSelector: 'tier in (front,back)' })).items).toHaveLength(2);
    expect((await db.store.list('Widget', { labelSelector: '!tier' })).items.map((w) => w.metadata.name)).toEqual(['c']);
  });

  it('fences writes on a leader key: once the claim is gone, writes fail with Fenced', async () => {
    const lease = db.client.lease(5);
    await lease.put('/capstan/leaders/test').value('me');
    const kv = (await db.client.get('/capstan/leaders/test').exec()).kvs[0]!;
    const fencedStore = db.store.withFence({ key: '/capstan/leaders/test', createRevision: kv.create_revision });
    const created = await fencedStore.create(widget('led'));
    await lease.revoke();
    await expect(fencedStore.update({ ...created, spec: { size: 9 } })).rejects.toSatisfy((e) => isStoreError(e, 'Fenced'));
    await expect(fencedStore.create(widget('late'))).rejects.toThrow(/no longer leader/);
    expect(await db.store.get('Widget', { name: 'late' })).toBeUndefined();
  });

  describe('bindings (a kind whose binding fields live in a key of their own, as Task\'s nodeName and hostPorts)', () => {
    type Placed = ReturnType<typeof placed>;
    const ref = (name: string) => ({ namespace: 'default', name });
    const rawJson = async (key: string) => JSON.parse((await db.client.get(key).string()) ?? 'null');

    it('binds in a small key joined into the spec, without rewriting the spec key or moving generation', async () => {
      const created = await db.store.create<Placed>(placed('p'));
      expect(created.metadata.finalizers).toEqual(['capstan.io/runner']);
      const specBefore = await db.client.get('/capstan/spec/placeds/default/p').exec();
      const { written, failed } = await db.store.bindMany([
        { object: created, binding: { slot: 's1', port: 31000 }, alsoPut: [{ key: '/capstan/index/test/p', value: created.metadata.uid! }] },
      ]);
      expect(failed).toEqual([]);
      expect(written.map((request) => request.object.metadata.name)).toEqual(['p']);
      expect(await rawJson('/capstan/binding/placeds/default/p')).toEqual({ slot: 's1', port: 31000 });
      expect(await db.client.get('/capstan/index/test/p').string()).toBe(created.metadata.uid);
      const specAfter = await db.client.get('/capstan/spec/placeds/default/p').exec();
      expect(specAfter.kvs[0]!.mod_revision).toBe(specBefore.kvs[0]!.mod_revision);
      const read = await db.store.mustGet<Placed>('Placed', ref('p'));
      expect(read.spec).toEqual({ size: 1, slot: 's1', port: 31000 });
      expect(read.metadata.generation).toBe(1);
      expect(BigInt(read.metadata.resourceVersion!)).toBeGreaterThan(BigInt(created.metadata.resourceVersion!));
      expect((await db.store.list<Placed>('Placed')).items[0]!.spec).toEqual(read.spec);
    });

    it('binds once: a second binding, a stale read and a deleted object all fail and write nothing', async () => {
      const created = await db.store.create<Placed>(placed('once'));
      await db.store.bindMany([{ object: created, binding: { slot: 's1' } }]);
      expect((await db.store.bindMany([{ object: created, binding: { slot: 's2' } }])).failed).toHaveLength(1);
      expect((await db.store.mustGet<Placed>('Placed', ref('once'))).spec.slot).toBe('s1');

      const stale = await db.store.create<Placed>(placed('stale'));
      await db.store.update({ ...stale, spec: { size: 2 } });
      expect((await db.store.bindMany([{ object: stale, binding: { slot: 's1' } }])).failed).toHaveLength(1);

      const gone = await db.store.create<Placed>(placed('gone'));
      await db.store.delete('Placed', ref('gone'));
      expect((await db.store.bindMany([{ object: gone, binding: { slot: 's1' } }])).failed).toHaveLength(1);
      expect(await db.client.get('/capstan/binding/placeds/default/gone').string()).toBeNull();
    });

    it('keeps a binding through spec updates that leave it out, and refuses to change it', async () => {
      const created = await db.store.create<Placed>(placed('kept'));
      await db.store.bindMany([{ object: created, binding: { slot: 's1', port: 1 } }]);
      const bound = await db.store.mustGet<Placed>('Placed', ref('kept'));
      const { slot: _slot, port: _port, ...withoutBinding } = bound.spec;
      const resized = await db.store.update<Placed>({ ...bound, spec: { ...withoutBinding, size: 3 } } as Placed);
      expect(resized.spec).toEqual({ size: 3, slot: 's1', port: 1 });
      expect(await rawJson('/capstan/spec/placeds/default/kept')).toMatchObject({ spec: { size: 3 } });
      expect((await rawJson('/capstan/spec/placeds/default/kept')).spec.slot).toBeUndefined();
      await expect(db.store.update<Placed>({ ...resized, spec: { ...resized.spec, slot: 's2' } })).rejects.toThrow(/spec.slot, spec.port are written once, by binding/);
      // A spec update read before the binding landed conflicts, rather than decide on an unbound read.
      const unbound = await db.store.create<Placed>(placed('raced'));
      await db.store.bindMany([{ object: unbound, binding: { slot: 's1' } }]);
      await expect(db.store.update<Placed>({ ...unbound, metadata: { ...unbound.metadata, labels: { a: 'b' } } })).rejects.toSatisfy((e) => isStoreError(e, 'Conflict'));
    });

    it('creates bound when the spec names a binding, and clears a binding key left behind by an earlier object of the name', async () => {
      const created = await db.store.create<Placed>(placed('born-bound', { slot: 's9' }));
      expect(created.spec.slot).toBe('s9');
      expect(await rawJson('/capstan/binding/placeds/default/born-bound')).toEqual({ slot: 's9' });
      expect((await rawJson('/capstan/spec/placeds/default/born-bound')).spec).toEqual({ size: 1 });
      // Removed behind the store's back, leaving the binding key: the next object of the name is unbound.
      await db.client.delete().key('/capstan/spec/placeds/default/born-bound');
      const again = await db.store.create<Placed>(placed('born-bound'));
      expect(again.spec.slot).toBeUndefined();
      expect((await db.store.mustGet<Placed>('Placed', ref('born-bound'))).spec.slot).toBeUndefined();
      expect((await db.store.bindMany([{ object: again, binding: { slot: 's1' } }])).failed).toEqual([]);
    });

    it('deletes an unbound object at once, holds a bound one for its finalizer, and removes every key when it goes', async () => {
      await db.store.create<Placed>(placed('never-bound'));
      expect(await db.store.delete('Placed', ref('never-bound'))).toBeTruthy();
      expect(await db.store.get('Placed', ref('never-bound'))).toBeUndefined();

      const created = await db.store.create<Placed>({ ...placed('bound'), metadata: { name: 'bound', namespace: 'default', finalizers: ['capstan.io/other'] } });
      await db.store.bindMany([{ object: created, binding: { slot: 's1' } }]);
      const deleting = await db.store.delete<Placed>('Placed', ref('bound'));
      expect(deleting!.metadata.deletionTimestamp).toBeTruthy();
      expect(deleting!.metadata.finalizers).toEqual(['capstan.io/other', 'capstan.io/runner']);
      const held = await db.store.mustGet<Placed>('Placed', ref('bound'));
      await db.store.update({ ...held, metadata: { ...held.metadata, finalizers: [] } });
      expect(await db.store.get('Placed', ref('bound'))).toBeUndefined();
      expect(await db.client.get('/capstan/binding/placeds/default/bound').string()).toBeNull();

      // An unbound object with another finalizer loses only the runner's, and waits for the other.
      const waits = await db.store.create<Placed>({ ...placed('waits'), metadata: { name: 'waits', namespace: 'default', finalizers: ['capstan.io/other'] } });
      const waiting = await db.store.delete<Placed>('Placed', ref('waits'));
      expect(waiting!.metadata.finalizers).toEqual(['capstan.io/other']);
      // A binding decided on a read from before the deletion does not land: marking it changed the spec.
      expect((await db.store.bindMany([{ object: waits, binding: { slot: 's1' } }])).failed).toHaveLength(1);
    });

    it('does not delete an unbound object at once when a binding lands between its read and its delete', async () => {
      const created = await db.store.create<Placed>(placed('late-bind'));
      await db.store.bindMany([{ object: created, binding: { slot: 's1' } }]);
      // A delete conditioned on what was read before the binding fails instead of dropping the finalizer.
      await expect(db.store.delete('Placed', ref('late-bind'), { resourceVersion: created.metadata.resourceVersion })).rejects.toSatisfy((e) =>
        isStoreError(e, 'Conflict'),
      );
      const deleting = await db.store.delete<Placed>('Placed', ref('late-bind'));
      expect(deleting!.metadata.finalizers).toEqual(['capstan.io/runner']);
    });

    it('binds many in transactions of at most 128 compares with the fence added', async () => {
      const lease = db.client.lease(10);
      await lease.put('/capstan/leaders/bind').value('me');
      const kv = (await db.client.get('/capstan/leaders/bind').exec()).kvs[0]!;
      const leader = db.store.withFence({ key: '/capstan/leaders/bind', createRevision: kv.create_revision });
      expect(leader.bindingsPerTransaction(1)).toBe(42);
      const created = await Promise.all(Array.from({ length: 100 }, (_, i) => db.store.create<Placed>(placed(`b${i}`))));
      const { written, failed } = await leader.bindMany(
        created.map((object, i) => ({ object, binding: { slot: `s${i}` }, alsoPut: [{ key: `/capstan/index/test/b${i}`, value: 'x' }] })),
      );
      expect(failed).toEqual([]);
      expect(written).toHaveLength(100);
      expect((await db.store.list<Placed>('Placed')).items.filter((p) => p.spec.slot).length).toBe(100);
      await lease.revoke();
    });
  });
});
