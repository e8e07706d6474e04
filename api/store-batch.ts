// Many independent writes in few etcd transactions, a few in flight at once: the store's bindMany,
// and a bench's burst of creates (bench/create-many.ts). Each write is its own compares and puts; a
// transaction holds as many as etcd's operation limit takes, and is all or nothing, so the result
// says which writes landed.
import { mapConcurrently } from './concurrently.ts';
import { StoreError } from './errors.ts';
import { bindingKey, specKey } from './keys.ts';
import type { KindDefinition } from './kinds/registry.ts';
import type { BindingRequest } from './store.ts';
import { compareBytes, MAX_TXN_OPS, rawPutOp, type RawTxnOp, type TxnRequest, type TxnResponse } from './txn.ts';

/**
 * Transactions in flight at once: waiting for one round trip per transaction would leave etcd idle
 * most of the time.
 */
const TXNS_IN_FLIGHT = 4;

/** A binding's compares: the object exists, its spec is unchanged, it is not bound yet. */
const BINDING_COMPARES = 3;

/** One object's change, and what to hand back when it lands or not. */
export interface BatchedWrite<R> {
  /** The object's spec key, named in errors. */
  key: string;
  result: R;
  compare: RawTxnOp[];
  success: RawTxnOp[];
}

/** How the batches reach etcd. */
export interface BatchTarget {
  txn(request: TxnRequest, key: string): Promise<TxnResponse>;
  /** Whether `txn` adds a compare of its own to each transaction (a leader's fence). */
  fenced: boolean;
}

/**
 * How many bindings, with `alsoPuts` raw puts each, make one transaction as writeBatched packs them.
 * A caller that binds in a stream (the scheduler) sends bindings in groups of this size, each group
 * one transaction.
 */
export function bindingsPerTransaction(fenced: boolean, alsoPuts: number): number {
  const compareBudget = fenced ? MAX_TXN_OPS - 1 : MAX_TXN_OPS;
  return Math.max(1, Math.min(Math.floor(compareBudget / BINDING_COMPARES), Math.floor(MAX_TXN_OPS / (1 + alsoPuts))));
}

/**
 * A binding as one write: the binding key put with `alsoPut`, conditioned on the object existing,
 * its spec being unchanged since it was read (its resourceVersion), and its binding key not existing.
 */
export function bindingWrite(definition: KindDefinition, namespace: string | undefined, request: BindingRequest): BatchedWrite<BindingRequest> {
  const { object, binding, alsoPut = [] } = request;
  const key = specKey(definition, namespace, object.metadata.name);
  if (!definition.binding) throw new StoreError('Invalid', key, `${definition.kind} has no binding`);
  const keyBytes = Buffer.from(key);
  const bKey = Buffer.from(bindingKey(definition, namespace, object.metadata.name));
  const below = String(BigInt(object.metadata.resourceVersion ?? '0') + 1n);
  return {
    key,
    result: request,
    compare: [
      compareBytes(keyBytes, 'Version', 'Greater', 'version', '0'),
      compareBytes(keyBytes, 'Mod', 'Less', 'mod_revision', below),
      compareBytes(bKey, 'Version', 'Equal', 'version', '0'),
    ],
    success: [{ request_put: { key: bKey, value: Buffer.from(JSON.stringify(binding)) } }, ...alsoPut.map(rawPutOp)],
  };
}

/** Writes `writes` in as few transactions as etcd takes; `revision` is the one each landed at. */
export async function writeBatched<R>(
  target: BatchTarget,
  writes: readonly BatchedWrite<R>[],
): Promise<{ written: { result: R; revision: string }[]; failed: { result: R }[] }> {
  const results = await mapConcurrently(pack(target.fenced, writes), TXNS_IN_FLIGHT, async (batch) => {
    const response = await target.txn({ compare: batch.flatMap((w) => w.compare), success: batch.flatMap((w) => w.success) }, batch[0]!.key);
    return { batch, succeeded: response.succeeded, revision: String(response.header.revision) };
  });
  const written: { result: R; revision: string }[] = [];
  const failed: { result: R }[] = [];
  for (const { batch, succeeded, revision } of results) {
    for (const { result } of batch) {
      if (succeeded) written.push({ result, revision });
      else failed.push({ result });
    }
  }
  return { written, failed };
}

/** Writes in order, cut into transactions of at most MAX_TXN_OPS compares (the fence's included) and puts. */
function pack<W extends { key: string; compare: RawTxnOp[]; success: RawTxnOp[] }>(fenced: boolean, writes: readonly W[]): W[][] {
  const ownCompares = fenced ? 1 : 0;
  const batches: W[][] = [];
  let batch: W[] = [];
  let compares = ownCompares;
  let puts = 0;
  for (const write of writes) {
    if (write.compare.length + 1 > MAX_TXN_OPS || write.success.length > MAX_TXN_OPS) {
      throw new StoreError('Invalid', write.key, `a change of ${write.success.length} puts exceeds etcd's ${MAX_TXN_OPS} operations per transaction`);
    }
    if (compares + write.compare.length > MAX_TXN_OPS || puts + write.success.length > MAX_TXN_OPS) {
      batches.push(batch);
      batch = [];
      compares = ownCompares;
      puts = 0;
    }
    batch.push(write);
    compares += write.compare.length;
    puts += write.success.length;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}
