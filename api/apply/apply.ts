// The second half of applying a set (validate.ts is the first): create or update each object of a
// ValidSet, then (with prune) delete what the same inventory recorded last time and the set no longer
// contains, then record in each inventory touched which objects it now holds. What happened comes
// back as data, one outcome per object; `capstan apply` prints it, a controller records it.
import type { Etcd3 } from 'etcd3';
import { mapConcurrently } from '../concurrently.ts';
import type { KindDefinition } from '../kinds/registry.ts';
import { matches, type Selector } from '../labels.ts';
import { deepEqual } from '../merge.ts';
import type { AnyObject } from '../object.ts';
import { readModifyWrite } from '../read-modify-write.ts';
import type { Store } from '../store.ts';
import { entryOf, readInventory, writeInventory } from './inventory.ts';
import {
  INVENTORY_LABEL,
  nextEntries,
  planApply,
  pruneCandidates,
  pruneInventory,
  pruneRefusal,
  type ApplyStep,
  type InventoryChoice,
  type InventoryEntry,
  type Placement,
} from './plan.ts';
import type { ValidSet } from './validate.ts';

export interface ApplySetOptions {
  store: Store;
  /** The namespace the inventories are kept in. */
  namespace: string;
  /** The inventory asked for, and the one derived from where the set came from (plan.ts). */
  inventory: InventoryChoice;
  /** Delete what the inventory holds and the set no longer contains; with a selector, only what matches it. */
  prune?: { selector?: Selector };
  /** Plan and report, write nothing (neither objects nor inventories). */
  dryRun?: boolean;
  /**
   * Write every create and configure of the set (CustomKinds aside, written first one by one) in
   * ONE etcd transaction, re-read and retried whole on a conflict; when the set does not fit the
   * store's limits, or keeps conflicting, written object by object instead (`written` says which).
   */
  atomic?: boolean;
  /**
   * Read and record the inventories (default true). A writer that never prunes (the HTTP API, where
   * Marathon's clients create, change and delete one object at a time) skips them: recording would
   * read and rewrite the whole inventory key on every request, and two concurrent requests would
   * each write back a list missing the other's object.
   */
  inventories?: boolean;
  /**
   * What the store holds for the set's objects, already read by the caller (by `kind/namespace/name`,
   * undefined for absent): the set is planned against it instead of being read again. An object the
   * map lacks is read as usual.
   */
  known?: ReadonlyMap<string, AnyObject | undefined>;
}

/** What became of one object of the set. `object` is what the store holds (or would, on a dry run). */
export type ObjectOutcome =
  | { outcome: 'created' | 'configured' | 'unchanged'; manifest: AnyObject; object: AnyObject }
  | { outcome: 'failed'; manifest: AnyObject; problem: string };

/**
 * What became of one entry the inventory held that the set no longer contains. An entry whose object
 * is already gone, of a kind no longer known, or outside the prune selector has none.
 */
export type PruneOutcome =
  | { outcome: 'pruned'; entry: InventoryEntry }
  /** Not deleted, and dropped from the inventory: the object is no longer this set's. */
  | { outcome: 'skipped'; entry: InventoryEntry; reason: string }
  | { outcome: 'failed'; entry: InventoryEntry; problem: string };

export interface ApplySetResult {
  /** One per object of the set, CustomKinds first, in input order. */
  objects: ObjectOutcome[];
  /** The inventory prune works within. */
  inventory: string;
  /** Objects of the set that belong to another inventory, out of prune's reach. */
  elsewhere: Placement[];
  /** Only with prune, in inventory order. */
  pruned: PruneOutcome[];
  /** Inventories that could not be saved: the next prune of one may miss objects of this apply. */
  unsaved: { name: string; problem: string }[];
  /** Whether an object, a prune or an inventory failed. */
  failed: boolean;
  /**
   * How the objects were written: in one transaction, or one by one (the default, and an atomic
   * apply's fallback, with the reason in `fallback`).
   */
  written: 'atomically' | 'perObject';
  fallback?: string;
}

const say = {
  beingDeleted: 'is being deleted; apply again once it is gone',
  pruneNeedsInventories: 'apply: prune works from the inventory, so it cannot be asked for with inventories: false',
  nothingPlanned: (kind: string, name: string) => `apply: nothing planned for absent ${kind} ${name}`,
  keptConflicting: (attempts: number) => `the set's transaction conflicted ${attempts} times; written object by object`,
  tooLarge: (reason: string) => `the set does not fit one transaction (${reason}); written object by object`,
} as const;

