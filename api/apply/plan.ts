// The pure half of apply (STYLE.md habit 3): from a manifest object and what the store holds, decide
// what apply would write. apply.ts does the reads and writes; `capstan diff` shows the same plan.
//
// Apply owns the spec of what it writes, and the labels and annotations its manifests set. Everything
// else is left as stored: status is never written (controllers own it, on its own key),
// ownerReferences and finalizers that a controller added stay unless the manifest sets them itself,
// and so do labels and annotations that somebody else set (`capstan rollout pause` and `restart`
// are annotations). Like kubectl's last-applied-configuration, each applied object records which
// label and annotation keys its manifest set (APPLIED_ANNOTATION), so that the next apply removes
// exactly the ones the manifest no longer has: a three-way merge of manifest, record and store.
// Whether anything changed is decided against the live object, not against the record, so a field
// that somebody else changed (`capstan scale` sets spec.instances) is set back to the manifest's —
// when the manifest sets it. A manifest that leaves an App's `instances` out keeps the live count
// (KEPT_WHEN_OMITTED): kubectl leaves a Deployment's replicas alone when the manifest omits them, and
// Marathon's app update keeps `instances` when the JSON has none, so scaling by hand or by an
// autoscaler is not undone by the next apply of an unrelated change.
//
// Every applied object belongs to one inventory (INVENTORY_LABEL), the set --prune works within. It
// changes only when asked (--inventory NAME): otherwise an object keeps the inventory it has, and a
// new one joins the inventory derived from the -f paths (inventoryFor). So applying the same content
// from another path or from stdin is `unchanged`.
import type { KindDefinition } from '../kinds/registry.ts';
import { PRUNE_ANNOTATION, PRUNE_DISABLED } from '../kinds/wellknown.ts';
import { mergeForUpdate } from '../merge.ts';
import type { AnyObject, ObjectMeta } from '../object.ts';

/** Marks every object an apply wrote with the set (inventory) it belongs to; prune checks it. */
export const INVENTORY_LABEL = 'capstan.io/inventory';

/** Spec fields that keep their live value when a manifest leaves them out (see the header). */
export const KEPT_WHEN_OMITTED: Readonly<Record<string, readonly string[]>> = { App: ['instances'] };

export type ApplyStep =
  | { action: 'create'; object: AnyObject }
  /** `object` carries the stored resourceVersion: the update is conditioned on what was read. */
  | { action: 'configure'; object: AnyObject; current: AnyObject }
  | { action: 'unchanged'; current: AnyObject };

/**
 * The validated manifest object without the KEPT_WHEN_OMITTED fields its document left out. Validation
 * fills in every default, instances: 1 included, and planApply would then set a scaled App back to
 * one instance; left out, it keeps the live count. `document` is the document's value as parsed.
 */
export function leaveOutOmitted(object: AnyObject, document: unknown): AnyObject {
  const written = (document as { spec?: unknown } | null)?.spec;
  const writtenSpec = written !== null && typeof written === 'object' ? (written as Record<string, unknown>) : {};
  const omitted = (KEPT_WHEN_OMITTED[object.kind] ?? []).filter((field) => writtenSpec[field] === undefined);
  if (omitted.length === 0) return object;
  const spec = { ...(object.spec as Record<string, unknown>) };
  for (const field of omitted) delete spec[field];
  return { ...object, spec };
}

/** The inventory asked for with --inventory, if any, and the one derived from the -f paths. */
export interface InventoryChoice {
  named?: string;
  derived: string;
}

/** The inventory an applied object belongs to: the named one, else the one it has, else the derived one. */
export function inventoryFor(choice: InventoryChoice, current: AnyObject | undefined): string {
  return choice.named ?? current?.metadata.labels?.[INVENTORY_LABEL] ?? choice.derived;
}

/** The inventory --prune works within: the named one, else the derived one. */
export const pruneInventory = (choice: InventoryChoice): string => choice.named ?? choice.derived;

/** The label and annotation keys the last apply's manifest set, as JSON: `{"labels":[…],"annotations":[…]}`. */
export const APPLIED_ANNOTATION = 'capstan.io/last-applied-metadata';

