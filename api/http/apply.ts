// Writes through the HTTP API go through the apply engine, as `capstan apply` does: the whole set is
// validated (each object's schema and rules, and the store-wide ones such as unique service ports),
// then written, or nothing is. Problems come back as data, for the route to answer 422 with.
//
// The inventory of API writes: an object keeps the inventory label it has (so an App applied from a
// file and then scaled or edited through the API stays in its file's applied set, and that file's
// next `apply --prune` still owns it); an object created through the API is labelled `api`. The API
// never prunes (Marathon's API creates, updates and deletes one object at a time), so it neither
// reads nor records inventory lists: a list rewritten whole on every request would cost O(n) per
// POST and lose entries to concurrent requests (api/apply/apply.ts `inventories`).
import { applySet, liveIdentityOf, type ApplySetResult } from '../apply/apply.ts';
import type { InventoryChoice } from '../apply/plan.ts';
import { validateSet } from '../apply/validate.ts';
import type { InformerFactory } from '../informer.ts';
import type { StoreReader } from '../kinds/registry.ts';
import type { ManifestDocument, Problem } from '../manifest.ts';
import { withCapstanOnlyFields } from '../marathon/app.ts';
import { DEFAULT_NAMESPACE, type AnyObject } from '../object.ts';
import type { ApiContext } from './context.ts';

/** The inventory objects created through the API join (api/apply/plan.ts inventoryFor). */
export const API_INVENTORY: InventoryChoice = { derived: 'api' };
/** Where the API's inventories are recorded, as `capstan apply` records its own in the -n namespace. */
const INVENTORY_NAMESPACE = DEFAULT_NAMESPACE;
/** What an object given as data (not text) is called in problems. */
const REQUEST_FILE = 'request';

export interface ApplyObjectsOptions {
  /**
   * The live objects, when the caller has read them already (`POST /v2/apps` does, to answer 409):
   * by liveIdentityOf, undefined for absent. Spares the reads this function would make.
   */
  known?: ReadonlyMap<string, AnyObject | undefined>;
  /** Validate and plan, write nothing. */
  dryRun?: boolean;
  /** Marathon's `?force=true`: the caller has already decided to override a deployment's lock. Kept for the callers' symmetry; the engine itself has no lock. */
  force?: boolean;
}

/**
 * Validates `objects` as one set and applies it. `problems` when any object is invalid (nothing is
 * written; paths are the Capstan objects', `spec.instances`); else the engine's `result`, where an
 * object may still have `failed` (a conflict that kept recurring: `result.failed`).
 */
export async function applyObjects(ctx: ApiContext, objects: AnyObject[], options: ApplyObjectsOptions = {}): Promise<{ problems?: Problem[]; result?: ApplySetResult }> {
  // The objects come from Marathon JSON: an App that exists keeps the fields Marathon cannot express.
  // Each is read once, here, and the engine plans against the same read.
  const known = new Map(options.known);
  await Promise.all(
    objects.map(async (object) => {
      const identity = liveIdentityOf({ ...object, metadata: { ...object.metadata, namespace: object.metadata.namespace ?? DEFAULT_NAMESPACE } });
      if (!known.has(identity)) known.set(identity, await ctx.store.get(object.kind, { namespace: object.metadata.namespace ?? DEFAULT_NAMESPACE, name: object.metadata.name }));
    }),
  );
  const kept = objects.map((object) =>
    object.kind === 'App' ? withCapstanOnlyFields(object, known.get(liveIdentityOf({ ...object, metadata: { ...object.metadata, namespace: object.metadata.namespace ?? DEFAULT_NAMESPACE } }))) : object,
  );
  const documents = kept.map((value, index) => documentOf(value, index));
  return applyDocuments(ctx, documents, { dryRun: options.dryRun, known });
}

/** As applyObjects, for documents parsed from text, whose problems then carry their line and column. */
export async function applyDocuments(
  ctx: Pick<ApiContext, 'store' | 'registry' | 'informers'>,
  documents: readonly ManifestDocument[],
  options: { dryRun?: boolean; parseProblems?: readonly Problem[]; known?: ReadonlyMap<string, AnyObject | undefined> } = {},
): Promise<{ problems?: Problem[]; result?: ApplySetResult }> {
  const validation = await validateSet({ documents, parseProblems: options.parseProblems, registry: ctx.registry, store: cachedReader(ctx.informers) });
  if (!validation.valid) return { problems: validation.problems };
  const result = await applySet(validation.set, {
    store: ctx.store,
    namespace: INVENTORY_NAMESPACE,
    inventory: API_INVENTORY,
    dryRun: options.dryRun,
    inventories: false,
    ...(options.known ? { known: options.known } : {}),
  });
  return { result };
}

/**
 * One object validated as applyObjects validates a set of one (its schema and rules, and the
 * store-wide ones on the informers' caches): the object to write, as validateSet made it, or its
 * problems.
 */
export async function validateObject(ctx: Pick<ApiContext, 'registry' | 'informers'>, object: AnyObject): Promise<{ object: AnyObject } | { problems: Problem[] }> {
  const validation = await validateSet({ documents: [documentOf(object, 0)], registry: ctx.registry, store: cachedReader(ctx.informers) });
  return validation.valid ? { object: validation.set.objects[0]! } : { problems: validation.problems };
}

/**
 * The store-wide rules (unique service ports, dependency cycles) read every App and Endpoints: from
 * the server's informers, not from etcd, or each write would read the whole kind again (a thousand
 * posted apps, a million App reads). A cache a moment behind misses at most what a concurrent write
 * just made, the same race two `capstan apply` runs have; the endpoints controller's service-port
 * claims settle it (api/kinds/app-checks.ts).
 */
function cachedReader(informers: InformerFactory): StoreReader {
  return {
    async list(kind, options = {}) {
      const informer = informers.informer(kind);
      await informer.start();
      const items = informer.list((object) => options.namespace === undefined || object.metadata.namespace === options.namespace);
      // Read only by the checks, never changed: the cache's frozen objects serve as they are.
      return { items: items as AnyObject[] };
    },
  };
}

/**
 * An object given as data: a document without text, so every problem is located at the request
 * itself (line 1, column 1) and named by its field path.
 */
function documentOf(value: AnyObject, index: number): ManifestDocument {
  return { file: REQUEST_FILE, index, value, locate: () => ({ line: 1, column: 1 }) };
}
