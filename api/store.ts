// The typed store over etcd: every object is two keys (spec and status, DESIGN.md "Keys in etcd"),
// and every write is one transaction conditioned on what the writer read.
//
// resourceVersion is max(spec mod revision, status mod revision), rendered as a string. That single
// opaque number is enough to condition both halves independently: any spec write after a read gets
// a mod revision above the revision the reader saw, so "spec mod ≤ resourceVersion" means the spec
// is unchanged since the read, and likewise for status. An apply therefore never conflicts with a
// controller writing status, and a status write never conflicts with an apply.
import { randomUUID } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import { mapConcurrently } from './concurrently.ts';
import { alreadyExists, conflict, fenced, isStoreError, notFound, StoreError } from './errors.ts';
import { prefixRange } from './object-cache.ts';
import { specKey, specPrefix, statusKey, statusPrefix } from './keys.ts';
import type { KindDefinition, KindRegistry } from './kinds/registry.ts';
import { matches, parseSelector, type Selector } from './labels.ts';
import type { AnyObject, CapstanObject, ObjectMeta } from './object.ts';
import { API_VERSION, DEFAULT_NAMESPACE } from './object.ts';

/** A leader's claim, added as a compare to every write a leader makes (DESIGN.md "Leadership"). */
export interface Fence {
  key: string;
  createRevision: string;
}

export interface ListOptions {
  /** Omit for all namespaces. */
  namespace?: string;
  labelSelector?: string | Selector;
}

export interface ListResult<T extends AnyObject = AnyObject> {
  items: T[];
  /** The etcd revision the list was read at: watch from revision + 1 to miss nothing. */
  revision: string;
}

export interface DeleteOptions {
  /** Delete only if unchanged since this resourceVersion. */
  resourceVersion?: string;
}

export interface ObjectName {
  namespace?: string;
  name: string;
}

type RawTxnOp = Record<string, unknown>;

/** A key written as given (not a Capstan object), beside an object's change. */
export interface RawPut {
  key: string;
  value: string;
}

/** etcd's default --max-txn-ops: operations per compare, success or failure list. */
const MAX_TXN_OPS = 128;
/** Changes per transaction in updateMany: two compares each, within MAX_TXN_OPS. */
const UPDATE_BATCH = MAX_TXN_OPS / 2;
/** updateMany's transactions in flight at once. */
const UPDATE_CONCURRENCY = 4;

interface RawKv {
  key: Buffer;
  value: Buffer;
  mod_revision: string;
  create_revision: string;
  version: string;
}

export class Store {
  constructor(
    readonly client: Etcd3,
    readonly registry: KindRegistry,
    private readonly fence?: Fence,
  ) {}

  /** The same store whose writes all fail with `Fenced` once `fence` no longer holds. */
  withFence(fence: Fence): Store {
    return new Store(this.client, this.registry, fence);
  }

  kind(kind: string): KindDefinition {
    return this.registry.get(kind);
  }

  async get<T extends AnyObject = AnyObject>(kind: string, ref: ObjectName): Promise<T | undefined> {
    const definition = this.kind(kind);
    const namespace = this.namespaceOf(definition, ref.namespace);
    const { spec, status } = await this.readRaw(definition, namespace, ref.name);
    return spec ? (decode(spec, status) as T) : undefined;
  }

  /** Spec and status keys as stored, read in one transaction. */
  private async readRaw(definition: KindDefinition, namespace: string | undefined, name: string) {
    const keys = [specKey(definition, namespace, name), statusKey(definition, namespace, name)];
    const response = await this.txn({ success: keys.map((key) => ({ request_range: { key: Buffer.from(key) } })) }, keys[0]!);
    const [spec, status] = response.responses.map((r) => rangeKvs(r)[0]);
    return { spec, status };
  }

