// The apply engine's atomic mode on a real etcd (issue 14: a GitOps commit is applied whole or not at
// all): every create and configure of a set in ONE transaction, a conflict on any object failing the
// whole transaction and the retry completing it, and a set beyond the store's limits written object
// by object instead, still whole. The etcd here is started with Capstan's raised limits
// (RAISED_TXN_LIMITS: --max-txn-ops 10000, --max-request-bytes 16 MiB).
import { describe, expect, it } from 'vitest';
import { applySet, type ApplySetOptions } from '../api/apply/apply.ts';
import { validateSet, type ValidSet } from '../api/apply/validate.ts';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import { parseManifests } from '../api/manifest.ts';
import type { AnyObject } from '../api/object.ts';
import { Store, type AtomicChange, type AtomicWrite } from '../api/store.ts';
import { RAISED_TXN_LIMITS } from '../api/txn.ts';
import { useStore } from './helpers/etcd.ts';
import { appYaml } from './helpers/manifests.ts';

const SET_SIZE = 50;
const names = Array.from({ length: SET_SIZE }, (_, i) => `app-${String(i).padStart(2, '0')}`);

/** A real Store that, before its first writeAll, lets `rival` write: a change between read and write. */
class RacingStore extends Store {
  writes = 0;
  constructor(base: Store, private readonly rival: () => Promise<void>) {
    super(base.client, base.registry, undefined, base.limits);
  }
  override async writeAll(changes: readonly AtomicChange[]): Promise<AtomicWrite> {
    this.writes += 1;
    if (this.writes === 1) await this.rival();
    return super.writeAll(changes);
  }
}

