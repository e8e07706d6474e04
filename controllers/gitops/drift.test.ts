import { describe, expect, it } from 'vitest';
import { APPLIED_ANNOTATION, INVENTORY_LABEL, asApplied, planApply } from '../../api/apply/plan.ts';
import type { AppStatus } from '../../api/kinds/app.ts';
import { builtinRegistry } from '../../api/kinds/builtin.ts';
import { PAUSED_ANNOTATION } from '../../api/kinds/wellknown.ts';
import type { AnyObject } from '../../api/object.ts';
import { fieldDiff, keepRollbacks, planDrift, rollbackExcuse, say } from './drift.ts';

const T = '2026-01-01T00:00:00Z';
const LATER = new Date('2026-01-01T00:05:00Z');

describe('fieldDiff', () => {
  it.each([
    { name: 'equal', live: { spec: { instances: 2 } }, desired: { spec: { instances: 2 } }, paths: [] },
    { name: 'a scalar changed', live: { spec: { instances: 5 } }, desired: { spec: { instances: 2 } }, paths: ['spec.instances'] },
    { name: 'a key on one side only', live: { spec: { env: { A: '1', B: '2' } } }, desired: { spec: { env: { A: '1' } } }, paths: ['spec.env.B'] },
    { name: 'an array element', live: { spec: { containers: [{ cmd: 'a' }] } }, desired: { spec: { containers: [{ cmd: 'b' }] } }, paths: ['spec.containers[0].cmd'] },
    { name: 'an array longer on one side', live: { args: ['x'] }, desired: { args: ['x', 'y'] }, paths: ['args[1]'] },
    { name: 'another type', live: { a: { b: 1 } }, desired: { a: 'text' }, paths: ['a'] },
    { name: 'several, sorted', live: { z: 1, a: 1, m: { k: 1 } }, desired: { z: 2, a: 2, m: { k: 2 } }, paths: ['a', 'm.k', 'z'] },
    { name: 'the roots differ', live: 1, desired: 2, paths: ['.'] },
  ])('$name', ({ live, desired, paths }) => {
    expect(fieldDiff(live, desired)).toEqual(paths);
  });
});

const registry = builtinRegistry();
const appDefinition = registry.get('App');
const INVENTORY = 'sync-default-apps';
const manifest = (name: string, instances = 2): AnyObject => ({
  apiVersion: 'capstan/v1',
  kind: 'App',
  metadata: { name, namespace: 'default', labels: { tier: 'web' } },
  spec: appDefinition.spec.parse({ instances, containers: [{ image: 'local/busybox:1', cmd: 'httpd -f -p $PORT0' }] }),
});
/** The object as the Sync wrote it and the store gave it back, then changed by `change`. */
const stored = (m: AnyObject, change: (o: AnyObject) => AnyObject = (o) => o, inventory = INVENTORY): AnyObject =>
  change({ ...asApplied(m, inventory), metadata: { ...asApplied(m, inventory).metadata, uid: 'u1', generation: 1, resourceVersion: '7' } });
const withStatus = (status: Partial<AppStatus>) => (o: AnyObject): AnyObject => ({ ...o, status });
const rollout = (phase: NonNullable<AppStatus['rollout']>['phase'], message?: string) => ({ phase, startedAt: T, lastProgressAt: T, revision: 1, ...(message ? { message } : {}) });
const scaled = (o: AnyObject): AnyObject => ({ ...o, spec: { ...(o.spec as object), instances: 5 } });
const annotated = (key: string, value: string) => (o: AnyObject): AnyObject => ({ ...o, metadata: { ...o.metadata, annotations: { ...o.metadata.annotations, [key]: value } } });