/** Writes tried per object before a conflict is its outcome. */
const MAX_ATTEMPTS = 5;
/** Up to this many objects of one kind and namespace are read one by one, more by one list. */
const PREFETCH_ONE_BY_ONE = 16;
/** Writes in flight at once. */
const APPLY_WINDOW = 32;

const identityOf = (o: { kind: string; metadata: { namespace?: string; name: string } }) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

type Prefetched = Map<string, { object: AnyObject | undefined }>;

/** Applies a validated set: each object created or updated, then prune, then the inventories. */
export async function applySet(set: ValidSet, options: ApplySetOptions): Promise<ApplySetResult> {
  const { store, namespace } = options;
  const dryRun = options.dryRun ?? false;
  const target = pruneInventory(options.inventory);
  const inventories = options.inventories ?? true;
  if (!inventories && options.prune) throw new Error(say.pruneNeedsInventories);
  const previous = inventories ? ((await readInventory(store.client, namespace, target))?.entries ?? []) : [];
  const current = await prefetch(store, set.objects, options.known);

  // Kinds first (a CustomKind before its objects), then everything else with up to APPLY_WINDOW
  // writes in flight: they are independent conditional transactions, so overlapping their round
  // trips is safe. Outcomes still come out in input order.
  const kinds = set.objects.filter((o) => o.kind === 'CustomKind');
  const rest = set.objects.filter((o) => o.kind !== 'CustomKind');
  const applyEach = async (manifest: AnyObject): Promise<ObjectOutcome> => {
    try {
      const definition = store.registry.get(manifest.kind);
      const prefetched = current.get(identityOf(manifest));
      return { manifest, ...(await applyOne(store, definition, manifest, { inventory: options.inventory, dryRun, prefetched })) };
    } catch (error) {
      return { outcome: 'failed', manifest, problem: messageOf(error) };
    }
  };
  const kindOutcomes = await mapConcurrently(kinds, 1, applyEach);
  let written: ApplySetResult['written'] = 'perObject';
  let fallback: string | undefined;
  let restOutcomes: ObjectOutcome[] | undefined;
  if (options.atomic && !dryRun && rest.length > 0) {
    const attempt = await applyAtomically(store, rest, { inventory: options.inventory, prefetched: current });
    if (attempt.outcome === 'done') {
      if (attempt.atomically) written = 'atomically';
      restOutcomes = attempt.objects;
    } else {
      fallback = attempt.reason;
    }
  }
  restOutcomes ??= await mapConcurrently(rest, APPLY_WINDOW, applyEach);
  const objects = [...kindOutcomes, ...restOutcomes];
  const placements = objects.flatMap((o): Placement[] =>
    o.outcome === 'failed' ? [] : [{ entry: entryOf(o.object), inventory: o.object.metadata.labels?.[INVENTORY_LABEL] ?? target }],
  );

  const leftover = pruneCandidates(previous, set.objects.map((o) => ({ kind: o.kind, namespace: o.metadata.namespace, name: o.metadata.name })));
  const { pruned, kept } = options.prune ? await prune(store, { leftover, inventory: target, selector: options.prune.selector, dryRun }) : { pruned: [], kept: leftover };

  let unsaved: ApplySetResult['unsaved'] = [];
  if (!dryRun && inventories) {
    // The inventories the objects were in before this apply: one they moved out of keeps no entry.
    const before = [...current.values()].flatMap(({ object }) => object?.metadata.labels?.[INVENTORY_LABEL] ?? []);
    const dropped = leftover.filter((entry) => !kept.includes(entry));
    unsaved = await recordInventories(store.client, { namespace, target, previous, dropped, placements, names: [target, ...before] });
  }
  const failed = objects.some((o) => o.outcome === 'failed') || pruned.some((p) => p.outcome === 'failed') || unsaved.length > 0;
  return {
    objects,
    inventory: target,
    elsewhere: placements.filter((p) => p.inventory !== target),
    pruned,
    unsaved,
    failed,
    written,
    ...(fallback ? { fallback } : {}),
  };
}

/**
 * Plans every object against what was read and writes all creates and configures in one
 * transaction (Store.writeAll); after a conflict reads the set again and plans again, at most
 * MAX_ATTEMPTS times. An object that cannot be planned (being deleted) is failed and left out; the
 * others are still written together; when etcd fails the write, every change is failed (none was
 * written). `fallBack` when the set does not fit or keeps conflicting:
 * the caller writes it object by object.
 */
