// Small helpers for the metadata every controller touches: owner references (what the gc follows to
// delete dependents with their owner) and finalizers (what holds an object's deletion until its
// controller has cleaned up). Pure: each returns a new object, the input is never changed, so cached
// (read-only) objects can be passed as they are.
import type { AnyObject, DeepReadonly, OwnerReference } from '../api/object.ts';

/** A reference to `owner` for a dependent's metadata.ownerReferences. The owner must have been read from the store (it needs its uid). */
export function ownerReference(owner: DeepReadonly<AnyObject>, options: { controller?: boolean; blockOwnerDeletion?: boolean } = {}): OwnerReference {
  const { uid, name } = owner.metadata;
  if (!uid) throw new Error(`ownerReference: ${owner.kind} ${name} has no uid; read it from the store (or a cache) first`);
  return { apiVersion: owner.apiVersion, kind: owner.kind, name, uid, controller: options.controller ?? true, blockOwnerDeletion: options.blockOwnerDeletion ?? true };
}

/** Whether `object` is controlled by `owner` (an ownerReference with controller: true and its uid). */
export function isControlledBy(object: DeepReadonly<AnyObject>, owner: DeepReadonly<AnyObject>): boolean {
  return (object.metadata.ownerReferences ?? []).some((ref) => ref.controller === true && ref.uid === owner.metadata.uid);
}

export function hasFinalizer(object: DeepReadonly<AnyObject>, finalizer: string): boolean {
  return (object.metadata.finalizers ?? []).includes(finalizer);
}

/** The object with `finalizer` added (the same object when it already has it). */
export function addFinalizer<T extends DeepReadonly<AnyObject>>(object: T, finalizer: string): T {
  if (hasFinalizer(object, finalizer)) return object;
  return { ...object, metadata: { ...object.metadata, finalizers: [...(object.metadata.finalizers ?? []), finalizer] } };
}

/** The object without `finalizer` (the same object when it does not have it). */
export function removeFinalizer<T extends DeepReadonly<AnyObject>>(object: T, finalizer: string): T {
  if (!hasFinalizer(object, finalizer)) return object;
  return { ...object, metadata: { ...object.metadata, finalizers: (object.metadata.finalizers ?? []).filter((f) => f !== finalizer) } };
}

/** Whether the object is being deleted (it has a deletionTimestamp and waits for its finalizers). */
export function isDeleting(object: DeepReadonly<AnyObject>): boolean {
  return object.metadata.deletionTimestamp !== undefined;
}