describe('applySet atomic: one etcd transaction per set', () => {
  const db = useStore(builtinRegistry(), { clearEachTest: true });
  const options = (extra: Partial<ApplySetOptions> = {}): ApplySetOptions => ({ store: db.store, namespace: 'default', inventory: { derived: 'set' }, atomic: true, ...extra });

  const valid = async (text: string): Promise<ValidSet> => {
    const parsed = parseManifests(text, 'set.yaml');
    const validation = await validateSet({ documents: parsed.documents, parseProblems: parsed.problems, registry: db.store.registry, store: db.store });
    if (!validation.valid) throw new Error(`expected a valid set, found problems: ${JSON.stringify(validation.problems)}`);
    return validation.set;
  };
  const appsSet = (instances: number) => valid(names.map((name) => appYaml(name, { instances })).join(''));
  /** etcd's current revision, from a list's response header. */
  const revision = async () => BigInt((await db.store.list('App', { namespace: 'default' })).revision);
  const instancesOf = async () => {
    const { items } = await db.store.list<AnyObject & { spec: { instances?: number } }>('App', { namespace: 'default' });
    return Object.fromEntries(items.map((o) => [o.metadata.name, o.spec.instances]));
  };
  const everyApp = (instances: number) => Object.fromEntries(names.map((name) => [name, instances]));

  it(`writes a set of ${SET_SIZE} Apps in one transaction: etcd's revision advances by one for them, one more for the inventory`, async () => {
    const set = await appsSet(1);
    const before = await revision();
    const result = await applySet(set, options());
    expect(result.failed).toBe(false);
    expect(result.written).toBe('atomically');
    expect(result.fallback).toBeUndefined();
    expect(result.objects.map((o) => o.outcome)).toEqual(names.map(() => 'created'));
    const revisions = new Set(result.objects.map((o) => (o.outcome === 'failed' ? 'failed' : o.object.metadata.resourceVersion)));
    expect([...revisions]).toEqual([String(before + 1n)]);
    expect(await revision()).toBe(before + 2n); // the objects' transaction, then the inventory
    expect(await instancesOf()).toEqual(everyApp(1));

    // A second apply configuring all of them is one transaction too; an unchanged one writes nothing.
    const configured = await applySet(await appsSet(2), options());
    expect(configured.written).toBe('atomically');
    expect(configured.objects.map((o) => o.outcome)).toEqual(names.map(() => 'configured'));
    expect(await revision()).toBe(before + 3n); // inventory unchanged: not rewritten
    const again = await applySet(await appsSet(2), options());
    expect(again.objects.map((o) => o.outcome)).toEqual(names.map(() => 'unchanged'));
    expect(await revision()).toBe(before + 3n);
  });

  it('a change to one object between read and write fails the whole transaction; the retry re-reads and completes it', async () => {
    await applySet(await appsSet(1), options());
    const racedName = names[7]!;
    const racing = new RacingStore(db.store, async () => {
      const current = await db.store.mustGet('App', { namespace: 'default', name: racedName });
      await db.store.update({ ...current, metadata: { ...current.metadata, labels: { ...current.metadata.labels, touched: 'by-a-rival' } } });
    });
    const before = await revision();
    const result = await applySet(await appsSet(3), options({ store: racing }));
    expect(racing.writes).toBe(2);
    expect(result.failed).toBe(false);
    expect(result.written).toBe('atomically');
    expect(result.objects.map((o) => o.outcome)).toEqual(names.map(() => 'configured'));
    // The rival's update, then one transaction for all 50: the failed first attempt wrote nothing.
    expect(await revision()).toBe(before + 2n);
    expect(await instancesOf()).toEqual(everyApp(3));
    // The retry planned from what the rival wrote: its label is kept (three-way merge).
    const raced = await db.store.mustGet('App', { namespace: 'default', name: racedName });
    expect(raced.metadata.labels?.touched).toBe('by-a-rival');
  });

  it('a set beyond the store\'s limits falls back to per-object writes, says so, and still ends whole', async () => {
    const small = new Store(db.client, db.store.registry, undefined, { maxTxnOps: 20, maxRequestBytes: RAISED_TXN_LIMITS.maxRequestBytes });
    const before = await revision();
    const result = await applySet(await appsSet(1), options({ store: small }));
    expect(result.failed).toBe(false);
    expect(result.written).toBe('perObject');
    expect(result.fallback).toMatch(/50 operations exceed etcd's 20 per transaction \(--max-txn-ops\)/);
    expect(result.objects.map((o) => o.outcome)).toEqual(names.map(() => 'created'));
    expect(await instancesOf()).toEqual(everyApp(1));
    expect(await revision()).toBe(before + BigInt(SET_SIZE) + 1n); // one per object, one for the inventory

    // Bytes count as well as operations.
    const tight = new Store(db.client, db.store.registry, undefined, { maxTxnOps: 10_000, maxRequestBytes: 64 * 1024 + 1000 });
    const bytes = await applySet(await appsSet(2), options({ store: tight }));
    expect(bytes.written).toBe('perObject');
    expect(bytes.fallback).toMatch(/--max-request-bytes/);
    expect(await instancesOf()).toEqual(everyApp(2));
  });

  it('Store.writeAll: an update read before its object was deleted, or deleted and created again, fails the whole transaction', async () => {
    await applySet(await valid(appYaml('kept') + appYaml('gone') + appYaml('reborn')), options());
    const read = async (name: string) => db.store.mustGet('App', { namespace: 'default', name });
    const [kept, gone, reborn] = [await read('kept'), await read('gone'), await read('reborn')];
    const scaled = (o: AnyObject) => ({ ...o, spec: { ...(o.spec as object), instances: 5 } });
    await db.store.delete('App', { namespace: 'default', name: 'gone' });
    const before = await revision();
    const changes = [{ object: scaled(kept), current: kept }, { object: scaled(gone), current: gone }];
    expect(await db.store.writeAll(changes)).toEqual({ outcome: 'conflict' });
    await db.store.delete('App', { namespace: 'default', name: 'reborn' });
    await db.store.create(reborn);
    const after = await revision();
    expect(await db.store.writeAll([{ object: scaled(kept), current: kept }, { object: scaled(reborn), current: reborn }])).toEqual({ outcome: 'conflict' });
    expect(await revision()).toBe(after); // neither conflict wrote anything
    expect(after).toBe(before + 2n); // the delete and the create
    expect((await read('kept')).spec).toMatchObject({ instances: 1 });
  });

  it('etcd started by Capstan takes a transaction of more than its default 128 operations', async () => {
    const many = Array.from({ length: 300 }, (_, i) => appYaml(`big-${i}`)).join('');
    const result = await applySet(await valid(many), options());
    expect(result.written).toBe('atomically');
    expect(result.failed).toBe(false);
    expect((await db.store.list('App', { namespace: 'default' })).items).toHaveLength(300);
  });
});
