import { describe, expect, it } from 'vitest';
import type { Condition } from '../../api/object.ts';
import type { AnyObject } from '../../api/object.ts';
import type { SyncStatus } from '../../api/kinds/sync.ts';
import { REQUESTED_AT_ANNOTATION, SYNC_PRUNE_FINALIZER } from '../../api/kinds/wellknown.ts';
import { decideSync, finalizerStep, findCycle, ownershipConflicts, say, syncInventoryName, withDefaultNamespace } from './sync-plan.ts';
import { INVENTORY_LABEL } from '../../api/apply/plan.ts';
import type { ManifestDocument } from '../../api/manifest.ts';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const NOW = new Date('2026-01-01T00:01:00Z');

const condition = (type: string, status: 'True' | 'False', reason: string, message = ''): Condition => ({ type, status, reason, message, lastTransitionTime: '2026-01-01T00:00:00Z' });
const repository = (revision?: string): AnyObject => ({
  apiVersion: 'capstan/v1',
  kind: 'GitRepository',
  metadata: { name: 'repo', namespace: 'ns' },
  spec: { url: 'file:///r', ref: { branch: 'main' }, interval: '60s', timeout: '60s' },
  status: revision ? { artifact: { revision, fetchedAt: '2026-01-01T00:00:00Z' } } : { conditions: [condition('Ready', 'False', 'Unreachable', 'no route')] },
});
const sync = (name: string, status: SyncStatus = {}, extra: Record<string, unknown> = {}): AnyObject => ({
  apiVersion: 'capstan/v1',
  kind: 'Sync',
  metadata: { name, namespace: 'ns', generation: 1 },
  spec: { sourceRef: { name: 'repo' }, path: '.', prune: false, suspend: false, dependsOn: [], ...extra },
  status,
});
const applied = (revision: string): SyncStatus => ({ lastAppliedRevision: revision, lastAttemptedRevision: revision, lastAppliedGeneration: 1, observedGeneration: 1, conditions: [condition('Ready', 'True', 'Applied')] });

/** With a `capstan sync now` stamp, and the one its status says was handled. */
const stamped = (s: AnyObject, requestedAt: string, handled?: string): AnyObject => ({
  ...s,
  metadata: { ...s.metadata, annotations: { [REQUESTED_AT_ANNOTATION]: requestedAt } },
  status: { ...(s.status as SyncStatus), ...(handled ? { lastHandledRequestedAt: handled } : {}) },
});

