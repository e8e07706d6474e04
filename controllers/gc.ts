// The garbage collector: deletes objects whose owners are gone (DESIGN.md "Store semantics":
// ownerReferences cascade). Generic over kinds: it watches every kind it is given and follows
// ownerReferences by uid, so App → Revision → Task unwinds one level per reconcile.
//
// Background (the default): the App goes at once; its deletion queues its Revisions, each Revision's
// deletion queues its Tasks. An owner is gone when no object of its kind, namespace and name exists
// with the referenced uid: a new object under the old name does not adopt the old one's dependents.
// Before deleting anything the owner is read live from the store, because informers of different
// kinds are not ordered with each other: a dependent may reach our cache before the owner created
// just ahead of it.
//
// Foreground (Kubernetes' propagationPolicy=Foreground, `capstan delete --wait`): the store only
// marks the object and adds FOREGROUND_FINALIZER. Here its dependents are deleted in the foreground
// too, so the finalizer travels down the chain, and each level lets go of its finalizer once it has
// no dependent left: Tasks first (after their agents stopped them), then Revisions, then the App.
// Every dependent blocks its owner (Kubernetes waits only for blockOwnerDeletion ones; here every
// ownerReference that matters for --wait is a workload's).
//
// An owner being deleted in the background (deletionTimestamp set, waiting for other finalizers)
// still owns its dependents. A dependent with finalizers gets its deletionTimestamp and disappears
// when they are removed by whoever owns them.
import type { InformerEvent } from '../api/informer.ts';
import { isStoreError } from '../api/errors.ts';
import { FOREGROUND_FINALIZER } from '../api/kinds/wellknown.ts';
import { parseRefKey, refKey, type AnyObject, type DeepReadonly, type OwnerReference } from '../api/object.ts';
import { done, type Caches, type ControllerDefinition, type ReconcileContext, type Result } from './contract.ts';

export const GC_CONTROLLER = 'gc';

type Cached = DeepReadonly<AnyObject>;

/** The gc queues `Kind:namespace/name`, since it works on every kind. */
export const gcKey = (kind: string, key: string) => `${kind}:${key}`;

export function parseGcKey(key: string): { kind: string; key: string } {
  const colon = key.indexOf(':');
  return { kind: key.slice(0, colon), key: key.slice(colon + 1) };
}

export interface GcOptions {
  /** The kinds to collect and to look for owners among. */
  kinds: string[];
  concurrency?: number;
  /** A periodic sweep catches dependents whose owner's deletion happened while no gc was leading. Default 5 min. */
  resyncMs?: number;
}

export function gcController(options: GcOptions): ControllerDefinition {
  const { kinds } = options;
  return {
    name: GC_CONTROLLER,
    watches: kinds.map((kind) => ({ kind, map: (event: InformerEvent, caches: Caches) => keysFor(kind, kinds, event, caches) })),
    concurrency: options.concurrency ?? 4,
    resyncMs: options.resyncMs ?? 5 * 60_000,
    reconcile: (key, ctx) => collect(key, kinds, ctx),
  };
}

const deletingInForeground = (object: Cached) => Boolean(object.metadata.deletionTimestamp) && Boolean(object.metadata.finalizers?.includes(FOREGROUND_FINALIZER));

/**
 * An object with owners is checked itself, and so is one deleted in the foreground; a deleted
 * object's dependents are checked, and its owners (one deleted in the foreground may now be done).
 */
function keysFor(kind: string, kinds: string[], event: InformerEvent, caches: Caches): string[] {
  const keys: string[] = [];
  const { metadata } = event.object;
  if (event.type !== 'deleted' && (metadata.ownerReferences?.length || deletingInForeground(event.object))) keys.push(gcKey(kind, event.key));
  if (event.type !== 'deleted') return keys;
  if (metadata.uid) {
    for (const dependentKind of kinds) {
      for (const dependent of caches(dependentKind).byIndex('owner', metadata.uid)) keys.push(gcKey(dependentKind, refKey(dependent.metadata)));
    }
  }
  for (const owner of metadata.ownerReferences ?? []) {
    if (!kinds.includes(owner.kind)) continue;
    // A namespaced owner shares the dependent's namespace; a cluster-scoped one has none. An owner
    // in neither place is gone, and then there is nothing to wake.
    const candidates = [refKey({ namespace: metadata.namespace, name: owner.name }), refKey({ name: owner.name })];
    const ownerKey = candidates.find((candidate) => caches(owner.kind).get(candidate)?.metadata.uid === owner.uid);
    if (ownerKey) keys.push(gcKey(owner.kind, ownerKey));
  }
  return keys;
}

