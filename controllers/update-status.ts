// ctx.updateStatus: a controller's status write, from the object it read (cached and read-only is
// fine: the write copies what it needs), and only when the status really changes. A status write is
// a change to an object the controller watches; writing an unchanged one would wake it again, and
// again. The write is conditioned on the resourceVersion read, so a stale object gets a Conflict.
import { deepEqual } from '../api/merge.ts';
import type { AnyObject, DeepReadonly } from '../api/object.ts';
import type { Store } from '../api/store.ts';

/** Writes `status` unless the object already has it; true when written. */
export async function updateStatusIfChanged(store: Store, object: DeepReadonly<AnyObject>, status: unknown): Promise<boolean> {
  if (deepEqual(object.status ?? {}, status ?? {})) return false;
  const { apiVersion, kind, metadata, spec } = object as AnyObject;
  await store.updateStatus({ apiVersion, kind, metadata, spec, status });
  return true;
}
