import type { Etcd3 } from 'etcd3';
import { afterEach, describe, expect, it } from 'vitest';
import { connectEtcd } from '../api/etcd.ts';
import { Informer, type InformerEvent } from '../api/informer.ts';
import { KeyedInformer } from '../api/keyed-informer.ts';
import { useStore } from './helpers/etcd.ts';
import { placed, placedKind, widget, widgetKind, widgetRegistry } from './helpers/kinds.ts';
import { until } from './helpers/poll.ts';
import { startProxy, type Partitionable } from './helpers/tcp-proxy.ts';

type Widget = ReturnType<typeof widget>;

const summary = (events: InformerEvent[]) =>
  events.map((e) => `${e.type} ${e.key}${e.type === 'deleted' ? '' : ` size=${(e.object.spec as { size: number }).size}`}`);

describe('informers on a real etcd', () => {
  // db.client writes; each informer reads over a client of its own.
  const db = useStore(widgetRegistry(), { clearEachTest: true });
  let informerClient: Etcd3 | undefined;
  let informer: Informer | undefined;
  let proxy: Partitionable | undefined;

  afterEach(async () => {
    await informer?.stop();
    informerClient?.close();
    await proxy?.close();
    informer = undefined;
    informerClient = undefined;
    proxy = undefined;
  });

  async function startInformer(endpoint: string) {
    informerClient = connectEtcd({ endpoints: endpoint });
    informer = new Informer(informerClient, widgetKind);
    const events: InformerEvent[] = [];
    informer.events$.subscribe((event) => events.push(event));
    await informer.start();
    return { informer, events };
  }

  const get = (name: string) => db.store.mustGet<Widget>('Widget', { namespace: 'default', name });
  const resize = async (name: string, size: number) => db.store.update({ ...(await get(name)), spec: { size } });
  const setStatus = async (name: string, status: unknown) => db.store.updateStatus({ ...(await get(name)), status });

  it('lists what exists, then streams adds, spec and status changes, and deletes joined by key', async () => {
    await db.store.create(widget('before', 1));
    const { informer, events } = await startInformer(db.etcd.url);
    expect(informer.keys()).toEqual(['default/before']);
    await db.store.create(widget('after', 2));
    await resize('after', 3);
    await setStatus('after', { phase: 'Ready' });
    await db.store.delete('Widget', { namespace: 'default', name: 'before' });
    await until(() => events.length === 4, { what: 'four events' });
    expect(summary(events)).toEqual(['added default/after size=2', 'modified default/after size=3', 'modified default/after size=3', 'deleted default/before']);
    expect(informer.get('default/after')?.status).toEqual({ phase: 'Ready' });
    expect(informer.get('default/after')?.metadata.resourceVersion).toBe((await get('after')).metadata.resourceVersion);
  });

  it('survives etcd kill -9 and restart: resumes from its last revision, losing and repeating nothing', async () => {
    await db.store.create(widget('a', 1));
    await db.store.create(widget('b', 1));
    const { informer, events } = await startInformer(db.etcd.url);
    await resize('a', 2);
    await until(() => events.length === 1, { what: 'the first change' });

    await db.etcd.kill();
    await db.etcd.restart();
    await resize('a', 3);
    await db.store.delete('Widget', { namespace: 'default', name: 'b' });
    await db.store.create(widget('c', 7));

    await until(() => events.length >= 4, { timeoutMs: 15_000, what: 'changes made after the restart' });
    expect(summary(events)).toEqual(['modified default/a size=2', 'modified default/a size=3', 'deleted default/b', 'added default/c size=7']);
    expect(informer.keys().sort()).toEqual(['default/a', 'default/c']);
    expect(informer.relistCount).toBe(0);
  });

  it('re-lists after a compaction past its revision and emits exactly the difference', async () => {
    await db.store.create(widget('kept', 1));
    await db.store.create(widget('changed', 1));
    await db.store.create(widget('removed', 1));
    await db.store.create(widget('status-only', 1));
    proxy = await startProxy(Number(new URL(db.etcd.url).port));
    const { informer, events } = await startInformer(proxy.url);

    proxy.partition();
    await resize('changed', 2);
    await resize('changed', 3);
    await setStatus('status-only', { phase: 'Running' });
    await db.store.delete('Widget', { namespace: 'default', name: 'removed' });
    await db.store.create(widget('added', 5));
    await db.store.create(widget('transient', 1));
    await db.store.delete('Widget', { namespace: 'default', name: 'transient' });
    const head = (await db.client.get('/capstan/none').exec()).header.revision;
    await db.client.kv.compact({ revision: head, physical: true } as never);
    proxy.heal();

    await until(() => informer.relistCount > 0 && events.length >= 4, { timeoutMs: 15_000, what: 'the re-list after compaction' });
    // One event per object that differs, whatever happened to it in between; nothing for what
    // came and went, nothing for what did not change.
    expect(summary(events).sort()).toEqual([
      'added default/added size=5',
      'deleted default/removed',
      'modified default/changed size=3',
      'modified default/status-only size=1',
    ]);
    expect(informer.keys().sort()).toEqual(['default/added', 'default/changed', 'default/kept', 'default/status-only']);
    // And it is watching again from the new list.
    await resize('kept', 9);
    await until(() => events.some((e) => e.key === 'default/kept'), { what: 'a change after the re-list' });
    expect(events).toHaveLength(5);
  });

  it('joins bindings into the spec: a binding is one modified event, and a bound object\'s deletion one deleted event, in both informers', async () => {
    informerClient = connectEtcd({ endpoints: db.etcd.url });
    informer = new Informer(informerClient, placedKind);
    const keyed = new KeyedInformer(informerClient, placedKind, '/capstan/index/test/');
    const events: string[] = [];
    const keyedEvents: string[] = [];
    const describe = (e: InformerEvent) => `${e.type} ${e.key} slot=${(e.object.spec as { slot?: string }).slot ?? '-'}`;
    informer.events$.subscribe((e) => events.push(describe(e)));
    keyed.events$.subscribe((e) => keyedEvents.push(describe(e)));
    await db.store.create(placed('listed', { slot: 'born' }));
    await Promise.all([informer.start(), keyed.start()]);
    expect(informer.get('default/listed')!.spec).toEqual({ size: 1, slot: 'born' });

    const created = await db.store.create(placed('p'));
    await until(() => events.length === 1, { what: 'the add' });
    await db.store.bindMany([{ object: created, binding: { slot: 's1', port: 7 }, alsoPut: [{ key: '/capstan/index/test/default/p', value: created.metadata.uid! }] }]);
    await until(() => events.length === 2 && keyedEvents.length === 1, { what: 'the binding' });
    expect(informer.get('default/p')!.spec).toEqual({ size: 1, slot: 's1', port: 7 });
    expect(keyed.get('default/p')!.spec).toEqual({ size: 1, slot: 's1', port: 7 });
    const fresh = await db.store.mustGet('Placed', { namespace: 'default', name: 'p' });
    expect(informer.get('default/p')!.metadata.resourceVersion).toBe(fresh.metadata.resourceVersion);

    // Marked for deletion (the finalizer holds it), then the finalizer released: spec, status and
    // binding go in one transaction, and each informer tells of it once, never as unbound.
    await db.store.delete('Placed', { namespace: 'default', name: 'p' });
    const marked = await db.store.mustGet('Placed', { namespace: 'default', name: 'p' });
    await db.store.update({ ...marked, metadata: { ...marked.metadata, finalizers: [] } });
    await until(() => events.length === 4 && keyedEvents.length === 3, { what: 'the deletion' });
    expect(events).toEqual(['added default/p slot=-', 'modified default/p slot=s1', 'modified default/p slot=s1', 'deleted default/p slot=s1']);
    expect(keyedEvents).toEqual(['added default/p slot=s1', 'modified default/p slot=s1', 'deleted default/p slot=s1']);
    await keyed.stop();
  });
});