interface AppliedKeys {
  labels: string[];
  annotations: string[];
}

/**
 * The manifest object as apply writes it: the inventory label added, the record of the keys it sets
 * (APPLIED_ANNOTATION) added, status dropped.
 */
export function asApplied(object: AnyObject, inventory: string): AnyObject {
  const { status: _status, ...rest } = object;
  const labels = { ...object.metadata.labels, [INVENTORY_LABEL]: inventory };
  const { [APPLIED_ANNOTATION]: _record, ...annotations } = object.metadata.annotations ?? {};
  const applied: AppliedKeys = { labels: Object.keys(labels).sort(), annotations: Object.keys(annotations).sort() };
  return { ...rest, metadata: { ...object.metadata, labels, annotations: { ...annotations, [APPLIED_ANNOTATION]: JSON.stringify(applied) } } };
}

/** The keys the last apply set, or undefined when the object carries no readable record. */
function appliedKeys(object: AnyObject): AppliedKeys | undefined {
  const record = object.metadata.annotations?.[APPLIED_ANNOTATION];
  if (record === undefined) return undefined;
  try {
    const parsed = JSON.parse(record) as Partial<AppliedKeys>;
    const strings = (value: unknown) => (Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : []);
    return { labels: strings(parsed.labels), annotations: strings(parsed.annotations) };
  } catch {
    // Not JSON (edited by hand, say): treated as no record, so the manifest's keys replace the stored ones.
    return undefined;
  }
}

/**
 * Stored keys, minus those the last apply set and the manifest no longer has, plus the manifest's.
 * Without a record (an object written by other means than apply, or whose record is not readable)
 * every stored key counts as the last apply's: the manifest's set replaces the stored one outright.
 */
function threeWay(stored: Record<string, string> | undefined, manifest: Record<string, string> | undefined, lastApplied: string[] | undefined) {
  const merged = { ...stored };
  for (const key of lastApplied ?? Object.keys(merged)) {
    if (!(manifest && key in manifest)) delete merged[key];
  }
  return { ...merged, ...manifest };
}

/** What applying the manifest object `manifest` does to `current` (absent: create). */
export function planApply(definition: KindDefinition, manifest: AnyObject, current: AnyObject | undefined, inventory: InventoryChoice): ApplyStep {
  const desired = asApplied(manifest, inventoryFor(inventory, current));
  if (!current) return { action: 'create', object: withDefaults(definition, desired) };
  const next = mergeManifest(definition, current, desired);
  // The store's own merge decides "changed" so that apply and update agree on what a no-op is.
  if (mergeForUpdate(current, next) === current) return { action: 'unchanged', current };
  return { action: 'configure', object: next, current };
}

/**
 * A created object has the default of a KEPT_WHEN_OMITTED field its manifest left out, as the store
 * would give it; the spec is parsed again only then (validation defaulted every other field).
 */
function withDefaults(definition: KindDefinition, desired: AnyObject): AnyObject {
  const spec = (desired.spec ?? {}) as Record<string, unknown>;
  const omitted = (KEPT_WHEN_OMITTED[definition.kind] ?? []).some((field) => spec[field] === undefined);
  return omitted ? { ...desired, spec: definition.spec.parse(spec) } : desired;
}

/** What an update of `current` with the manifest `desired` sends to the store. */
export function mergeManifest(definition: KindDefinition, current: AnyObject, desired: AnyObject): AnyObject {
  const applied = appliedKeys(current);
  const metadata: ObjectMeta = {
    ...current.metadata,
    labels: nonEmpty(threeWay(current.metadata.labels, desired.metadata.labels, applied?.labels)),
    annotations: nonEmpty(threeWay(current.metadata.annotations, desired.metadata.annotations, applied && [...applied.annotations, APPLIED_ANNOTATION])),
    ownerReferences: desired.metadata.ownerReferences ?? current.metadata.ownerReferences,
    finalizers: desired.metadata.finalizers ?? current.metadata.finalizers,
  };
  for (const field of ['labels', 'annotations', 'ownerReferences', 'finalizers'] as const) {
    if (metadata[field] === undefined) delete metadata[field];
  }
  // Compare defaulted specs: a manifest that leaves a default out is not a change.
  const given = (desired.spec ?? {}) as Record<string, unknown>;
  const live = (current.spec ?? {}) as Record<string, unknown>;
  const kept = Object.fromEntries(
    (KEPT_WHEN_OMITTED[definition.kind] ?? []).filter((field) => given[field] === undefined && live[field] !== undefined).map((field) => [field, live[field]]),
  );
  const spec = definition.spec.parse({ ...given, ...kept });
  const { status: _status, ...rest } = current;
  return { ...rest, apiVersion: desired.apiVersion ?? current.apiVersion, metadata, spec };
}

