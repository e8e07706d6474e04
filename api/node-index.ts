// The secondary index of bindings (api/keys.ts nodeTaskIndexKey): etcd has none, and without it an
// agent would have to watch every Task in the cluster to find the few bound to its node. The
// scheduler writes an entry in the binding's own transaction; entries are removed, conditioned on
// the uid they name so that a newer binding of the same name is never lost, by the agent (the task
// is gone, another incarnation, or bound elsewhere) and by the nodes controller (finalizer expunged).
import type { Etcd3 } from 'etcd3';
import { nodeTaskIndexKey } from './keys.ts';
import type { RawPut } from './txn.ts';

export interface IndexedTask {
  node: string;
  namespace: string;
  name: string;
  uid: string;
}

/** The entry a binding writes beside itself (Store.bindMany's `alsoPut`). */
export function nodeTaskIndexEntry(entry: IndexedTask): RawPut {
  return { key: nodeTaskIndexKey(entry.node, entry.namespace, entry.name), value: entry.uid };
}

/** Removes the entry if it still names this uid; returns whether it did. */
export async function removeNodeTaskIndexEntry(client: Etcd3, entry: IndexedTask): Promise<boolean> {
  const key = nodeTaskIndexKey(entry.node, entry.namespace, entry.name);
  const result = await client.if(key, 'Value', '==', entry.uid).then(client.delete().key(key)).commit();
  return result.succeeded;
}