async function applyAtomically(
  store: Store,
  manifests: readonly AnyObject[],
  options: { inventory: InventoryChoice; prefetched: Prefetched },
): Promise<{ outcome: 'done'; objects: ObjectOutcome[]; atomically: boolean } | { outcome: 'fallBack'; reason: string }> {
  let current = options.prefetched;
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt += 1) {
    if (attempt > 1) current = await prefetch(store, manifests);
    const planned = manifests.map((manifest) => {
      const read = current.get(identityOf(manifest))?.object;
      try {
        if (read?.metadata.deletionTimestamp) throw new Error(say.beingDeleted);
        return { manifest, step: planApply(store.registry.get(manifest.kind), manifest, read, options.inventory) };
      } catch (error) {
        return { manifest, problem: messageOf(error) };
      }
    });
    const changes = planned.flatMap((p) =>
      p.step && p.step.action !== 'unchanged' ? [{ object: p.step.object, current: p.step.action === 'configure' ? p.step.current : undefined }] : [],
    );
    let write;
    try {
      write = await store.writeAll(changes);
    } catch (error) {
      // etcd unreachable or refusing: nothing of the set was written, so every change failed.
      const problem = messageOf(error);
      const objects = planned.map(({ manifest, step, problem: own }): ObjectOutcome =>
        step?.action === 'unchanged' ? { outcome: 'unchanged', manifest, object: step.current } : { outcome: 'failed', manifest, problem: own ?? problem },
      );
      return { outcome: 'done', objects, atomically: false };
    }
    if (write.outcome === 'conflict') continue;
    if (write.outcome === 'tooLarge') return { outcome: 'fallBack', reason: say.tooLarge(write.reason) };
    const writtenObjects = [...write.objects];
    const objects = planned.map(({ manifest, step, problem }): ObjectOutcome => {
      if (!step) return { outcome: 'failed', manifest, problem: problem! };
      if (step.action === 'unchanged') return { outcome: 'unchanged', manifest, object: step.current };
      return { outcome: step.action === 'create' ? 'created' : 'configured', manifest, object: writtenObjects.shift()! };
    });
    return { outcome: 'done', objects, atomically: true };
  }
  return { outcome: 'fallBack', reason: say.keptConflicting(MAX_ATTEMPTS) };
}

/** What applying each object of the set would do, against the store as it is now; writes nothing. */
export async function planSet(set: ValidSet, options: { store: Store; inventory: InventoryChoice }): Promise<{ manifest: AnyObject; step: ApplyStep }[]> {
  const current = await prefetch(options.store, set.objects);
  return set.objects.map((manifest) => ({
    manifest,
    step: planApply(options.store.registry.get(manifest.kind), manifest, current.get(identityOf(manifest))?.object, options.inventory),
  }));
}

/**
 * What the store holds for every object of the set, read with one list per kind and namespace
 * instead of one get per object. Objects absent from the list are recorded as absent.
 */
/** The identity `known` maps (ApplySetOptions.known): kind, namespace and name. */
export const liveIdentityOf = identityOf;

async function prefetch(store: Store, objects: readonly AnyObject[], given?: ReadonlyMap<string, AnyObject | undefined>): Promise<Prefetched> {
  const known: Prefetched = new Map();
  const groups = new Map<string, { kind: string; namespace?: string; objects: AnyObject[] }>();
  for (const o of objects) {
    if (given?.has(identityOf(o))) {
      known.set(identityOf(o), { object: given.get(identityOf(o)) });
      continue;
    }
    const key = `${o.kind}/${o.metadata.namespace ?? ''}`;
    const group = groups.get(key) ?? { kind: o.kind, namespace: o.metadata.namespace, objects: [] };
    group.objects.push(o);
    groups.set(key, group);
  }
  for (const { kind, namespace, objects: mine } of groups.values()) {
    // A few objects (an API request, a small manifest) are read one by one: listing the namespace
    // would read and decode every object in it for each request (bench:api's POSTs, 1,000 Apps).
    if (mine.length <= PREFETCH_ONE_BY_ONE) {
      const read = await Promise.all(mine.map((o) => store.get(kind, { namespace: o.metadata.namespace, name: o.metadata.name })));
      mine.forEach((o, i) => known.set(identityOf(o), { object: read[i] }));
      continue;
    }
    const { items } = await store.list(kind, namespace ? { namespace } : {});
    for (const item of items) known.set(identityOf({ ...item, kind }), { object: item });
  }
  for (const o of objects) if (!known.has(identityOf(o))) known.set(identityOf(o), { object: undefined });
  return known;
}

