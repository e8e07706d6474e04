// Creates many objects in few transactions, for a bench's burst: bench:scheduler's stream round
// creates 10,000 Tasks as fast as etcd takes them, and bench:dns its fixtures. Packed as bindMany's
// bindings are (api/store-batch.ts), 10,000 Tasks take about 0.8-1.1 s; one Store.create each, with
// 256 in flight, about 4 s. Each object is created as Store.create would (api/stored-form.ts), all
// validated before anything is written. Expects the objects not to exist yet: a transaction is all
// or nothing, so one that exists fails the others of its transaction, and that is an error here.
import type { AnyObject } from '../api/object.ts';
import type { Store } from '../api/store.ts';
import { writeBatched, type BatchTarget } from '../api/store-batch.ts';
import { creationOf } from '../api/stored-form.ts';
import { versionIs, type TxnResponse } from '../api/txn.ts';

export async function createMany(store: Store, objects: readonly AnyObject[]): Promise<void> {
  const writes = objects.map((object) => {
    const creation = creationOf(store.kind(object.kind), object);
    return { key: creation.key, result: creation.key, compare: [versionIs(creation.key, 0)], success: creation.puts };
  });
  const target: BatchTarget = {
    fenced: false,
    txn: async (request) => (await store.client.kv.txn({ compare: request.compare ?? [], success: request.success, failure: [] } as never)) as unknown as TxnResponse,
  };
  const { failed } = await writeBatched(target, writes);
  if (failed.length > 0) throw new Error(`createMany: ${failed.length} objects not created, ${failed[0]!.result} among them: one of each transaction existed already`);
}
