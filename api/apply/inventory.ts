// The inventory of an applied set, stored in etcd next to the objects (api/keys.ts inventoryKey): the
// kind/namespace/name/uid of everything the last apply of the set wrote. Prune deletes from this list
// only, never by guessing from labels alone.
import type { Etcd3 } from 'etcd3';
import { z } from 'zod';
import { inventoryKey } from '../keys.ts';
import type { Inventory, InventoryEntry } from './plan.ts';

const inventorySchema = z.object({
  name: z.string(),
  namespace: z.string(),
  updated: z.string(),
  entries: z.array(z.object({ kind: z.string(), namespace: z.string().optional(), name: z.string(), uid: z.string() })),
});

export async function readInventory(client: Etcd3, namespace: string, name: string): Promise<Inventory | undefined> {
  const text = await client.get(inventoryKey(namespace, name)).string();
  if (text === null) return undefined;
  const parsed = inventorySchema.safeParse(JSON.parse(text));
  // An unreadable inventory prunes nothing: forgetting is safer than deleting on a guess.
  return parsed.success ? parsed.data : undefined;
}

export async function writeInventory(client: Etcd3, inventory: Inventory): Promise<void> {
  await client.put(inventoryKey(inventory.namespace, inventory.name)).value(JSON.stringify(inventory));
}

export function entryOf(object: { kind: string; metadata: { namespace?: string; name: string; uid?: string } }): InventoryEntry {
  const entry: InventoryEntry = { kind: object.kind, name: object.metadata.name, uid: object.metadata.uid ?? '' };
  if (object.metadata.namespace) entry.namespace = object.metadata.namespace;
  return entry;
}