/**
 * Creates or updates one object, re-reading and re-planning on a lost race: a conflict means someone
 * wrote in between, and the merge must be computed again from what they wrote.
 */
async function applyOne(
  store: Store,
  definition: KindDefinition,
  manifest: AnyObject,
  options: { inventory: InventoryChoice; dryRun: boolean; prefetched: { object: AnyObject | undefined } | undefined },
): Promise<{ outcome: 'created' | 'configured' | 'unchanged'; object: AnyObject }> {
  const { dryRun, prefetched } = options;
  const plan = (current: AnyObject | undefined) => {
    if (current?.metadata.deletionTimestamp) throw new Error(say.beingDeleted);
    return planApply(definition, manifest, current, options.inventory);
  };
  const ref = { namespace: manifest.metadata.namespace, name: manifest.metadata.name };
  if (dryRun) {
    const step = plan(prefetched ? prefetched.object : await store.get(definition.kind, ref));
    if (step.action === 'unchanged') return { outcome: 'unchanged', object: step.current };
    return { outcome: step.action === 'create' ? 'created' : 'configured', object: step.object };
  }
  // The first attempt plans from the prefetched list; a lost race re-reads.
  const result = await readModifyWrite<AnyObject>({
    store,
    kind: definition.kind,
    ref,
    from: prefetched,
    write: 'createOrUpdate',
    change: (current) => {
      const step = plan(current);
      return step.action === 'unchanged' ? undefined : step.object;
    },
    attempts: MAX_ATTEMPTS,
  });
  switch (result.outcome) {
    case 'created':
      return { outcome: 'created', object: result.object };
    case 'updated':
      return { outcome: 'configured', object: result.object };
    case 'unchanged':
      return { outcome: 'unchanged', object: result.object };
    case 'gone':
      // A bug: planApply plans a create for whatever is absent, so there is always something to write.
      throw new Error(say.nothingPlanned(definition.kind, ref.name));
  }
}

interface PruneOptions {
  leftover: InventoryEntry[];
  inventory: string;
  selector: Selector | undefined;
  dryRun: boolean;
}

/** Deletes the leftovers that are still this set's; returns what became of each and the entries the inventory must keep. */
async function prune(store: Store, options: PruneOptions): Promise<{ pruned: PruneOutcome[]; kept: InventoryEntry[] }> {
  const pruned: PruneOutcome[] = [];
  const kept: InventoryEntry[] = [];
  for (const entry of options.leftover) {
    if (!store.registry.find(entry.kind)) {
      kept.push(entry); // its kind is gone from the registry: keep it listed, a later prune may see it
      continue;
    }
    try {
      const current = await store.get(entry.kind, entry);
      const refusal = pruneRefusal(entry, current, options.inventory);
      if (refusal) {
        if (current) pruned.push({ outcome: 'skipped', entry, reason: refusal });
        continue;
      }
      if (options.selector && !matches(options.selector, current!.metadata.labels)) {
        kept.push(entry);
        continue;
      }
      if (!options.dryRun) await store.delete(entry.kind, entry, { resourceVersion: current!.metadata.resourceVersion });
      pruned.push({ outcome: 'pruned', entry });
    } catch (error) {
      kept.push(entry);
      pruned.push({ outcome: 'failed', entry, problem: messageOf(error) });
    }
  }
  return { pruned, kept };
}

interface RecordOptions {
  namespace: string;
  /** The inventory prune worked within, its entries as read before, and those it dropped. */
  target: string;
  previous: InventoryEntry[];
  dropped: InventoryEntry[];
  placements: Placement[];
  /** Inventories to bring up to date besides those the placements name. */
  names: string[];
}

/** Writes what each inventory the apply touched now holds; returns those that could not be saved. */
async function recordInventories(client: Etcd3, options: RecordOptions): Promise<{ name: string; problem: string }[]> {
  const { namespace, target } = options;
  const unsaved: { name: string; problem: string }[] = [];
  for (const name of new Set([...options.names, ...options.placements.map((p) => p.inventory)])) {
    try {
      const entries = name === target ? options.previous : ((await readInventory(client, namespace, name))?.entries ?? []);
      const next = nextEntries(name, entries, options.placements, name === target ? options.dropped : []);
      // An inventory is rewritten only when its entries change: an unchanged apply writes nothing.
      if (!deepEqual(next, entries)) await writeInventory(client, { name, namespace, entries: next, updated: new Date().toISOString() });
    } catch (error) {
      unsaved.push({ name, problem: messageOf(error) });
    }
  }
  return unsaved;
}