describe('decideSync', () => {
  it.each([
    { name: 'a new commit is applied', sync: sync('s', applied(A)), repo: repository(B), want: { action: 'apply', revision: B } },
    { name: 'the applied commit is only observed', sync: sync('s', applied(A)), repo: repository(A), want: { action: 'observe', recheckMs: 60_000 } },
    { name: 'a commit attempted and not finished is applied again', sync: sync('s', { ...applied(A), lastAttemptedRevision: B }), repo: repository(A), want: { action: 'apply', revision: A } },
    { name: 'a spec change applies the same commit again', sync: { ...sync('s', applied(A)), metadata: { name: 's', namespace: 'ns', generation: 2 } }, repo: repository(A), want: { action: 'apply', revision: A } },
    { name: 'suspended: nothing is applied', sync: sync('s', applied(A), { suspend: true }), repo: repository(B), want: { action: 'observe', recheckMs: 60_000 } },
    { name: 'the Sync interval wins over the repository\'s', sync: sync('s', applied(A), { interval: '5m' }), repo: repository(A), want: { action: 'observe', recheckMs: 300_000 } },
    {
      name: 'a commit refused less than an interval ago is not tried again',
      sync: sync('s', { lastAttemptedRevision: B, lastAttemptedAt: '2026-01-01T00:00:30Z', observedGeneration: 1, conditions: [condition('Ready', 'False', 'ValidationFailed')] }),
      repo: repository(B),
      want: { action: 'observe', recheckMs: 30_000 },
    },
    {
      name: 'a commit refused an interval ago is tried again (the store may have changed)',
      sync: sync('s', { lastAttemptedRevision: B, lastAttemptedAt: '2025-12-31T23:59:00Z', observedGeneration: 1, conditions: [condition('Ready', 'False', 'ValidationFailed')] }),
      repo: repository(B),
      want: { action: 'apply', revision: B },
    },
    {
      name: 'a new `sync now` stamp tries a commit refused less than an interval ago',
      sync: stamped(sync('s', { lastAttemptedRevision: B, lastAttemptedAt: '2026-01-01T00:00:30Z', observedGeneration: 1, conditions: [condition('Ready', 'False', 'ValidationFailed')] }), 't2', 't1'),
      repo: repository(B),
      want: { action: 'apply', revision: B },
    },
    {
      name: 'a handled stamp changes nothing',
      sync: stamped(sync('s', { lastAttemptedRevision: B, lastAttemptedAt: '2026-01-01T00:00:30Z', observedGeneration: 1, conditions: [condition('Ready', 'False', 'ValidationFailed')] }), 't1', 't1'),
      repo: repository(B),
      want: { action: 'observe', recheckMs: 30_000 },
    },
    { name: 'a stamp on the applied commit is only observed (that write records it)', sync: stamped(sync('s', applied(A)), 't2', 't1'), repo: repository(A), want: { action: 'observe', recheckMs: 60_000 } },
    { name: 'suspended: a stamp applies nothing', sync: stamped(sync('s', applied(A), { suspend: true }), 't2'), repo: repository(B), want: { action: 'observe', recheckMs: 60_000 } },
    { name: 'no repository', sync: sync('s'), repo: undefined, want: { action: 'wait', reason: 'ArtifactNotReady', message: say.noRepository('repo'), stalled: false } },
    { name: 'a repository without a commit says why', sync: sync('s'), repo: repository(), want: { action: 'wait', reason: 'ArtifactNotReady', message: say.noArtifact('repo', 'no route'), stalled: false } },
  ])('$name', ({ sync: s, repo, want }) => {
    expect(decideSync({ sync: s, repository: repo, syncs: new Map([['s', s]]), artifactOfSync: () => A, now: NOW })).toEqual(want);
  });

  const withDeps = (dependencies: AnyObject[], artifact = A) => {
    const top = sync('top', {}, { dependsOn: [{ name: 'base' }] });
    const syncs = new Map([top, ...dependencies].map((s) => [s.metadata.name, s]));
    return decideSync({ sync: top, repository: repository(A), syncs, artifactOfSync: () => artifact, now: NOW });
  };
  it.each([
    { name: 'a missing dependency', deps: [], want: /^waiting for Sync base: depends on Sync base, which does not exist/ },
    { name: 'a dependency not Ready', deps: [sync('base', { conditions: [condition('Ready', 'False', 'ValidationFailed', 'commit x: 1 problem')] })], want: /^waiting for Sync base: commit x: 1 problem$/ },
    { name: 'a dependency Ready at an older commit', deps: [sync('base', applied(B))], want: /^waiting for Sync base: commit aaaaaaa not applied yet$/ },
  ])('dependsOn: $name waits', ({ deps, want }) => {
    const decision = withDeps(deps);
    expect(decision).toMatchObject({ action: 'wait', reason: 'DependencyNotReady', stalled: false });
    expect(decision.action === 'wait' && decision.message).toMatch(want);
  });
  it('dependsOn: a dependency Ready at its repository\'s commit lets the Sync apply', () => {
    expect(withDeps([sync('base', applied(A))])).toEqual({ action: 'apply', revision: A });
  });
  it('dependsOn: a cycle is Stalled, naming it', () => {
    const decision = withDeps([sync('base', applied(A), { dependsOn: [{ name: 'top' }] })]);
    expect(decision).toEqual({ action: 'wait', reason: 'DependencyCycle', message: say.cycle(['top', 'base', 'top']), stalled: true });
  });
});

describe('findCycle', () => {
  const graph = (edges: Partial<Record<string, string[]>>) => (name: string) => edges[name] ?? [];
  it.each([
    { name: 'none', edges: { a: ['b'], b: ['c'] }, cycle: undefined },
    { name: 'self', edges: { a: ['a'] }, cycle: ['a', 'a'] },
    { name: 'through others', edges: { a: ['b'], b: ['c'], c: ['a'] }, cycle: ['a', 'b', 'c', 'a'] },
    { name: 'a cycle not through the start is not its cycle', edges: { a: ['b'], b: ['c'], c: ['b'] }, cycle: undefined },
  ])('$name', ({ edges, cycle }) => {
    expect(findCycle('a', graph(edges))).toEqual(cycle);
  });
});

