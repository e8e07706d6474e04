import { describe, expect, it } from 'vitest';
import { isStoreError } from '../api/errors.ts';
import type { CapstanObject } from '../api/object.ts';
import { readModifyWrite } from '../api/read-modify-write.ts';
import { useStore } from './helpers/etcd.ts';
import { widget, widgetRegistry } from './helpers/kinds.ts';

type Widget = CapstanObject<{ size: number; note?: string }, { count: number }>;

const ref = { namespace: 'default', name: 'a' };
const grow = (w: Widget): Widget => ({ ...w, spec: { ...w.spec, size: w.spec.size + 1 } });
const count = (w: Widget): Widget => ({ ...w, status: { count: (w.status?.count ?? 0) + 1 } });

describe('readModifyWrite on a real etcd', () => {
  const db = useStore(widgetRegistry(), { clearEachTest: true });


  it.each([
    { write: 'update' as const, change: grow, read: (w: Widget) => w.spec.size },
    { write: 'updateStatus' as const, change: count, read: (w: Widget) => w.status?.count ?? 0 },
  ])('converges with $write when 8 writers change one object from the same stale copy: no change is lost', async ({ write, change, read }) => {
    const stale = (await db.store.create(widget('a'))) as Widget;
    const before = read(stale);
    const results = await Promise.all(
      Array.from({ length: 8 }, () => readModifyWrite<Widget>({ store: db.store, kind: 'Widget', ref, from: { object: stale }, write, change, attempts: 20 })),
    );
    expect(results.map((r) => r.outcome)).toEqual(Array(8).fill('updated'));
    expect(read((await db.store.get<Widget>('Widget', ref))!)).toBe(before + 8);
  });

  it('gives up after the given attempts with a Conflict naming the key, when every write conflicts', async () => {
    const created = (await db.store.create(widget('a'))) as Widget;
    await db.store.update(grow(created));
    let changes = 0;
    // Writing from the creation's resourceVersion, as a caller holding a stale copy would: etcd
    // refuses every attempt, however fresh the read.
    const stale = (current: Widget): Widget => {
      changes += 1;
      return { ...grow(current), metadata: { ...current.metadata, resourceVersion: created.metadata.resourceVersion } };
    };
    const attempt = readModifyWrite<Widget>({ store: db.store, kind: 'Widget', ref, write: 'update', change: stale, attempts: 3, backoff: { firstMs: 1, maxMs: 2 } });
    await expect(attempt).rejects.toSatisfy((e) => isStoreError(e, 'Conflict') && e.key === '/capstan/spec/widgets/default/a');
    await expect(
      readModifyWrite<Widget>({ store: db.store, kind: 'Widget', ref, write: 'update', change: stale, attempts: 3, backoff: { firstMs: 1, maxMs: 2 } }),
    ).rejects.toThrow('store: conflict on /capstan/spec/widgets/default/a: gave up after 3 attempts (last: the object changed since it was read)');
    expect(changes).toBe(6);
    expect((await db.store.get<Widget>('Widget', ref))!.spec.size).toBe(2);
  });

  it('writes nothing when the change has nothing to write, and returns the object as found', async () => {
    const created = (await db.store.create(widget('a'))) as Widget;
    const revision = (await db.client.get('/capstan/spec/widgets/default/a').exec()).header.revision;
    const result = await readModifyWrite<Widget>({ store: db.store, kind: 'Widget', ref, write: 'update', change: () => undefined, attempts: 3 });
    expect(result).toEqual({ outcome: 'unchanged', object: created });
    expect((await db.client.get('/capstan/spec/widgets/default/a').exec()).header.revision).toBe(revision);
  });

  it('returns the object as read again when a conflict leaves nothing to write', async () => {
    const stale = (await db.store.create(widget('a'))) as Widget;
    const fresh = await db.store.update(grow(stale));
    const result = await readModifyWrite<Widget>({
      store: db.store,
      kind: 'Widget',
      ref,
      from: { object: stale },
      write: 'update',
      change: (current) => (current.spec.size >= 2 ? undefined : grow(current)),
      attempts: 3,
    });
    expect(result).toEqual({ outcome: 'unchanged', object: fresh });
  });

  it('is gone, without calling the change, for an absent object', async () => {
    const result = await readModifyWrite<Widget>({ store: db.store, kind: 'Widget', ref, write: 'update', change: () => expect.fail('no change of nothing'), attempts: 3 });
    expect(result).toEqual({ outcome: 'gone' });
  });

  it('is gone when the object was deleted after the copy the change started from', async () => {
    const cached = (await db.store.create(widget('a'))) as Widget;
    await db.store.delete('Widget', ref);
    for (const write of ['update', 'updateStatus'] as const) {
      const result = await readModifyWrite<Widget>({ store: db.store, kind: 'Widget', ref, from: { object: cached }, write, change: write === 'update' ? grow : count, attempts: 3 });
      expect(result).toEqual({ outcome: 'gone' });
    }
    expect(await db.store.get('Widget', ref)).toBeUndefined();
  });

  it('is gone for another incarnation of the name, which it leaves alone', async () => {
    const first = (await db.store.create(widget('a'))) as Widget;
    await db.store.delete('Widget', ref);
    const second = (await db.store.create(widget('a', 7))) as Widget;
    const result = await readModifyWrite<Widget>({
      store: db.store,
      kind: 'Widget',
      ref: { ...ref, uid: first.metadata.uid },
      from: { object: first },
      write: 'updateStatus',
      change: count,
      attempts: 3,
    });
    expect(result).toEqual({ outcome: 'gone' });
    expect(await db.store.get('Widget', ref)).toEqual(second);
  });

  it('creates an absent object with createOrUpdate, and updates one created since it was seen absent', async () => {
    const upsert = (current: Widget | undefined): Widget => (current ? grow(current) : (widget('a', 10) as Widget));
    const created = await readModifyWrite<Widget>({ store: db.store, kind: 'Widget', ref, write: 'createOrUpdate', change: upsert, attempts: 3 });
    expect(created).toMatchObject({ outcome: 'created', object: { spec: { size: 10 } } });
    // Seen absent (a list made before the create): the create is refused, the object read and updated.
    const updated = await readModifyWrite<Widget>({ store: db.store, kind: 'Widget', ref, from: { object: undefined }, write: 'createOrUpdate', change: upsert, attempts: 3 });
    expect(updated).toMatchObject({ outcome: 'updated', object: { spec: { size: 11 } } });
  });

  it('throws what the change throws, writing nothing', async () => {
    await db.store.create(widget('a'));
    const refuse = (): Widget => {
      throw new Error('is being deleted');
    };
    await expect(readModifyWrite<Widget>({ store: db.store, kind: 'Widget', ref, write: 'update', change: refuse, attempts: 3 })).rejects.toThrow('is being deleted');
    expect((await db.store.get<Widget>('Widget', ref))!.metadata.generation).toBe(1);
  });
});
