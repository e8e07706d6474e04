// The Sync half of the gitops controller: read the manifests under `path` at the repository's
// commit, validate them whole, and only then write them with the apply engine (api/apply) in the
// Sync's own inventory. sync-plan.ts decides (pure); this file reads git and the store, and writes.
//
// A commit is applied whole or not at all:
// - nothing is written when any document is invalid (validateSet makes a ValidSet only of a set
//   without a problem), or when an object of it belongs to another inventory;
// - lastAttemptedRevision is recorded BEFORE the first object is written. If writes fail midway
//   (etcd down, conflicts beyond apply's retries) or the controller dies midway, it differs from
//   lastAppliedRevision, decideSync says "apply" again, and the same commit is applied again —
//   apply is idempotent (objects already written come back `unchanged`) — until it is whole. Only
//   then does lastAppliedRevision move.
//
// With `spec.prune` the Sync holds SYNC_PRUNE_FINALIZER (added here while prune is on, removed when it
// is turned off): deleting it first prunes everything its inventory holds, opt-outs excepted
// (PRUNE_ANNOTATION), and only then lets it go, as Flux's Kustomization finalizer does. Without
// prune, deleting it leaves its objects and their inventory label: a Sync of the same name adopts them.
import { applySet, planSet } from '../../api/apply/apply.ts';
import { readInventory } from '../../api/apply/inventory.ts';
import { validateSet } from '../../api/apply/validate.ts';
import { durationMs, type GitRepositorySpec } from '../../api/kinds/gitrepository.ts';
import { SYNC_PRUNE_FINALIZER } from '../../api/kinds/wellknown.ts';
import type { SyncSpec, SyncStatus, SyncedObject } from '../../api/kinds/sync.ts';
import { parseManifests, type ManifestDocument, type Problem } from '../../api/manifest.ts';
import { deepEqual } from '../../api/merge.ts';
import { refKey, setCondition, type AnyObject, type Condition, type DeepReadonly } from '../../api/object.ts';
import { done, requeueAfter, retry, type ReconcileContext, type Result } from '../contract.ts';
import { GitSourceError, normalizeRepoPath } from './git-parse.ts';
import { GitSource, type ManifestFile } from './git-source.ts';
import { checkDrift, drifted, withRollbacksKept } from './drift-check.ts';
import { say as sayDrift } from './drift.ts';
import { appHealth } from './health.ts';
import {
  artifactOf,
  countsOf,
  decideSync,
  failuresOf,
  finalizerStep,
  ownershipConflicts,
  requestedAtOf,
  say,
  syncIntervalMs,
  syncInventoryName,
  withDefaultNamespace,
} from './sync-plan.ts';

export interface SyncOptions {
  cacheDir: string;
}

type ConditionUpdate = Omit<Condition, 'lastTransitionTime'>;

const ready = (status: 'True' | 'False', reason: string, message: string): ConditionUpdate => ({ type: 'Ready', status, reason, message });
const reconciling = (status: 'True' | 'False', reason: string, message?: string): ConditionUpdate => ({ type: 'Reconciling', status, reason, ...(message ? { message } : {}) });
const stalled = (status: 'True' | 'False', reason: string): ConditionUpdate => ({ type: 'Stalled', status, reason });

export async function reconcileSync(key: string, ctx: ReconcileContext, options: SyncOptions): Promise<Result> {
  const cached = ctx.informer('Sync').get(key);
  if (!cached) return done();
  const step = finalizerStep(cached);
  if (step === 'finalize') return finalizeSync(ctx, cached as AnyObject);
  if (cached.metadata.deletionTimestamp) return done();
  if (step !== 'none') {
    // The update's watch event brings this Sync back, with the resourceVersion its status writes need.
    await setPruneFinalizer(ctx, cached as AnyObject, step === 'add');
    return done();
  }
  const namespace = cached.metadata.namespace!;
  const spec = cached.spec as DeepReadonly<SyncSpec>;
  const repositories = ctx.informer('GitRepository');
  const repository = repositories.get(refKey({ namespace, name: spec.sourceRef.name }));
  const syncs = new Map(ctx.informer('Sync').list((s) => s.metadata.namespace === namespace).map((s) => [s.metadata.name, s]));
  const artifactOfSync = (sync: DeepReadonly<AnyObject>) => artifactOf(repositories.get(refKey({ namespace, name: (sync.spec as SyncSpec).sourceRef.name })));
  const decision = decideSync({ sync: cached, repository, syncs, artifactOfSync, now: ctx.now() });
  const writer = new StatusWriter(ctx, cached as AnyObject);

  switch (decision.action) {
    case 'observe': {
      // A suspended Sync leaves its objects as they are, drifted or not: nothing is compared.
      const applied = (cached.status as DeepReadonly<SyncStatus> | undefined)?.lastAppliedRevision;
      if (spec.suspend || !applied || !repository) await writer.write({}, []);
      else await checkDrift(ctx, writer, { revision: applied, readCommit: (revision) => readCommit(repository as AnyObject, revision, spec.path, options.cacheDir) });
      return requeueAfter(decision.recheckMs);
    }
    case 'wait':
      await writer.write({}, [ready('False', decision.reason, decision.message), reconciling('False', decision.reason), stalled(decision.stalled ? 'True' : 'False', decision.reason)]);
      // Watches wake a waiting Sync: its repository's artifact, the Syncs it depends on.
      return done();
    case 'apply':
      return applyCommit(ctx, writer, { revision: decision.revision, repository: repository as AnyObject, options });
  }
}