  /** Like get, but NotFound when absent. */
  async mustGet<T extends AnyObject = AnyObject>(kind: string, ref: ObjectName): Promise<T> {
    const object = await this.get<T>(kind, ref);
    if (!object) {
      const definition = this.kind(kind);
      throw notFound(specKey(definition, this.namespaceOf(definition, ref.namespace), ref.name));
    }
    return object;
  }

  /** Spec and status read in one transaction, so both halves come from the same revision. */
  async list<T extends AnyObject = AnyObject>(kind: string, options: ListOptions = {}): Promise<ListResult<T>> {
    const definition = this.kind(kind);
    const prefixes = [specPrefix(definition, options.namespace), statusPrefix(definition, options.namespace)];
    const response = await this.txn(
      { success: prefixes.map((prefix) => ({ request_range: prefixRange(prefix) })) },
      prefixes[0]!,
    );
    const [specKvs, statusKvs] = response.responses.map((r) => rangeKvs(r));
    const statusByName = new Map<string, RawKv>();
    for (const kv of statusKvs ?? []) statusByName.set(kv.key.toString().slice(prefixes[1]!.length), kv);
    const selector = toSelector(options.labelSelector);
    const items: T[] = [];
    for (const kv of specKvs ?? []) {
      const object = decode(kv, statusByName.get(kv.key.toString().slice(prefixes[0]!.length))) as T;
      if (!selector || matches(selector, object.metadata.labels)) items.push(object);
    }
    return { items, revision: String(response.header.revision) };
  }

  /**
   * Creates an object: uid, generation 1 and creationTimestamp are set here, whatever the caller
   * sent. A status given with the object is written in the same transaction.
   */
  async create<T extends AnyObject>(object: T): Promise<T> {
    const creation = this.creation(object);
    const response = await this.txn({ compare: [versionIs(creation.key, 0)], success: creation.puts }, creation.key);
    if (!response.succeeded) throw alreadyExists(creation.key);
    return creation.created(String(response.header.revision)) as T;
  }

  /**
   * Creates many objects in few transactions, for bursts (bench:scheduler's stream round). Each
   * is created as `create` would, all validated before anything is written. A transaction is all or
   * nothing, so when one of its objects already exists the others of that transaction are created
   * one by one; `existing` names the objects that were there already.
   */
  async createMany<T extends AnyObject>(objects: readonly T[]): Promise<{ created: T[]; existing: T[] }> {
    const creations = objects.map((object) => ({ object, ...this.creation(object) }));
    // A creation is one compare and at most two puts (spec, status): the same budget as a change
    // with one extra put.
    const perBatch = this.changesPerTransaction(1);
    const batches: (typeof creations)[] = [];
    for (let i = 0; i < creations.length; i += perBatch) batches.push(creations.slice(i, i + perBatch));
    const created: T[] = [];
    const existing: T[] = [];
    await mapConcurrently(batches, UPDATE_CONCURRENCY, async (batch) => {
      const response = await this.txn(
        { compare: batch.map(({ key }) => versionIs(key, 0)), success: batch.flatMap(({ puts }) => puts) },
        batch[0]!.key,
      );
      if (response.succeeded) {
        for (const creation of batch) created.push(creation.created(String(response.header.revision)) as T);
        return;
      }
      for (const { object } of batch) {
        try {
          created.push(await this.create(object));
        } catch (error) {
          if (!isStoreError(error, 'AlreadyExists')) throw error;
          existing.push(object);
        }
      }
    });
    return { created, existing };
  }