function nonEmpty(record: Record<string, string> | undefined): Record<string, string> | undefined {
  return record && Object.keys(record).length > 0 ? record : undefined;
}

// ------------------------------------------------------------------------------------------------
// Inventory: which objects the last apply of a set wrote, so that prune deletes exactly those.

export interface InventoryEntry {
  kind: string;
  namespace?: string;
  name: string;
  uid: string;
}

export interface Inventory {
  name: string;
  namespace: string;
  entries: InventoryEntry[];
  updated: string;
}

export const entryKey = (entry: { kind: string; namespace?: string; name: string }) =>
  `${entry.kind}/${entry.namespace ?? ''}/${entry.name}`;

/** Where an apply left one object: its entry, and the inventory its label names now. */
export interface Placement {
  entry: InventoryEntry;
  inventory: string;
}

/**
 * The entries inventory `name` holds after an apply: its previous entries, minus those this apply
 * placed in another inventory (moved with --inventory) and those it dropped (pruned, or no longer
 * the set's), plus those it placed here, with the uid they have now. An object's label names one
 * inventory, so an entry in any other is stale.
 */
export function nextEntries(
  name: string,
  previous: readonly InventoryEntry[],
  placements: readonly Placement[],
  dropped: readonly InventoryEntry[],
): InventoryEntry[] {
  const byKey = new Map(previous.map((entry) => [entryKey(entry), entry]));
  for (const entry of dropped) byKey.delete(entryKey(entry));
  for (const { entry, inventory } of placements) {
    if (inventory === name) byKey.set(entryKey(entry), entry);
    else byKey.delete(entryKey(entry));
  }
  return [...byKey.values()];
}

/** Entries of the previous inventory that this apply no longer contains. */
export function pruneCandidates(previous: readonly InventoryEntry[], applied: readonly { kind: string; namespace?: string; name: string }[]): InventoryEntry[] {
  const keep = new Set(applied.map(entryKey));
  return previous.filter((entry) => !keep.has(entryKey(entry)));
}

/** Why a candidate must not be pruned, or null when it may: the set's label, the same incarnation, no opt-out. */
export function pruneRefusal(entry: InventoryEntry, current: AnyObject | undefined, inventory: string): string | null {
  if (!current) return 'already gone';
  if (current.metadata.labels?.[INVENTORY_LABEL] !== inventory) return `not labelled ${INVENTORY_LABEL}=${inventory} any more`;
  if (current.metadata.uid !== entry.uid) return 'a different object of the same name (uid differs)';
  if (current.metadata.annotations?.[PRUNE_ANNOTATION] === PRUNE_DISABLED) return `kept: annotated ${PRUNE_ANNOTATION}: ${PRUNE_DISABLED}`;
  return null;
}

/**
 * The derived inventory name: the -f paths as given, normalised into a label value. `-f manifests/demo`
 * and `-f manifests/demo/` name the same set; `-f -` is "stdin". New objects join it, and --prune
 * works within it, unless --inventory names another.
 */
export function defaultInventoryName(paths: readonly string[]): string {
  const parts = [...new Set(paths.map((path) => (path === '-' ? 'stdin' : path.replace(/^\.\/+/, '').replace(/\/+$/, ''))))].sort();
  const slug = parts
    .join('-')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (slug.length === 0) return 'root';
  if (slug.length <= 63) return slug;
  // Label values are at most 63 characters: keep a readable head and make the rest a hash.
  return `${slug.slice(0, 54).replace(/-+$/, '')}-${fnv1a(slug)}`;
}

function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
}
