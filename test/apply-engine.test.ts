// The apply engine as a library, on a real etcd: a set is validated whole before anything is written,
// each object's outcome comes back as data, prune works within one inventory, and a dry run writes
// nothing. `capstan apply` (test/cli-apply.test.ts) is a caller of exactly this.
import { describe, expect, it } from 'vitest';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import { parseManifests } from '../api/manifest.ts';
import type { AnyObject } from '../api/object.ts';
import { useStore } from './helpers/etcd.ts';
import { applySet, planSet, type ApplySetOptions } from '../api/apply/apply.ts';
import { readInventory } from '../api/apply/inventory.ts';
import { INVENTORY_LABEL } from '../api/apply/plan.ts';
import { validateSet, type ValidSet } from '../api/apply/validate.ts';
import { appYaml } from './helpers/manifests.ts';

const app = appYaml;

describe('the apply engine (api/apply) on a real etcd', () => {
  const db = useStore(builtinRegistry(), { clearEachTest: true });
  const inventory = { derived: 'set' };
  const options = (extra: Partial<ApplySetOptions> = {}): ApplySetOptions => ({ store: db.store, namespace: 'default', inventory, ...extra });

  /** The files' text → a validated set, or the validation's problems. */
  const validate = (files: Record<string, string>) => {
    const parsed = Object.entries(files).map(([file, text]) => parseManifests(text, file));
    return validateSet({
      documents: parsed.flatMap((p) => p.documents),
      parseProblems: parsed.flatMap((p) => p.problems),
      registry: db.store.registry,
      store: db.store,
    });
  };
  const valid = async (files: Record<string, string>): Promise<ValidSet> => {
    const validation = await validate(files);
    if (!validation.valid) throw new Error(`expected a valid set, found problems: ${JSON.stringify(validation.problems)}`);
    return validation.set;
  };
  const apps = async () => (await db.store.list('App', { namespace: 'default' })).items.map((o) => o.metadata.name).sort();
  const outcomes = (objects: readonly { outcome: string; manifest: AnyObject }[]) =>
    Object.fromEntries(objects.map((o) => [o.manifest.metadata.name, o.outcome]));

  it('validates the whole set first: one invalid document among valid ones, every problem located, nothing written', async () => {
    const files = {
      'repo/a.yaml': app('a') + app('b'),
      'repo/b.yaml': app('c') + app('d', { instances: -1 }),
      'repo/c.yaml': app('e'),
    };
    const validation = await validate(files);
    expect(validation.valid).toBe(false);
    if (validation.valid) return;
    expect(validation.problems).toEqual([
      expect.objectContaining({ file: 'repo/b.yaml', line: 15, column: 3, path: 'spec.instances', found: expect.stringContaining('-1') }),
    ]);
    // A caller writes only a ValidSet, so an invalid set leaves the store as it was.
    expect(await apps()).toEqual([]);

    const fixed = await valid({ ...files, 'repo/b.yaml': app('c') + app('d', { instances: 2 }) });
    const result = await applySet(fixed, options());
    expect(result.failed).toBe(false);
    expect(outcomes(result.objects)).toEqual({ a: 'created', b: 'created', c: 'created', d: 'created', e: 'created' });
    expect(await apps()).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('runs the rules that need the store: a service port another stored App claims', async () => {
    await applySet(await valid({ 'first.yaml': app('first', { servicePort: 10070 }) }), options());
    const validation = await validate({ 'second.yaml': app('second', { servicePort: 10070 }) });
    expect(validation.valid).toBe(false);
    if (validation.valid) return;
    expect(validation.problems).toEqual([expect.objectContaining({ file: 'second.yaml', path: 'spec.ports[0].servicePort' })]);
    expect(await apps()).toEqual(['first']);
  });

  it('says per object whether it was created, configured or unchanged, and keeps instances the manifest omits', async () => {
    const first = await applySet(await valid({ 'set.yaml': app('web', { instances: 2 }) + app('db') }), options());
    expect(outcomes(first.objects)).toEqual({ web: 'created', db: 'created' });

    const again = await applySet(await valid({ 'set.yaml': app('web', { instances: 2 }) + app('db') }), options());
    expect(outcomes(again.objects)).toEqual({ web: 'unchanged', db: 'unchanged' });

    // Someone scales web; a manifest without instances leaves the live count (KEPT_WHEN_OMITTED).
    const web = (await db.store.get('App', { namespace: 'default', name: 'web' }))!;
    await db.store.update({ ...web, spec: { ...(web.spec as object), instances: 5 } });
    const changed = await applySet(await valid({ 'set.yaml': app('web') + app('db', { cmd: 'sleep 1000' }) }), options());
    expect(outcomes(changed.objects)).toEqual({ web: 'unchanged', db: 'configured' });
    const stored = await db.store.get<AnyObject & { spec: { instances: number } }>('App', { namespace: 'default', name: 'web' });
    expect(stored?.spec.instances).toBe(5);
  });

  it('prunes within its inventory only: what the set no longer holds goes, another inventory\'s objects stay', async () => {
    await applySet(await valid({ 'set.yaml': app('web') + app('old') }), options());
    await applySet(await valid({ 'other.yaml': app('theirs') }), options({ inventory: { derived: 'other' } }));
    expect((await readInventory(db.client, 'default', 'set'))?.entries.map((e) => e.name).sort()).toEqual(['old', 'web']);

    const result = await applySet(await valid({ 'set.yaml': app('web') }), options({ prune: {} }));
    expect(result.failed).toBe(false);
    expect(outcomes(result.objects)).toEqual({ web: 'unchanged' });
    expect(result.pruned).toEqual([{ outcome: 'pruned', entry: expect.objectContaining({ kind: 'App', name: 'old' }) }]);
    expect(await apps()).toEqual(['theirs', 'web']);
    expect((await readInventory(db.client, 'default', 'set'))?.entries.map((e) => e.name)).toEqual(['web']);
    expect((await db.store.get('App', { namespace: 'default', name: 'theirs' }))?.metadata.labels?.[INVENTORY_LABEL]).toBe('other');
  });

  it('a dry run reports the outcomes and writes nothing, neither objects nor inventory', async () => {
    await applySet(await valid({ 'set.yaml': app('web') + app('old') }), options());
    const before = await db.store.list('App', { namespace: 'default' });

    const set = await valid({ 'set.yaml': app('web', { cmd: 'sleep 1000' }) + app('new') });
    const result = await applySet(set, options({ dryRun: true, prune: {} }));
    expect(outcomes(result.objects)).toEqual({ web: 'configured', new: 'created' });
    expect(result.pruned).toEqual([{ outcome: 'pruned', entry: expect.objectContaining({ name: 'old' }) }]);

    const after = await db.store.list('App', { namespace: 'default' });
    expect(after.items.map((o) => [o.metadata.name, o.metadata.resourceVersion])).toEqual(before.items.map((o) => [o.metadata.name, o.metadata.resourceVersion]));
    expect((await readInventory(db.client, 'default', 'set'))?.entries.map((e) => e.name).sort()).toEqual(['old', 'web']);
    // planSet, what `capstan diff` shows, agrees with the dry run.
    expect((await planSet(set, { store: db.store, inventory })).map((p) => p.step.action)).toEqual(['configure', 'create']);
  });
});