  /** What creating `object` writes (spec and, when given, status), and the object as created. */
  private creation(object: AnyObject): { key: string; puts: RawTxnOp[]; created: (revision: string) => AnyObject } {
    const definition = this.kind(object.kind);
    const prepared = this.prepare(definition, object);
    const namespace = prepared.metadata.namespace;
    const key = specKey(definition, namespace, prepared.metadata.name);
    const metadata: ObjectMeta = {
      ...prepared.metadata,
      uid: randomUUID(),
      generation: 1,
      creationTimestamp: new Date().toISOString(),
    };
    delete metadata.resourceVersion;
    delete metadata.deletionTimestamp;
    const stored = { apiVersion: prepared.apiVersion, kind: definition.kind, metadata, spec: prepared.spec };
    const puts: RawTxnOp[] = [putOp(key, stored)];
    if (object.status !== undefined) puts.push(putOp(statusKey(definition, namespace, metadata.name), object.status));
    return { key, puts, created: (revision) => ({ ...stored, metadata: { ...metadata, resourceVersion: revision }, status: object.status }) };
  }

  /**
   * Writes metadata (labels, annotations, ownerReferences, finalizers) and spec, conditioned on
   * `object.metadata.resourceVersion`. generation moves only when the spec changes; an update that
   * changes nothing writes nothing. Removing the last finalizer of an object being deleted
   * completes the deletion.
   */
  async update<T extends AnyObject>(object: T): Promise<T> {
    const definition = this.kind(object.kind);
    const prepared = this.prepare(definition, object);
    const namespace = prepared.metadata.namespace;
    const key = specKey(definition, namespace, prepared.metadata.name);
    const expected = object.metadata.resourceVersion;
    if (expected === undefined) throw new StoreError('Invalid', key, 'an update needs the resourceVersion it was read at');
    const raw = await this.readRaw(definition, namespace, prepared.metadata.name);
    if (!raw.spec) throw notFound(key);
    const current = decode(raw.spec, raw.status) as T;
    const currentSpecRevision = raw.spec.mod_revision;
    if (BigInt(currentSpecRevision) > BigInt(expected)) {
      throw conflict(key, 'the object changed since it was read');
    }
    const next = mergeForUpdate(current, prepared);
    if (next === current) return current;
    const finishing = Boolean(next.metadata.deletionTimestamp) && (next.metadata.finalizers ?? []).length === 0;
    const success = finishing
      ? [deleteOp(key), deleteOp(statusKey(definition, namespace, next.metadata.name))]
      : [putOp(key, withoutVersion(next))];
    const response = await this.txn({ compare: [modIs(key, currentSpecRevision)], success }, key);
    if (!response.succeeded) throw conflict(key, 'the object changed since it was read');
    const revision = String(response.header.revision);
    return { ...next, metadata: { ...next.metadata, resourceVersion: revision } };
  }

  /**
   * How many changes with `extraPuts` extra puts each fit in one of updateMany's transactions: a
   * caller that writes in a stream (the scheduler) sends changes in groups of this size, each
   * group one transaction.
   */
  changesPerTransaction(extraPuts: number): number {
    const perBatch = this.fence ? UPDATE_BATCH - 1 : UPDATE_BATCH;
    return Math.max(1, Math.min(perBatch, Math.floor(MAX_TXN_OPS / (1 + extraPuts))));
  }

