// Comparing and merging objects as JSON values: what an update stores given the stored object and
// the caller's, and structural equality (also what controllers use to skip a write that changes
// nothing).
import type { AnyObject, ObjectMeta } from './object.ts';

/**
 * The object an update stores: system fields (uid, creation time, generation, deletion time) come
 * from the stored object, user fields from the caller. Returns `current` itself when nothing would
 * change, so the caller can skip the write.
 */
export function mergeForUpdate<T extends AnyObject>(current: T, desired: T): T {
  const specChanged = !deepEqual(current.spec, desired.spec);
  const metadata: ObjectMeta = {
    ...current.metadata,
    labels: desired.metadata.labels,
    annotations: desired.metadata.annotations,
    ownerReferences: desired.metadata.ownerReferences,
    finalizers: desired.metadata.finalizers,
  };
  for (const field of ['labels', 'annotations', 'ownerReferences', 'finalizers'] as const) {
    if (metadata[field] === undefined) delete metadata[field];
  }
  const metadataChanged = !deepEqual(stripVersion(current.metadata), stripVersion(metadata));
  if (!specChanged && !metadataChanged && current.apiVersion === desired.apiVersion) return current;
  if (specChanged) metadata.generation = (current.metadata.generation ?? 0) + 1;
  return { ...current, apiVersion: desired.apiVersion, metadata, spec: desired.spec } as T;
}

function stripVersion(metadata: ObjectMeta): ObjectMeta {
  const { resourceVersion: _ignored, ...rest } = metadata;
  return rest;
}

/** Structural equality of JSON values; key order does not matter. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const other = b as unknown[];
    return a.length === other.length && a.every((item, index) => deepEqual(item, other[index]));
  }
  const left = Object.entries(a).filter(([, v]) => v !== undefined);
  const right = Object.entries(b).filter(([, v]) => v !== undefined);
  if (left.length !== right.length) return false;
  const rightMap = new Map(right);
  return left.every(([key, value]) => rightMap.has(key) && deepEqual(value, rightMap.get(key)));
}
