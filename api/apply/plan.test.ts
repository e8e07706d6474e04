import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { KindDefinition } from '../kinds/registry.ts';
import type { AnyObject } from '../object.ts';
import {
  APPLIED_ANNOTATION,
  asApplied,
  defaultInventoryName,
  INVENTORY_LABEL,
  inventoryFor,
  leaveOutOmitted,
  nextEntries,
  planApply,
  pruneCandidates,
  pruneRefusal,
  type InventoryChoice,
} from './plan.ts';

const kind: KindDefinition = {
  apiVersion: 'capstan/v1',
  kind: 'Widget',
  plural: 'widgets',
  singular: 'widget',
  shortNames: [],
  namespaced: true,
  spec: z.strictObject({ size: z.number().default(1) }),
};

/** As a previous apply of `manifest()` left it: its inventory label and its record of applied keys. */
const appliedRecord = JSON.stringify({ labels: [INVENTORY_LABEL], annotations: [] });
const stored = (overrides: Partial<AnyObject['metadata']> = {}, spec: unknown = { size: 1 }): AnyObject => ({
  apiVersion: 'capstan/v1',
  kind: 'Widget',
  metadata: {
    name: 'w',
    namespace: 'default',
    uid: 'u1',
    generation: 1,
    resourceVersion: '5',
    labels: { [INVENTORY_LABEL]: 'set' },
    annotations: { [APPLIED_ANNOTATION]: appliedRecord },
    ...overrides,
  },
  spec,
  status: { ready: true },
});
/** A manifest object as read from a file; planApply adds the inventory label and the record. */
const manifest = (spec: unknown = {}, labels?: Record<string, string>, annotations?: Record<string, string>): AnyObject => ({
  apiVersion: 'capstan/v1',
  kind: 'Widget',
  metadata: { name: 'w', namespace: 'default', labels, annotations },
  spec,
});
/** Applied from a path whose derived inventory is "set", without --inventory. */
const fromSet: InventoryChoice = { derived: 'set' };
const metadataAfter = (desired: AnyObject, current: AnyObject) => {
  const step = planApply(kind, desired, current, fromSet);
  return step.action === 'configure' ? step.object.metadata : step.action === 'unchanged' ? step.current.metadata : step.object.metadata;
};

describe('planApply', () => {
  it.each([
    { name: 'absent → create', current: undefined, desired: manifest(), action: 'create' },
    { name: 'a default left out is no change', current: stored(), desired: manifest({}), action: 'unchanged' },
    { name: 'controller finalizers and owners are no change', current: stored({ finalizers: ['f'], ownerReferences: [{ apiVersion: 'v', kind: 'K', name: 'n', uid: 'x' }] }), desired: manifest(), action: 'unchanged' },
    { name: 'a spec change configures', current: stored(), desired: manifest({ size: 2 }), action: 'configure' },
    { name: 'a label change configures', current: stored(), desired: manifest({}, { tier: 'a' }), action: 'configure' },
  ])('$name', ({ current, desired, action }) => {
    expect(planApply(kind, desired, current, fromSet).action).toBe(action);
  });

  it('keeps status out, and finalizers and the resourceVersion from the stored object', () => {
    const step = planApply(kind, manifest({ size: 3 }), stored({ finalizers: ['f'] }), fromSet);
    expect(step.action).toBe('configure');
    if (step.action !== 'configure') return;
    expect(step.object.status).toBeUndefined();
    expect(step.object.metadata).toMatchObject({ finalizers: ['f'], resourceVersion: '5', uid: 'u1' });
    expect(step.object.spec).toEqual({ size: 3 });
  });
});

describe('planApply compares the manifest with the live object', () => {
  it('sets back a field somebody else changed (capstan scale) that the record says nothing about', () => {
    const scaled = stored({}, { size: 5 });
    const step = planApply(kind, manifest({ size: 1 }), scaled, fromSet);
    expect(step.action).toBe('configure');
    if (step.action === 'configure') expect(step.object.spec).toEqual({ size: 1 });
  });
});