  /**
   * Many spec updates in few transactions, for bursts (the scheduler's bindings). Each change names
   * the object as read (`from`, e.g. from an informer cache) and as it should be (`to`); no read is
   * made: each object is conditioned on existing and its spec being unchanged since `from` was read,
   * which also proves `from` is what is stored. `alsoPut` are raw keys written in the same
   * transaction as their change (the scheduler's node index), so they land exactly when it does. A
   * transaction is all or nothing, so the result says which changes landed; the caller retries the
   * rest one by one with fresh reads.
   */
  async updateMany(
    changes: readonly { from: AnyObject; to: AnyObject; alsoPut?: readonly RawPut[] }[],
    options: { validated?: boolean } = {},
  ): Promise<{ written: AnyObject[]; failed: AnyObject[] }> {
    const batches: { key: string; next: AnyObject; bytes: Buffer; below: string; alsoPut: readonly RawPut[] }[][] = [];
    let batch: (typeof batches)[number] = [];
    let successOps = 0;
    // A leader's store adds one compare (its fence) to every transaction: one change fewer then.
    const perBatch = this.fence ? UPDATE_BATCH - 1 : UPDATE_BATCH;
    for (const { from, to, alsoPut = [] } of changes) {
      const definition = this.kind(from.kind);
      const namespace = this.namespaceOf(definition, from.metadata.namespace);
      const key = specKey(definition, namespace, from.metadata.name);
      // `validated`: the caller derived `to` from `from` as read from the store, changing only fields
      // it computed itself (the scheduler's bindings), so neither the schema nor the merge of system
      // fields need run again; this path is the scheduler's hot loop.
      const next = options.validated ? derivedUpdate(from, to) : mergeForUpdate(from, this.prepare(definition, to));
      // etcd's default --max-txn-ops is 128 per list: each change carries two compares, and one put
      // plus its extra puts on the success list.
      const ops = 1 + alsoPut.length;
      if (ops > MAX_TXN_OPS) throw new StoreError('Invalid', key, `a change with ${alsoPut.length} extra puts exceeds etcd's ${MAX_TXN_OPS} operations per transaction`);
      if (batch.length === perBatch || successOps + ops > MAX_TXN_OPS) {
        batches.push(batch);
        batch = [];
        successOps = 0;
      }
      const bytes = Buffer.from(JSON.stringify(withoutVersion(next)));
      batch.push({ key, next, bytes, below: String(BigInt(from.metadata.resourceVersion ?? '0') + 1n), alsoPut });
      successOps += ops;
    }
    if (batch.length > 0) batches.push(batch);
    // A few transactions in flight at once: each is independent, and waiting for one round trip
    // per 64 changes would leave etcd idle most of the time.
    const results = await mapConcurrently(batches, UPDATE_CONCURRENCY, async (batch) => {
      const compare: RawTxnOp[] = [];
      const success: RawTxnOp[] = [];
      for (const { key, bytes, below, alsoPut } of batch) {
        const keyBytes = Buffer.from(key);
        compare.push(compareBytes(keyBytes, 'Version', 'Greater', 'version', '0'), compareBytes(keyBytes, 'Mod', 'Less', 'mod_revision', below));
        success.push({ request_put: { key: keyBytes, value: bytes } });
        for (const put of alsoPut) success.push(rawPutOp(put));
      }
      const response = await this.txn({ compare, success }, batch[0]!.key);
      return { batch, succeeded: response.succeeded, revision: String(response.header.revision) };
    });
    const written: AnyObject[] = [];
    const failed: AnyObject[] = [];
    for (const { batch, succeeded, revision } of results) {
      for (const { next } of batch) {
        if (succeeded) written.push({ ...next, metadata: { ...next.metadata, resourceVersion: revision } });
        else failed.push(next);
      }
    }
    return { written, failed };
  }

  /**
   * Writes status only, conditioned on the status being unchanged since `resourceVersion` and the
   * object being the same incarnation (its spec key created before that read). No read is needed.
   */
  async updateStatus<T extends AnyObject>(object: T): Promise<T> {
    const definition = this.kind(object.kind);
    const namespace = this.namespaceOf(definition, object.metadata.namespace);
    const key = specKey(definition, namespace, object.metadata.name);
    const sKey = statusKey(definition, namespace, object.metadata.name);
    const expected = object.metadata.resourceVersion;
    if (expected === undefined) throw new StoreError('Invalid', sKey, 'a status update needs the resourceVersion it was read at');
    const below = String(BigInt(expected) + 1n);
    const response = await this.txn(
      {
        compare: [versionAbove(key, 0), createBelow(key, below), modBelow(sKey, below)],
        success: [putOp(sKey, object.status ?? {})],
        failure: [{ request_range: { key: Buffer.from(key) } }],
      },
      sKey,
    );
    if (!response.succeeded) {
      const exists = rangeKvs(response.responses[0]).length > 0;
      throw exists ? conflict(sKey, 'the status changed since it was read') : notFound(key);
    }
    return { ...object, metadata: { ...object.metadata, resourceVersion: String(response.header.revision) } };
  }