async function collect(key: string, kinds: string[], ctx: ReconcileContext): Promise<Result> {
  const { kind, key: objectKey } = parseGcKey(key);
  const object = ctx.informer(kind).get(objectKey);
  if (!object) return done();
  if (deletingInForeground(object)) return deleteDependentsFirst(kind, object, kinds, ctx);
  const owners = object.metadata.ownerReferences ?? [];
  if (owners.length === 0 || object.metadata.deletionTimestamp) return done();

  const gone: DeepReadonly<OwnerReference>[] = [];
  for (const owner of owners) if (await ownerGone(owner, object, ctx)) gone.push(owner);
  if (gone.length === 0) return done();

  if (gone.length === owners.length) {
    // Conditioned on what we examined: if the object changed meanwhile (a new owner), look again.
    await ctx.store.delete(kind, parseRefKey(objectKey), { resourceVersion: object.metadata.resourceVersion });
    ctx.log.info({ kind, owners: gone.map((o) => `${o.kind}/${o.name} (${o.uid})`) }, 'gc: deleted, its owners are gone');
    return done();
  }
  // Some owners remain: keep the object, drop the references to the gone ones.
  await dropOwners(object, new Set(gone.map((o) => o.uid)), ctx);
  return done();
}

/**
 * One step of a foreground deletion: delete the dependents (in the foreground too), or, once none is
 * left, remove FOREGROUND_FINALIZER. A dependent's deletion queues this object again (keysFor).
 */
async function deleteDependentsFirst(kind: string, object: Cached, kinds: string[], ctx: ReconcileContext): Promise<Result> {
  const uid = object.metadata.uid!;
  const dependents = kinds.flatMap((dependentKind) => ctx.informer(dependentKind).byIndex('owner', uid).map((dependent) => ({ kind: dependentKind, dependent })));
  for (const { kind: dependentKind, dependent } of dependents) {
    if (dependent.metadata.deletionTimestamp) continue; // already on its way; its deletion brings us back
    const otherOwners = (dependent.metadata.ownerReferences ?? []).filter((o) => o.uid !== uid);
    try {
      // A dependent another owner still holds stays, without its reference to this one (Kubernetes too).
      if (otherOwners.length > 0) await dropOwners(dependent, new Set([uid]), ctx);
      else await ctx.store.delete(dependentKind, parseRefKey(refKey(dependent.metadata)), { propagationPolicy: 'Foreground' });
    } catch (error) {
      if (!isStoreError(error, 'NotFound')) throw error;
    }
  }
  if (dependents.length > 0 || (await anyLiveDependent(kind, object, kinds, ctx))) return done();
  const finalizers = (object.metadata.finalizers ?? []).filter((f) => f !== FOREGROUND_FINALIZER);
  // Conditioned on the object as examined; without other finalizers this completes its deletion.
  await ctx.store.update({ ...(object as AnyObject), metadata: { ...(object.metadata as AnyObject['metadata']), finalizers } });
  ctx.log.info({ kind, name: object.metadata.name }, 'gc: every dependent is gone; foreground deletion finished');
  return done();
}

/**
 * The caches of different kinds lag each other: a dependent created a moment ago (a Task the replicas
 * controller made just before its Revision was marked) may be missing from ours. So the store is read
 * once before the owner goes, and `delete --wait` does not return while a dependent remains. Only the
 * kinds whose cached objects have owners of this kind are listed: a Revision's deletion lists its
 * namespace's Tasks once, and a Task's (a kind that owns nothing) lists nothing, so deleting many
 * tasks costs no list per task.
 */
async function anyLiveDependent(kind: string, object: Cached, kinds: string[], ctx: ReconcileContext): Promise<boolean> {
  const ownedByKind = (candidate: Cached) => Boolean(candidate.metadata.ownerReferences?.some((o) => o.kind === kind));
  const dependentKinds = kinds.filter((dependentKind) => ctx.informer(dependentKind).list(ownedByKind).length > 0);
  for (const dependentKind of dependentKinds) {
    const namespace = ctx.store.registry.get(dependentKind).namespaced ? object.metadata.namespace : undefined;
    const { items } = await ctx.store.list(dependentKind, namespace ? { namespace } : {});
    if (items.some((item) => item.metadata.ownerReferences?.some((o) => o.uid === object.metadata.uid))) return true;
  }
  return false;
}

async function dropOwners(object: Cached, uids: ReadonlySet<string>, ctx: ReconcileContext): Promise<void> {
  const ownerReferences = (object.metadata.ownerReferences ?? []).filter((o) => !uids.has(o.uid)) as OwnerReference[];
  await ctx.store.update({ ...(object as AnyObject), metadata: { ...(object.metadata as AnyObject['metadata']), ownerReferences } });
}

async function ownerGone(owner: DeepReadonly<OwnerReference>, dependent: Cached, ctx: ReconcileContext): Promise<boolean> {
  const definition = ctx.store.registry.find(owner.kind);
  // An owner of a kind this process does not know cannot be judged: keep the dependent.
  if (!definition) return false;
  const namespace = definition.namespaced ? dependent.metadata.namespace : undefined;
  const cached = ctx.informer(definition.kind).get(refKey({ namespace, name: owner.name }));
  if (cached?.metadata.uid === owner.uid) return false;
  const live = await ctx.store.get(definition.kind, { namespace, name: owner.name });
  return live?.metadata.uid !== owner.uid;
}