describe('an App manifest without instances keeps the live count (kubectl replicas, Marathon app update)', () => {
  const app: KindDefinition = { ...kind, kind: 'App', spec: z.strictObject({ instances: z.number().default(1), cmd: z.string() }) };
  const live = (instances: number): AnyObject => ({ ...stored({}, { instances, cmd: 'a' }), kind: 'App' });
  const appManifest = (spec: Record<string, unknown>): AnyObject => ({ ...manifest(spec), kind: 'App' });

  it.each([
    { name: 'omitted: the scaled count stays, nothing to write', spec: { cmd: 'a' }, action: 'unchanged', instances: 5 },
    { name: 'omitted beside another change: the scaled count stays', spec: { cmd: 'b' }, action: 'configure', instances: 5 },
    { name: 'set: the manifest wins', spec: { cmd: 'a', instances: 2 }, action: 'configure', instances: 2 },
  ])('$name', ({ spec, action, instances }) => {
    const step = planApply(app, appManifest(spec), live(5), fromSet);
    expect(step.action).toBe(action);
    const written = step.action === 'configure' ? step.object : step.action === 'unchanged' ? step.current : step.object;
    expect((written.spec as { instances: number }).instances).toBe(instances);
  });

  it('omitted on create: the default is written', () => {
    const step = planApply(app, appManifest({ cmd: 'a' }), undefined, fromSet);
    expect(step.action === 'create' && step.object.spec).toEqual({ instances: 1, cmd: 'a' });
  });

  it.each([
    { name: 'left out of the document: left out of the object, validation\'s default dropped', document: { spec: { cmd: 'a' } }, spec: { cmd: 'a' } },
    { name: 'no spec at all: left out', document: {}, spec: { cmd: 'a' } },
    { name: 'set in the document: kept', document: { spec: { cmd: 'a', instances: 1 } }, spec: { cmd: 'a', instances: 1 } },
  ])('leaveOutOmitted, $name', ({ document, spec }) => {
    expect(leaveOutOmitted(appManifest({ cmd: 'a', instances: 1 }), document).spec).toEqual(spec);
  });

  it('leaveOutOmitted leaves a kind without the rule as it is', () => {
    const widget = manifest({ size: 1 });
    expect(leaveOutOmitted(widget, { spec: {} })).toBe(widget);
  });

  it('a kind without the rule gets its default back', () => {
    const step = planApply(kind, manifest({}), stored({}, { size: 5 }), fromSet);
    expect(step.action).toBe('configure');
  });
});

describe('the inventory an applied object belongs to', () => {
  it.each([
    { name: 'a new object joins the derived inventory', choice: { derived: 'stdin' }, current: undefined, inventory: 'stdin' },
    { name: 'a new object joins the named inventory', choice: { named: 'shop', derived: 'stdin' }, current: undefined, inventory: 'shop' },
    { name: 'an object keeps its inventory when applied from elsewhere', choice: { derived: 'stdin' }, current: stored(), inventory: 'set' },
    { name: 'an object moves only when another is named', choice: { named: 'shop', derived: 'set' }, current: stored(), inventory: 'shop' },
    { name: 'an object without one joins the derived inventory', choice: { derived: 'stdin' }, current: stored({ labels: {} }), inventory: 'stdin' },
  ])('$name', ({ choice, current, inventory }) => {
    expect(inventoryFor(choice, current)).toBe(inventory);
  });

  it('re-applying identical content from another path or stdin is unchanged and keeps the inventory', () => {
    for (const derived of ['stdin', 'other-path-yaml']) expect(planApply(kind, manifest(), stored(), { derived }).action).toBe('unchanged');
  });

  it('--inventory NAME moves the object: its label changes, nothing else', () => {
    const step = planApply(kind, manifest(), stored(), { named: 'shop', derived: 'set' });
    expect(step.action).toBe('configure');
    if (step.action === 'configure') expect(step.object.metadata.labels).toEqual({ [INVENTORY_LABEL]: 'shop' });
  });
});

describe('nextEntries: what each inventory records after an apply', () => {
  const a = { kind: 'App', namespace: 'default', name: 'a', uid: 'ua' };
  const b = { kind: 'App', namespace: 'default', name: 'b', uid: 'ub' };
  it.each([
    { name: 'an object placed here is added', inventory: 'set', previous: [a], placements: [{ entry: b, inventory: 'set' }], dropped: [], entries: [a, b] },
    { name: 'a recreated object is recorded with its new uid', inventory: 'set', previous: [a], placements: [{ entry: { ...a, uid: 'new' }, inventory: 'set' }], dropped: [], entries: [{ ...a, uid: 'new' }] },
    { name: 'an object moved elsewhere leaves', inventory: 'set', previous: [a, b], placements: [{ entry: a, inventory: 'shop' }], dropped: [], entries: [b] },
    { name: 'a pruned object leaves', inventory: 'set', previous: [a, b], placements: [{ entry: a, inventory: 'set' }], dropped: [b], entries: [a] },
    { name: 'entries nobody touched stay', inventory: 'set', previous: [a, b], placements: [], dropped: [], entries: [a, b] },
  ])('$name', ({ inventory, previous, placements, dropped, entries }) => {
    expect(nextEntries(inventory, previous, placements, dropped)).toEqual(entries);
  });
});