  /**
   * Deletes an object. With finalizers it only gains a deletionTimestamp, and disappears when the
   * last finalizer is removed. Dependents are removed by the gc controller (background cascade).
   * Returns the object as it was, or undefined when it did not exist.
   */
  async delete<T extends AnyObject = AnyObject>(kind: string, ref: ObjectName, options: DeleteOptions = {}): Promise<T | undefined> {
    const definition = this.kind(kind);
    const namespace = this.namespaceOf(definition, ref.namespace);
    const key = specKey(definition, namespace, ref.name);
    const raw = await this.readRaw(definition, namespace, ref.name);
    if (!raw.spec) return undefined;
    const current = decode(raw.spec, raw.status) as T;
    const revision = raw.spec.mod_revision;
    if (options.resourceVersion !== undefined && BigInt(revision) > BigInt(options.resourceVersion)) {
      throw conflict(key, 'the object changed since it was read');
    }
    const finalizers = current.metadata.finalizers ?? [];
    if (finalizers.length > 0) {
      if (current.metadata.deletionTimestamp) return current;
      const marked = { ...current, metadata: { ...current.metadata, deletionTimestamp: new Date().toISOString() } };
      const response = await this.txn({ compare: [modIs(key, revision)], success: [putOp(key, withoutVersion(marked))] }, key);
      if (!response.succeeded) throw conflict(key, 'the object changed while being deleted');
      return { ...marked, metadata: { ...marked.metadata, resourceVersion: String(response.header.revision) } };
    }
    const response = await this.txn(
      { compare: [modIs(key, revision)], success: [deleteOp(key), deleteOp(statusKey(definition, namespace, ref.name))] },
      key,
    );
    if (!response.succeeded) throw conflict(key, 'the object changed while being deleted');
    return current;
  }

  private namespaceOf(definition: KindDefinition, namespace: string | undefined): string | undefined {
    return definition.namespaced ? namespace || DEFAULT_NAMESPACE : undefined;
  }

  /** Validates the spec with the kind's schema (defaults applied) and normalises the envelope. */
  private prepare<T extends AnyObject>(definition: KindDefinition, object: T): T {
    const namespace = this.namespaceOf(definition, object.metadata?.namespace);
    const key = specKey(definition, namespace, object.metadata?.name ?? '');
    if (!object.metadata?.name) throw new StoreError('Invalid', key, 'metadata.name is required');
    const parsed = definition.spec.safeParse(object.spec ?? {});
    if (!parsed.success) {
      const detail = parsed.error.issues.map((issue) => `spec.${issue.path.join('.')}: ${issue.message}`).join('; ');
      throw new StoreError('Invalid', key, detail);
    }
    const metadata: ObjectMeta = { ...object.metadata };
    if (namespace) metadata.namespace = namespace;
    else delete metadata.namespace;
    return { ...object, apiVersion: object.apiVersion ?? API_VERSION, kind: definition.kind, metadata, spec: parsed.data };
  }

  /**
   * One etcd transaction, with the fence compare added when this store belongs to a leader. A
   * transaction that failed because of the fence is reported as `Fenced`, not as a conflict.
   */
  private async txn(request: { compare?: RawTxnOp[]; success: RawTxnOp[]; failure?: RawTxnOp[] }, key: string) {
    const compare = [...(request.compare ?? [])];
    const isWrite = request.success.some((op) => 'request_put' in op || 'request_delete_range' in op);
    if (this.fence && isWrite) compare.push(createIs(this.fence.key, this.fence.createRevision));
    let response;
    try {
      response = await this.client.kv.txn({ compare, success: request.success, failure: request.failure ?? [] } as never);
    } catch (error) {
      const detail = error instanceof Error ? error.message.split('\n')[0] : String(error);
      // etcd refusing the request itself (too many operations, a value too large) is not an outage.
      const code = /INVALID_ARGUMENT|too many operations|request is too large/i.test(detail ?? '') ? 'Invalid' : 'Unavailable';
      throw new StoreError(code, key, detail, { cause: error });
    }
    if (!response.succeeded && this.fence && isWrite && !(await this.fenceHolds())) throw fenced(key);
    return response as unknown as TxnResponse;
  }