describe('planDrift: what applying the last commit again would write, on objects the Sync owns', () => {
  it.each([
    { name: 'as written: no drift', live: stored(manifest('web')), drifted: [] },
    { name: 'scaled in the store (`capstan scale`): spec.instances', live: stored(manifest('web'), scaled), drifted: [{ fields: ['spec.instances'] }] },
    { name: 'a manifest label changed', live: stored(manifest('web'), (o) => ({ ...o, metadata: { ...o.metadata, labels: { ...o.metadata.labels, tier: 'db' } } })), drifted: [{ fields: ['metadata.labels.tier'] }] },
    { name: 'deleted from the store', live: undefined, drifted: [{ fields: [], deleted: true }] },
    { name: 'status written by controllers: not drift', live: stored(manifest('web'), withStatus({ instances: 2, running: 1 } as AppStatus)), drifted: [] },
    { name: '`capstan rollout pause` (a controller annotation): not drift', live: stored(manifest('web'), annotated(PAUSED_ANNOTATION, 'true')), drifted: [] },
    { name: 'a finalizer a controller added: not drift', live: stored(manifest('web'), (o) => ({ ...o, metadata: { ...o.metadata, finalizers: ['capstan.io/agent'] } })), drifted: [] },
    {
      name: 'rolled back by the rollout controller: not drift, left alone',
      live: stored(manifest('web'), (o) => withStatus({ rollout: rollout('RolledBack', 'revision 2 made no progress; back to revision 1') } as AppStatus)(scaled(o))),
      drifted: [],
    },
    {
      name: 'rolling out a change made in the store: drift',
      live: stored(manifest('web'), (o) => withStatus({ rollout: rollout('Progressing') } as AppStatus)(scaled(o))),
      drifted: [{ fields: ['spec.instances'] }],
    },
    { name: 'another inventory holds it now: not the Sync\'s, never touched', live: stored(manifest('web'), scaled, 'by-hand'), drifted: [] },
  ])('$name', ({ live, drifted }) => {
    const m = manifest('web');
    const plan = [{ manifest: m, step: planApply(appDefinition, m, live, { derived: INVENTORY }) }];
    const result = planDrift({ plan, inventory: INVENTORY, previous: [], now: LATER });
    expect(result.drifted).toEqual(drifted.map((d) => ({ kind: 'App', namespace: 'default', name: 'web', ...d, detectedAt: LATER.toISOString() })));
    expect(result.heal).toEqual(drifted.length > 0 ? [m] : []);
  });

  it('keeps detectedAt while an object stays drifted the same way, and restarts it when the fields change', () => {
    const m = manifest('web');
    const plan = [{ manifest: m, step: planApply(appDefinition, m, stored(m, scaled), { derived: INVENTORY }) }];
    const previous = [{ kind: 'App', namespace: 'default', name: 'web', fields: ['spec.instances'], detectedAt: T }];
    expect(planDrift({ plan, inventory: INVENTORY, previous, now: LATER }).drifted[0]?.detectedAt).toBe(T);
    const other = [{ ...previous[0]!, fields: ['spec.env.A'] }];
    expect(planDrift({ plan, inventory: INVENTORY, previous: other, now: LATER }).drifted[0]?.detectedAt).toBe(LATER.toISOString());
  });

  it('a manifest annotation removed by hand is drift; the apply record itself is compared too', () => {
    const m = { ...manifest('web'), metadata: { ...manifest('web').metadata, annotations: { owner: 'team-a' } } };
    const removed = stored(m, (o) => {
      const { owner: _owner, ...rest } = o.metadata.annotations!;
      return { ...o, metadata: { ...o.metadata, annotations: rest } };
    });
    const plan = [{ manifest: m, step: planApply(appDefinition, m, removed, { derived: INVENTORY }) }];
    expect(planDrift({ plan, inventory: INVENTORY, previous: [], now: LATER }).drifted[0]?.fields).toEqual(['metadata.annotations.owner']);
    expect(stored(m).metadata.annotations?.[APPLIED_ANNOTATION]).toBeDefined();
    expect(stored(m).metadata.labels?.[INVENTORY_LABEL]).toBe(INVENTORY);
  });
});

describe('rollbackExcuse', () => {
  const app = (status: Partial<AppStatus> | undefined): AnyObject => ({ apiVersion: 'capstan/v1', kind: 'App', metadata: { name: 'web' }, spec: {}, ...(status ? { status } : {}) });
  it.each([
    { name: 'absent', object: undefined, excuse: null },
    { name: 'no status', object: app(undefined), excuse: null },
    { name: 'complete', object: app({ rollout: rollout('Complete') } as AppStatus), excuse: null },
    { name: 'failed (nothing to go back to): drift as usual', object: app({ rollout: rollout('Failed') } as AppStatus), excuse: null },
    { name: 'rolled back, with the rollback\'s message', object: app({ rollout: rollout('RolledBack', 'no progress for 600s') } as AppStatus), excuse: 'no progress for 600s' },
    { name: 'rolled back, without a message', object: app({ rollout: rollout('RolledBack') } as AppStatus), excuse: 'rolled back to revision 1' },
    { name: 'not an App', object: { ...app({ rollout: rollout('RolledBack') } as AppStatus), kind: 'Endpoints' }, excuse: null },
  ])('$name', ({ object, excuse }) => {
    expect(rollbackExcuse(object)).toBe(excuse);
  });
});

describe('say.drifted', () => {
  it('names the first objects and their fields, counts the rest, and says what selfHeal does', () => {
    const d = (name: string) => ({ kind: 'App', namespace: 'default', name, fields: ['spec.instances'], detectedAt: T });
    const message = say.drifted([d('a'), d('b'), d('c'), d('d'), { ...d('e'), fields: [], deleted: true }], false);
    expect(message).toBe(
      '5 objects changed in the store since the commit was applied, left as they are (spec.selfHeal is false): commit the change, or set selfHeal to restore them: App default/a (spec.instances); App default/b (spec.instances); App default/c (spec.instances); and 2 more',
    );
    expect(say.drifted([{ ...d('e'), fields: [], deleted: true }], true)).toBe('1 object changed in the store since the commit was applied, restoring them: App default/e (deleted)');
  });
});

describe('keepRollbacks: a new commit leaves a rolled-back App alone unless it changes that App', () => {
  const rolledBackLive = withStatus({ rollout: rollout('RolledBack', 'no progress') } as AppStatus)(stored(manifest('web', 2), (o) => ({ ...o, spec: { ...(o.spec as object), containers: [{ image: 'local/busybox:1', cmd: 'stable' }] } })));
  const healthyLive = withStatus({ rollout: rollout('Complete') } as AppStatus)(stored(manifest('web', 2)));
  it.each([
    { name: 'rolled back, same manifest as the last applied commit: the live spec is kept', live: rolledBackLive, before: [manifest('web', 2)], kept: true },
    { name: 'rolled back, the commit changes it: written', live: rolledBackLive, before: [manifest('web', 3)], kept: false },
    { name: 'rolled back, not in the last applied commit: written', live: rolledBackLive, before: [], kept: false },
    { name: 'not rolled back: written', live: healthyLive, before: [manifest('web', 2)], kept: false },
    { name: 'not in the store: written', live: undefined, before: [manifest('web', 2)], kept: false },
  ])('$name', ({ live, before, kept }) => {
    const next = manifest('web', 2);
    const [result] = keepRollbacks([next], before, () => live);
    expect(result).toEqual(kept ? { ...next, spec: live!.spec } : next);
  });
});