describe('withDefaultNamespace', () => {
  const doc = (value: unknown): ManifestDocument => ({ file: 'f.yaml', index: 0, value, locate: () => ({ line: 1, column: 1 }) });
  const namespaced = (kind: string) => (kind === 'Node' ? false : kind === 'App' ? true : undefined);
  it.each([
    { name: 'a namespaced object without one gets it', value: { kind: 'App', metadata: { name: 'a' } }, namespace: 'shop' },
    { name: 'a namespace written stays', value: { kind: 'App', metadata: { name: 'a', namespace: 'x' } }, namespace: 'x' },
    { name: 'a cluster-scoped kind gets none', value: { kind: 'Node', metadata: { name: 'n' } }, namespace: undefined },
    { name: 'an unknown kind is left to validation', value: { kind: 'Nope', metadata: { name: 'n' } }, namespace: undefined },
  ])('$name', ({ value, namespace }) => {
    const [out] = withDefaultNamespace([doc(value)], 'shop', namespaced);
    expect((out!.value as { metadata: { namespace?: string } }).metadata.namespace).toBe(namespace);
  });
  it('leaves a document without metadata for validation to report', () => {
    const input = doc({ kind: 'App' });
    expect(withDefaultNamespace([input], 'shop', namespaced)[0]).toBe(input);
  });
});

describe('ownership', () => {
  const app = (labels?: Record<string, string>): AnyObject => ({ apiVersion: 'capstan/v1', kind: 'App', metadata: { name: 'a', namespace: 'ns', ...(labels ? { labels } : {}) }, spec: {} });
  it.each([
    { name: 'absent', current: undefined, conflicts: [] },
    { name: 'ours', current: app({ [INVENTORY_LABEL]: 'sync-ns-s' }), conflicts: [] },
    { name: 'in no inventory (adopted)', current: app(), conflicts: [] },
    { name: 'in another inventory', current: app({ [INVENTORY_LABEL]: 'manifests' }), conflicts: [{ kind: 'App', namespace: 'ns', name: 'a', inventory: 'manifests' }] },
  ])('$name', ({ current, conflicts }) => {
    expect(ownershipConflicts([current], 'sync-ns-s')).toEqual(conflicts);
  });
  it('names a Sync\'s inventory after it, a label value even for long names', () => {
    expect(syncInventoryName({ metadata: { namespace: 'ns', name: 's' } })).toBe('sync-ns-s');
    expect(syncInventoryName({ metadata: { namespace: 'n'.repeat(63), name: 's'.repeat(63) } }).length).toBeLessThanOrEqual(63);
  });
});

describe('finalizerStep', () => {
  const at = '2026-01-01T00:00:00Z';
  it.each([
    { name: 'prune on, no finalizer yet', prune: true, finalizers: [], deleting: false, step: 'add' },
    { name: 'prune on, finalizer held', prune: true, finalizers: [SYNC_PRUNE_FINALIZER], deleting: false, step: 'none' },
    { name: 'prune turned off, finalizer held', prune: false, finalizers: ['other', SYNC_PRUNE_FINALIZER], deleting: false, step: 'remove' },
    { name: 'prune off, none held', prune: false, finalizers: ['other'], deleting: false, step: 'none' },
    { name: 'deleted while holding it', prune: true, finalizers: [SYNC_PRUNE_FINALIZER], deleting: true, step: 'finalize' },
    { name: 'deleted after prune was turned off, still held', prune: false, finalizers: [SYNC_PRUNE_FINALIZER], deleting: true, step: 'finalize' },
    { name: 'deleted without it: nothing to add while going', prune: true, finalizers: [], deleting: true, step: 'none' },
  ])('$name → $step', ({ prune, finalizers, deleting, step }) => {
    expect(finalizerStep({ metadata: { finalizers, ...(deleting ? { deletionTimestamp: at } : {}) }, spec: { prune } })).toBe(step);
  });
});