  private async fenceHolds(): Promise<boolean> {
    const fence = this.fence!;
    const response = await this.client.kv.range({ key: Buffer.from(fence.key) } as never);
    const kv = (response.kvs as unknown as RawKv[])[0];
    return kv !== undefined && kv.create_revision === fence.createRevision;
  }
}

interface TxnResponse {
  header: { revision: string };
  succeeded: boolean;
  responses: { response_range?: { kvs: RawKv[] } }[];
}

function rangeKvs(response: { response_range?: { kvs: RawKv[] } } | undefined): RawKv[] {
  return response?.response_range?.kvs ?? [];
}


const compareOp = (key: string, target: string, result: string, field: string, value: string | number) =>
  compareBytes(Buffer.from(key), target, result, field, String(value));
const compareBytes = (key: Buffer, target: string, result: string, field: string, value: string) => ({ key, target, result, [field]: value });
const versionIs = (key: string, version: number) => compareOp(key, 'Version', 'Equal', 'version', version);
const versionAbove = (key: string, version: number) => compareOp(key, 'Version', 'Greater', 'version', version);
const modIs = (key: string, revision: string) => compareOp(key, 'Mod', 'Equal', 'mod_revision', revision);
const modBelow = (key: string, revision: string) => compareOp(key, 'Mod', 'Less', 'mod_revision', revision);
const createBelow = (key: string, revision: string) => compareOp(key, 'Create', 'Less', 'create_revision', revision);
const createIs = (key: string, revision: string) => compareOp(key, 'Create', 'Equal', 'create_revision', revision);
const putOp = (key: string, value: unknown): RawTxnOp => ({
  request_put: { key: Buffer.from(key), value: Buffer.from(JSON.stringify(value)) },
});
const rawPutOp = ({ key, value }: RawPut): RawTxnOp => ({ request_put: { key: Buffer.from(key), value: Buffer.from(value) } });
const deleteOp = (key: string): RawTxnOp => ({ request_delete_range: { key: Buffer.from(key) } });

function toSelector(selector: string | Selector | undefined): Selector | undefined {
  if (selector === undefined) return undefined;
  return typeof selector === 'string' ? parseSelector(selector) : selector;
}

/** Builds an object from its spec key and (optional) status key, as stored. */
export function decode(spec: RawKv, status: RawKv | undefined): AnyObject {
  const object = JSON.parse(spec.value.toString()) as AnyObject;
  const specRevision = BigInt(spec.mod_revision);
  const statusRevision = status ? BigInt(status.mod_revision) : 0n;
  object.metadata.resourceVersion = String(specRevision > statusRevision ? specRevision : statusRevision);
  if (status) object.status = JSON.parse(status.value.toString());
  return object;
}

function withoutVersion(object: AnyObject): AnyObject {
  const { resourceVersion: _ignored, ...metadata } = object.metadata;
  const { status: _status, ...rest } = object;
  return { ...rest, metadata };
}

/**
 * `to` as the next stored object, for a caller that built it from `from` as read (same system
 * fields) and gave it a new spec object exactly when the spec changed: no comparison is made.
 */
function derivedUpdate(from: AnyObject, to: AnyObject): AnyObject {
  if (to.spec === from.spec) return to;
  return { ...to, metadata: { ...to.metadata, generation: (from.metadata.generation ?? 0) + 1 } };
}

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

export type { CapstanObject };