interface ApplyCommitInput {
  revision: string;
  repository: AnyObject;
  options: SyncOptions;
}

async function applyCommit(ctx: ReconcileContext, writer: StatusWriter, input: ApplyCommitInput): Promise<Result> {
  const { revision } = input;
  const sync = writer.object;
  const spec = sync.spec as SyncSpec;
  const namespace = sync.metadata.namespace!;
  const attempt = { lastAttemptedRevision: revision, lastAttemptedAt: ctx.now().toISOString() };
  const lastApplied = (sync.status as SyncStatus | undefined)?.lastAppliedRevision;

  let files: ManifestFile[];
  try {
    files = await readCommit(input.repository, revision, spec.path, input.options.cacheDir);
  } catch (error) {
    if (!(error instanceof GitSourceError)) throw error;
    const message = say.readFailed(revision, error.message);
    await writer.write(attempt, [ready('False', 'ArtifactFailed', message), reconciling('False', 'ArtifactFailed'), stalled('True', 'ArtifactFailed')]);
    await ctx.events.record(sync, { type: 'Warning', reason: 'ArtifactFailed', message });
    return requeueAfter(syncIntervalMs(spec, input.repository));
  }

  const parsed = files.map((file) => parseManifests(file.content, file.path));
  const targetNamespace = spec.targetNamespace ?? namespace;
  const documents: ManifestDocument[] = withDefaultNamespace(
    parsed.flatMap((p) => p.documents),
    targetNamespace,
    (kind) => ctx.store.registry.find(kind)?.namespaced,
  );
  const parseProblems: Problem[] = parsed.flatMap((p) => p.problems);
  const validation = await validateSet({ documents, parseProblems, registry: ctx.store.registry, store: ctx.store });
  if (!validation.valid) {
    const message = say.invalid(revision, validation.problems, documents.length, lastApplied);
    await writer.write(attempt, [ready('False', 'ValidationFailed', message), reconciling('False', 'ValidationFailed'), stalled('True', 'ValidationFailed')]);
    await ctx.events.record(sync, { type: 'Warning', reason: 'ValidationFailed', message });
    return requeueAfter(syncIntervalMs(spec, input.repository));
  }

  // An App rolled back automatically stays so unless this commit changes it (drift.ts rollbackExcuse).
  const set = await withRollbacksKept(ctx, sync, validation.set, { lastApplied, readCommit: (commit) => readCommit(input.repository, commit, spec.path, input.options.cacheDir) });
  const inventoryName = syncInventoryName(sync);
  const inventory = { derived: inventoryName };
  const plan = await planSet(set, { store: ctx.store, inventory });
  const conflicts = ownershipConflicts(plan.map((p) => (p.step.action === 'create' ? undefined : p.step.current)), inventoryName);
  if (conflicts.length > 0) {
    const message = say.owned(conflicts, inventoryName);
    await writer.write(attempt, [ready('False', 'OwnershipConflict', message), reconciling('False', 'OwnershipConflict'), stalled('True', 'OwnershipConflict')]);
    await ctx.events.record(sync, { type: 'Warning', reason: 'OwnershipConflict', message });
    return requeueAfter(syncIntervalMs(spec, input.repository));
  }

  // Recorded before the first write: see the header.
  await writer.write({ ...attempt, inventoryName }, [reconciling('True', 'Progressing', say.applying(revision, set.objects.length))]);
  const result = await applySet(set, { store: ctx.store, namespace, inventory, atomic: true, ...(spec.prune ? { prune: {} } : {}) });
  if (result.failed) {
    const message = say.applyFailed(revision, failuresOf(result));
    await writer.write({}, [ready('False', 'ApplyFailed', message), reconciling('True', 'ApplyFailed', message), stalled('False', 'ApplyFailed')]);
    await ctx.events.record(sync, { type: 'Warning', reason: 'ApplyFailed', message });
    return retry(new Error(message));
  }
  const counts = countsOf(result);
  const held = (await readInventory(ctx.store.client, namespace, inventoryName))?.entries ?? [];
  const keptFromPrune = result.pruned.flatMap((p) => (p.outcome === 'skipped' ? [say.keptFromPrune(p.entry, p.reason)] : []));
  const message = say.applied(revision, counts) + (result.elsewhere.length > 0 ? say.elsewhere(result.elsewhere.length) : '') + keptFromPrune.join('');
  const applied: Partial<SyncStatus> = {
    lastAppliedRevision: revision,
    lastAppliedGeneration: sync.metadata.generation,
    counts,
    inventory: held.map(({ kind, namespace: ns, name }) => (ns ? { kind, namespace: ns, name } : { kind, name })),
    // Applied whole: every object is as this commit writes it (a rolled-back App excepted, see drift.ts).
    drift: [],
  };
  await writer.write(applied, [ready('True', 'Applied', message), reconciling('False', 'Applied'), stalled('False', 'Applied'), drifted('False', 'NoDrift', sayDrift.none)]);
  if (counts.created + counts.configured + counts.pruned > 0) await ctx.events.record(sync, { reason: 'Applied', message });
  return requeueAfter(syncIntervalMs(spec, input.repository));
}

