// etcd transaction operations in the shape the client's raw `kv.txn` takes them: compares, puts,
// deletes and ranges, and the parts of its response the store reads.

export type RawTxnOp = Record<string, unknown>;

/** A key as etcd returns it. */
export interface RawKv {
  key: Buffer;
  value: Buffer;
  mod_revision: string;
  create_revision: string;
  version: string;
}

export interface TxnRequest {
  compare?: RawTxnOp[];
  success: RawTxnOp[];
  failure?: RawTxnOp[];
}

export interface TxnResponse {
  header: { revision: string };
  succeeded: boolean;
  responses: { response_range?: { kvs: RawKv[] } }[];
}

/** A key written as given (not a Capstan object), beside an object's change. */
export interface RawPut {
  key: string;
  value: string;
}

/** etcd's default --max-txn-ops: operations per compare, success or failure list. */
export const MAX_TXN_OPS = 128;

/** What one etcd transaction may hold: etcd's --max-txn-ops and --max-request-bytes. */
export interface TxnLimits {
  maxTxnOps: number;
  maxRequestBytes: number;
}

/** etcd's defaults: the limits of an etcd Capstan did not start. */
export const DEFAULT_TXN_LIMITS: TxnLimits = { maxTxnOps: MAX_TXN_OPS, maxRequestBytes: 1_572_864 };

/**
 * The limits an etcd Capstan starts is given (cli/local/etcd-server.ts): large enough that a GitOps
 * commit of thousands of objects is written in one transaction (api/apply/apply.ts, atomic).
 */
export const RAISED_TXN_LIMITS: TxnLimits = { maxTxnOps: 10_000, maxRequestBytes: 16 * 1024 * 1024 };

export function rangeKvs(response: { response_range?: { kvs: RawKv[] } } | undefined): RawKv[] {
  return response?.response_range?.kvs ?? [];
}

export const compareBytes = (key: Buffer, target: string, result: string, field: string, value: string): RawTxnOp => ({ key, target, result, [field]: value });
const compareOp = (key: string, target: string, result: string, field: string, value: string | number) =>
  compareBytes(Buffer.from(key), target, result, field, String(value));
export const versionIs = (key: string, version: number) => compareOp(key, 'Version', 'Equal', 'version', version);
export const versionAbove = (key: string, version: number) => compareOp(key, 'Version', 'Greater', 'version', version);
export const modIs = (key: string, revision: string) => compareOp(key, 'Mod', 'Equal', 'mod_revision', revision);
export const modBelow = (key: string, revision: string) => compareOp(key, 'Mod', 'Less', 'mod_revision', revision);
export const createBelow = (key: string, revision: string) => compareOp(key, 'Create', 'Less', 'create_revision', revision);
export const createIs = (key: string, revision: string) => compareOp(key, 'Create', 'Equal', 'create_revision', revision);
export const putOp = (key: string, value: unknown): RawTxnOp => ({
  request_put: { key: Buffer.from(key), value: Buffer.from(JSON.stringify(value)) },
});
export const rawPutOp = ({ key, value }: RawPut): RawTxnOp => ({ request_put: { key: Buffer.from(key), value: Buffer.from(value) } });
export const deleteOp = (key: string): RawTxnOp => ({ request_delete_range: { key: Buffer.from(key) } });
export const rangeOp = (key: string): RawTxnOp => ({ request_range: { key: Buffer.from(key) } });