describe('the keyed informer (an index of keys) on a real etcd', () => {
  const db = useStore(widgetRegistry());
  const INDEX = '/capstan/index/test/widgets/';

  const index = async (name: string) => {
    const object = await db.store.mustGet('Widget', { namespace: 'default', name });
    await db.client.put(`${INDEX}default/${name}`).value(object.metadata.uid!);
  };

  it('follows only indexed objects, and after a compaction during a partition emits exactly the difference', async () => {
    for (const name of ['a', 'b', 'c', 'outside']) await db.store.create(widget(name, 1));
    await index('a');
    await index('b');
    const proxy = await startProxy(Number(new URL(db.etcd.url).port));
    const client = connectEtcd({ endpoints: proxy.url });
    const keyed = new KeyedInformer(client, widgetKind, INDEX);
    const events: InformerEvent[] = [];
    keyed.events$.subscribe((event) => events.push(event));
    try {
      await keyed.start();
      expect(keyed.list().map((w) => w.metadata.name).sort()).toEqual(['a', 'b']);
      await db.store.update({ ...(await db.store.mustGet('Widget', { namespace: 'default', name: 'outside' })), spec: { size: 7 } });

      proxy.partition();
      await db.store.update({ ...(await db.store.mustGet('Widget', { namespace: 'default', name: 'a' })), spec: { size: 2 } });
      await db.client.delete().key(`${INDEX}default/b`);
      await index('c');
      const head = (await db.client.get('/capstan/none').exec()).header.revision;
      await db.client.kv.compact({ revision: head, physical: true } as never);
      proxy.heal();

      await until(() => keyed.relistCount > 0 && events.length >= 3, { timeoutMs: 15_000, what: 'the re-list after compaction' });
      expect(summary(events).sort()).toEqual(['added default/c size=1', 'deleted default/b', 'modified default/a size=2']);
      expect(keyed.list().map((w) => w.metadata.name).sort()).toEqual(['a', 'c']);
    } finally {
      await keyed.stop();
      client.close();
      await proxy.close();
    }
  });

});