/**
 * A pruning Sync being deleted: prune everything its inventory holds, as an apply of an empty set
 * would (PRUNE_ANNOTATION opt-outs are kept), and only once that is done let the Sync go. A failed
 * prune keeps the finalizer and retries, so the Sync stays visible, being deleted, until it is whole.
 */
async function finalizeSync(ctx: ReconcileContext, sync: AnyObject): Promise<Result> {
  const validation = await validateSet({ documents: [], parseProblems: [], registry: ctx.store.registry, store: ctx.store });
  if (!validation.valid) throw new Error('an empty set is always valid'); // a bug, not a user's problem
  const inventory = { derived: syncInventoryName(sync) };
  const result = await applySet(validation.set, { store: ctx.store, namespace: sync.metadata.namespace!, inventory, prune: {} });
  if (result.failed) {
    const message = say.finalizeFailed(failuresOf(result));
    await ctx.events.record(sync, { type: 'Warning', reason: 'PruneFailed', message });
    return retry(new Error(message));
  }
  const counts = countsOf(result);
  await ctx.events.record(sync, { reason: 'Pruned', message: say.finalized(counts.pruned, result.pruned.length - counts.pruned) });
  await setPruneFinalizer(ctx, sync, false);
  return done();
}

/** Adds or removes SYNC_PRUNE_FINALIZER; removing the last finalizer of a Sync being deleted deletes it. */
async function setPruneFinalizer(ctx: ReconcileContext, sync: AnyObject, held: boolean): Promise<void> {
  const others = (sync.metadata.finalizers ?? []).filter((f) => f !== SYNC_PRUNE_FINALIZER);
  await ctx.store.update({ ...sync, metadata: { ...sync.metadata, finalizers: held ? [...others, SYNC_PRUNE_FINALIZER] : others } });
}

/** The manifests under `path` at `revision`, fetching the commit when the cache lost it (a new cache directory). */
async function readCommit(repository: AnyObject, revision: string, path: string, cacheDir: string): Promise<ManifestFile[]> {
  const spec = repository.spec as GitRepositorySpec;
  const repoPath = normalizeRepoPath(path);
  if (typeof repoPath !== 'string') throw new GitSourceError('PathNotFound', repoPath.invalid);
  const source = new GitSource({ url: spec.url, cacheDir, timeoutMs: durationMs(spec.timeout)! });
  if (!(await source.has(revision))) await source.fetch({ commit: revision });
  return source.readFiles(revision, repoPath);
}

/**
 * The Sync's status, written on change only, with every inventory entry's health read from the
 * caches as it is now. Keeps the resourceVersion of its own writes, so several writes in one
 * reconcile (the attempt, then the outcome) do not conflict with each other.
 */
class StatusWriter {
  constructor(
    private readonly ctx: ReconcileContext,
    public object: AnyObject,
  ) {}

  async write(fields: Partial<SyncStatus>, conditions: ConditionUpdate[]): Promise<void> {
    const previous = (this.object.status ?? {}) as SyncStatus;
    const now = this.ctx.now();
    // Every write of a reconcile that saw a `capstan sync now` stamp records it as handled.
    const requestedAt = requestedAtOf(this.object);
    const handled = requestedAt ? { lastHandledRequestedAt: requestedAt } : {};
    let next: SyncStatus = { ...previous, ...fields, ...handled, observedGeneration: this.object.metadata.generation };
    for (const condition of conditions) next = { ...next, conditions: setCondition(next.conditions, condition, now) };
    if (next.inventory) next = { ...next, inventory: next.inventory.map((entry) => this.withHealth(entry)) };
    if (deepEqual(next, previous)) return;
    this.object = await this.ctx.store.updateStatus({ ...this.object, status: next });
  }

  /** Apps carry their rollout's health; other kinds have none to report. */
  private withHealth(entry: SyncedObject): SyncedObject {
    const { health: _health, reason: _reason, message: _message, ...ref } = entry;
    const key = refKey({ namespace: ref.namespace, name: ref.name });
    return ref.kind === 'App' ? { ...ref, ...appHealth(this.ctx.informer('App').get(key)) } : ref;
  }
}
