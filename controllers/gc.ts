// The garbage collector: deletes objects whose owners are gone (DESIGN.md "Store semantics":
// ownerReferences cascade, in the background). Generic over kinds: it watches every kind it is given
// and follows ownerReferences by uid, so App → Revision → Task unwinds one level per reconcile: the
// App's deletion queues its Revisions, each Revision's deletion queues its Tasks.
//
// An owner is gone when no object of its kind, namespace and name exists with the referenced uid: a
// new object under the old name does not adopt the old one's dependents. Before deleting anything the
// owner is read live from the store, because informers of different kinds are not ordered with each
// other: a dependent may reach our cache before the owner created just ahead of it.
//
// Minimal on purpose: background cascade only. An owner being deleted (deletionTimestamp set, waiting
// for its finalizers) still owns its dependents; blockOwnerDeletion and foreground deletion are not
// implemented. A dependent with finalizers gets its deletionTimestamp and disappears when they are
// removed by whoever owns them.
import type { InformerEvent } from '../api/informer.ts';
import { parseRefKey, refKey, type AnyObject, type DeepReadonly, type OwnerReference } from '../api/object.ts';
import { done, type Caches, type ControllerDefinition, type ReconcileContext, type Result } from './contract.ts';

export const GC_CONTROLLER = 'gc';

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
    reconcile: collect,
  };
}

/** An object with owners is checked itself; a deleted object's dependents are checked. */
function keysFor(kind: string, kinds: string[], event: InformerEvent, caches: Caches): string[] {
  const keys: string[] = [];
  if (event.type !== 'deleted' && event.object.metadata.ownerReferences?.length) keys.push(gcKey(kind, event.key));
  const uid = event.object.metadata.uid;
  if (event.type === 'deleted' && uid) {
    for (const dependentKind of kinds) {
      for (const dependent of caches(dependentKind).byIndex('owner', uid)) keys.push(gcKey(dependentKind, refKey(dependent.metadata)));
    }
  }
  return keys;
}

async function collect(key: string, ctx: ReconcileContext): Promise<Result> {
  const { kind, key: objectKey } = parseGcKey(key);
  const object = ctx.informer(kind).get(objectKey);
  const owners = object?.metadata.ownerReferences ?? [];
  if (!object || owners.length === 0 || object.metadata.deletionTimestamp) return done();

  const gone: DeepReadonly<OwnerReference>[] = [];
  for (const owner of owners) if (await ownerGone(owner, object, ctx)) gone.push(owner);
  if (gone.length === 0) return done();

  const ref = parseRefKey(objectKey);
  if (gone.length === owners.length) {
    // Conditioned on what we examined: if the object changed meanwhile (a new owner), look again.
    await ctx.store.delete(kind, ref, { resourceVersion: object.metadata.resourceVersion });
    ctx.log.info({ kind, owners: gone.map((o) => `${o.kind}/${o.name} (${o.uid})`) }, 'gc: deleted, its owners are gone');
    return done();
  }
  // Some owners remain: keep the object, drop the references to the gone ones.
  const goneUids = new Set(gone.map((o) => o.uid));
  const ownerReferences = owners.filter((o) => !goneUids.has(o.uid)) as OwnerReference[];
  await ctx.store.update({ ...(object as AnyObject), metadata: { ...(object.metadata as AnyObject['metadata']), ownerReferences } });
  return done();
}

async function ownerGone(owner: DeepReadonly<OwnerReference>, dependent: DeepReadonly<AnyObject>, ctx: ReconcileContext): Promise<boolean> {
  const definition = ctx.store.registry.find(owner.kind);
  // An owner of a kind this process does not know cannot be judged: keep the dependent.
  if (!definition) return false;
  const namespace = definition.namespaced ? dependent.metadata.namespace : undefined;
  const cached = ctx.informer(definition.kind).get(refKey({ namespace, name: owner.name }));
  if (cached?.metadata.uid === owner.uid) return false;
  const live = await ctx.store.get(definition.kind, { namespace, name: owner.name });
  return live?.metadata.uid !== owner.uid;
}