describe('apply merges labels and annotations three ways (manifest, last applied, stored)', () => {
  it('keeps an annotation somebody else set (rollout pause) when the manifest is applied again', () => {
    const paused = stored({ annotations: { [APPLIED_ANNOTATION]: appliedRecord, 'capstan.io/paused': 'true' } });
    expect(planApply(kind, manifest(), paused, fromSet).action).toBe('unchanged');
    const relabelled = metadataAfter(manifest({}, { tier: 'a' }), paused);
    expect(relabelled.annotations).toMatchObject({ 'capstan.io/paused': 'true' });
    expect(relabelled.labels).toEqual({ tier: 'a', [INVENTORY_LABEL]: 'set' });
  });

  it('removes what the manifest set last time and no longer sets, and nothing else', () => {
    const first = asApplied({ apiVersion: 'capstan/v1', kind: 'Widget', metadata: { name: 'w', namespace: 'default', labels: { tier: 'a' }, annotations: { note: 'x' } }, spec: {} }, 'set');
    const current = { ...stored(), metadata: { ...stored().metadata, labels: { ...first.metadata.labels, team: 'ops' }, annotations: { ...first.metadata.annotations, 'capstan.io/restartedAt': 't' } } };
    const metadata = metadataAfter(manifest(), current);
    expect(metadata.labels).toEqual({ team: 'ops', [INVENTORY_LABEL]: 'set' });
    expect(metadata.annotations).toEqual({ 'capstan.io/restartedAt': 't', [APPLIED_ANNOTATION]: appliedRecord });
  });

  it('without a record (written before apply kept one), the manifest replaces labels and annotations once', () => {
    const legacy = stored({ labels: { [INVENTORY_LABEL]: 'set', old: 'y' }, annotations: { stale: 'z' } });
    const metadata = metadataAfter(manifest(), legacy);
    expect(metadata.labels).toEqual({ [INVENTORY_LABEL]: 'set' });
    expect(metadata.annotations).toEqual({ [APPLIED_ANNOTATION]: appliedRecord });
  });

  it('records the keys it set, never its own record', () => {
    const applied = asApplied(manifest({}, { tier: 'a' }, { note: 'x', [APPLIED_ANNOTATION]: 'forged' }), 'set');
    expect(JSON.parse(applied.metadata.annotations![APPLIED_ANNOTATION]!)).toEqual({ labels: [INVENTORY_LABEL, 'tier'], annotations: ['note'] });
  });
});

describe('prune decisions', () => {
  const entry = { kind: 'Widget', namespace: 'default', name: 'w', uid: 'u1' };
  it('candidates are the previous entries the input no longer has', () => {
    const previous = [entry, { ...entry, name: 'kept', uid: 'u2' }];
    expect(pruneCandidates(previous, [{ kind: 'Widget', namespace: 'default', name: 'kept' }])).toEqual([entry]);
  });
  it.each([
    { name: 'ours', current: stored(), refusal: null },
    { name: 'gone', current: undefined, refusal: 'already gone' },
    { name: 'relabelled', current: stored({ labels: { [INVENTORY_LABEL]: 'other' } }), refusal: /not labelled/ },
    { name: 'recreated', current: stored({ uid: 'u9' }), refusal: /uid differs/ },
    { name: 'opted out', current: stored({ annotations: { 'capstan.io/prune': 'disabled' } }), refusal: 'kept: annotated capstan.io/prune: disabled' },
    { name: 'opt-out of another value', current: stored({ annotations: { 'capstan.io/prune': 'enabled' } }), refusal: null },
  ])('$name', ({ current, refusal }) => {
    const result = pruneRefusal(entry, current, 'set');
    if (refusal === null || typeof refusal === 'string') expect(result).toBe(refusal);
    else expect(result).toMatch(refusal);
  });
});

describe('defaultInventoryName', () => {
  it.each([
    { paths: ['manifests/demo'], name: 'manifests-demo' },
    { paths: ['./manifests/demo/'], name: 'manifests-demo' },
    { paths: ['-'], name: 'stdin' },
    { paths: ['b.yaml', 'a.yaml'], name: 'a-yaml-b-yaml' },
    { paths: ['/'], name: 'root' },
  ])('$paths → $name', ({ paths, name }) => {
    expect(defaultInventoryName(paths)).toBe(name);
  });
  it('stays a label value (≤ 63 characters) for long paths, and differs between them', () => {
    const a = defaultInventoryName(['x'.repeat(100) + '/a']);
    const b = defaultInventoryName(['x'.repeat(100) + '/b']);
    expect(a.length).toBeLessThanOrEqual(63);
    expect(a).toMatch(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/);
    expect(a).not.toBe(b);
  });
});
