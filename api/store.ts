// The typed store over etcd: every object is two keys (spec and status, DESIGN.md "Keys in etcd"),
// three for kinds with a binding (a Task's nodeName and hostPorts, KindDefinition.binding), and every
// write is one transaction conditioned on what the writer read.
//
// resourceVersion is the largest mod revision of the object's keys, rendered as a string. That
// single opaque number is enough to condition each key independently: any spec write after a read
// gets a mod revision above the revision the reader saw, so "spec mod ≤ resourceVersion" means the
// spec is unchanged since the read, and likewise for status and binding. An apply therefore never
// conflicts with a controller writing status, and a status write never conflicts with an apply.
//
// A binding is written once (bindMany) and only ever removed with its object. Spec writes leave its
// fields out of the spec key and may not change them.
import { randomUUID } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import { mapConcurrently } from './concurrently.ts';
import { alreadyExists, conflict, fenced, isStoreError, notFound, StoreError } from './errors.ts';
import { prefixRange } from './object-cache.ts';
import { bindingKey, partKey, partPrefix, partsOf, specKey, statusKey } from './keys.ts';
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

/** One object to bind: as read (its resourceVersion conditions the write), and its binding fields. */
export interface BindingRequest {
  object: AnyObject;
  /** The binding fields (KindDefinition.binding), e.g. a Task's `{ nodeName, hostPorts }`. */
  binding: Record<string, unknown>;
  /** Raw keys written in the binding's transaction (the node's index entry). */
  alsoPut?: readonly RawPut[];
}

/** etcd's default --max-txn-ops: operations per compare, success or failure list. */
const MAX_TXN_OPS = 128;
/** Transactions in flight at once in updateMany, createMany and bindMany. */
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
    const raw = await this.readRaw(definition, namespace, ref.name);
    return raw.spec ? (decode(raw.spec, raw.status, raw.binding) as T) : undefined;
  }

  /** The object's keys as stored (spec, status, binding), read in one transaction. */
  private async readRaw(definition: KindDefinition, namespace: string | undefined, name: string) {
    const keys = partsOf(definition).map((part) => partKey(part, definition, namespace, name));
    const response = await this.txn({ success: keys.map((key) => ({ request_range: { key: Buffer.from(key) } })) }, keys[0]!);
    const [spec, status, binding] = response.responses.map((r) => rangeKvs(r)[0]);
    return { spec, status, binding };
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

  /** Every key of the kind read in one transaction, so all come from the same revision. */
  async list<T extends AnyObject = AnyObject>(kind: string, options: ListOptions = {}): Promise<ListResult<T>> {
    const definition = this.kind(kind);
    const prefixes = partsOf(definition).map((part) => partPrefix(part, definition, options.namespace));
    const response = await this.txn(
      { success: prefixes.map((prefix) => ({ request_range: prefixRange(prefix) })) },
      prefixes[0]!,
    );
    const [specKvs, ...others] = response.responses.map((r) => rangeKvs(r));
    const [statusByName, bindingByName] = others.map((kvs, i) => new Map(kvs.map((kv) => [kv.key.toString().slice(prefixes[i + 1]!.length), kv])));
    const selector = toSelector(options.labelSelector);
    const items: T[] = [];
    for (const kv of specKvs ?? []) {
      const name = kv.key.toString().slice(prefixes[0]!.length);
      const object = decode(kv, statusByName?.get(name), bindingByName?.get(name)) as T;
      if (!selector || matches(selector, object.metadata.labels)) items.push(object);
    }
    return { items, revision: String(response.header.revision) };
  }

  /**
   * Creates an object: uid, generation 1 and creationTimestamp are set here, whatever the caller
   * sent. A status given with the object is written in the same transaction, and so are binding
   * fields given in its spec (an object created already bound, as a Kubernetes pod with nodeName).
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
    // A creation is one compare, and a put (or delete) per key of its kind.
    const writes = objects.map((object) => {
      const creation = this.creation(object);
      return { key: creation.key, result: { object, creation }, compare: [versionIs(creation.key, 0)], success: creation.puts };
    });
    const { written, failed } = await this.writeBatched(writes);
    const created = written.map(({ result, revision }) => result.creation.created(revision) as T);
    const existing: T[] = [];
    await mapConcurrently(failed, UPDATE_CONCURRENCY, async ({ result: { object } }) => {
      try {
        created.push(await this.create(object));
      } catch (error) {
        if (!isStoreError(error, 'AlreadyExists')) throw error;
        existing.push(object);
      }
    });
    return { created, existing };
  }

  /**
   * What creating `object` writes (spec, status when given, binding when its spec has one), and the
   * object as created. For a kind with bindings the binding's finalizer is added, and an unbound
   * object's binding key is cleared: a key left by something that removed an earlier object of
   * the same name behind the store's back must not bind this one.
   */
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
    const finalizer = definition.binding?.finalizer;
    if (finalizer && !metadata.finalizers?.includes(finalizer)) metadata.finalizers = [...(metadata.finalizers ?? []), finalizer];
    const { spec, binding } = splitBinding(definition, prepared.spec);
    const stored = { apiVersion: prepared.apiVersion, kind: definition.kind, metadata, spec };
    const puts: RawTxnOp[] = [putOp(key, stored)];
    if (object.status !== undefined) puts.push(putOp(statusKey(definition, namespace, metadata.name), object.status));
    if (definition.binding) {
      const bKey = bindingKey(definition, namespace, metadata.name);
      puts.push(binding ? putOp(bKey, binding) : deleteOp(bKey));
    }
    return {
      key,
      puts,
      created: (revision) => ({ ...stored, metadata: { ...metadata, resourceVersion: revision }, spec: prepared.spec, status: object.status }),
    };
  }

  /**
   * Writes metadata (labels, annotations, ownerReferences, finalizers) and spec, conditioned on
   * `object.metadata.resourceVersion`. generation moves only when the spec changes; an update that
   * changes nothing writes nothing. Removing the last finalizer of an object being deleted
   * completes the deletion. Binding fields cannot change here (bindMany writes them once); left
   * out, they keep their value.
   */
  async update<T extends AnyObject>(object: T): Promise<T> {
    const definition = this.kind(object.kind);
    const prepared = this.prepare(definition, object);
    const namespace = prepared.metadata.namespace;
    const name = prepared.metadata.name;
    const key = specKey(definition, namespace, name);
    const expected = object.metadata.resourceVersion;
    if (expected === undefined) throw new StoreError('Invalid', key, 'an update needs the resourceVersion it was read at');
    const raw = await this.readRaw(definition, namespace, name);
    if (!raw.spec) throw notFound(key);
    const current = decode(raw.spec, raw.status, raw.binding) as T;
    if (changedSince(raw.spec, expected) || changedSince(raw.binding, expected)) {
      throw conflict(key, 'the object changed since it was read');
    }
    const next = mergeForUpdate(current, keepBinding(definition, key, current, prepared));
    if (next === current) return current;
    const finishing = Boolean(next.metadata.deletionTimestamp) && (next.metadata.finalizers ?? []).length === 0;
    const success = finishing ? this.deleteOps(definition, namespace, name) : this.specPuts(definition, next, raw.binding);
    const response = await this.txn({ compare: unchangedCompares(definition, namespace, name, raw), success }, key);
    if (!response.succeeded) throw conflict(key, 'the object changed since it was read');
    const revision = String(response.header.revision);
    return { ...next, metadata: { ...next.metadata, resourceVersion: revision } };
  }

  /**
   * How many of bindMany's bindings, with `alsoPuts` raw puts each, make one transaction (as
   * writeBatched packs them): a caller that binds in a stream (the scheduler) sends bindings in
   * groups of this size, each group one transaction.
   */
  bindingsPerTransaction(alsoPuts: number): number {
    const compareBudget = this.fence ? MAX_TXN_OPS - 1 : MAX_TXN_OPS;
    return Math.max(1, Math.min(Math.floor(compareBudget / BINDING_COMPARES), Math.floor(MAX_TXN_OPS / (1 + alsoPuts))));
  }

  /**
   * Many spec updates in few transactions, for bursts. Each change names the object as read
   * (`from`, e.g. from an informer cache) and as it should be (`to`); no read is made: each object is
   * conditioned on existing and its spec being unchanged since `from` was read, which also proves
   * `from` is what is stored. `alsoPut` are raw keys written in the same transaction as their change,
   * so they land exactly when it does. A transaction is all or nothing, so the result says which
   * changes landed; the caller retries the rest one by one with fresh reads.
   */
  async updateMany(
    changes: readonly { from: AnyObject; to: AnyObject; alsoPut?: readonly RawPut[] }[],
  ): Promise<{ written: AnyObject[]; failed: AnyObject[] }> {
    const writes = changes.map(({ from, to, alsoPut = [] }) => {
      const definition = this.kind(from.kind);
      const key = specKey(definition, this.namespaceOf(definition, from.metadata.namespace), from.metadata.name);
      const next = mergeForUpdate(from, keepBinding(definition, key, from, this.prepare(definition, to)));
      const keyBytes = Buffer.from(key);
      const below = String(BigInt(from.metadata.resourceVersion ?? '0') + 1n);
      return {
        key,
        result: next,
        compare: [compareBytes(keyBytes, 'Version', 'Greater', 'version', '0'), compareBytes(keyBytes, 'Mod', 'Less', 'mod_revision', below)],
        success: [{ request_put: { key: keyBytes, value: Buffer.from(JSON.stringify(withoutVersion(storedForm(definition, next)))) } }, ...alsoPut.map(rawPutOp)],
      };
    });
    const { written, failed } = await this.writeBatched(writes);
    return {
      written: written.map(({ result, revision }) => ({ ...result, metadata: { ...result.metadata, resourceVersion: revision } })),
      failed: failed.map(({ result }) => result),
    };
  }

  /**
   * Binds many objects in few transactions, for bursts (the scheduler). Each binding is a small key
   * of its own beside spec and status (KindDefinition.binding), put with `alsoPut` (the node's index
   * entry) and conditioned on the object existing, its spec being unchanged since it was read, and it
   * not being bound yet. The spec key is not rewritten: a binding costs etcd, and every watcher of
   * the kind, about a hundred bytes instead of the whole object. Transactions are all or nothing, so
   * the result says which requests were written and which were not (the scheduler's hot loop: no
   * bound copy of each object is built; read the store or an informer for those).
   */
  async bindMany(requests: readonly BindingRequest[]): Promise<{ written: BindingRequest[]; failed: BindingRequest[] }> {
    // An object read as bound is not bound again, whether its binding is in its own key or (bound
    // before bindings had one) still in the spec key, which the compares below cannot see.
    const bound: BindingRequest[] = [];
    const writes = [];
    for (const request of requests) {
      const { object, binding, alsoPut = [] } = request;
      const definition = this.kind(object.kind);
      if (bindingOf(definition, object.spec)) {
        bound.push(request);
        continue;
      }
      const namespace = this.namespaceOf(definition, object.metadata.namespace);
      const key = specKey(definition, namespace, object.metadata.name);
      if (!definition.binding) throw new StoreError('Invalid', key, `${definition.kind} has no binding`);
      const keyBytes = Buffer.from(key);
      const bKey = Buffer.from(bindingKey(definition, namespace, object.metadata.name));
      const below = String(BigInt(object.metadata.resourceVersion ?? '0') + 1n);
      writes.push({
        key,
        result: request,
        compare: [
          compareBytes(keyBytes, 'Version', 'Greater', 'version', '0'),
          compareBytes(keyBytes, 'Mod', 'Less', 'mod_revision', below),
          compareBytes(bKey, 'Version', 'Equal', 'version', '0'),
        ],
        success: [{ request_put: { key: bKey, value: Buffer.from(JSON.stringify(binding)) } }, ...alsoPut.map(rawPutOp)],
      });
    }
    const { written, failed } = await this.writeBatched(writes);
    return { written: written.map(({ result }) => result), failed: [...bound, ...failed.map(({ result }) => result)] };
  }

  /**
   * Writes independent changes in as few transactions as etcd takes, a few in flight at once: waiting
   * for one round trip per transaction would leave etcd idle most of the time.
   */
  private async writeBatched<R>(
    writes: readonly { key: string; result: R; compare: RawTxnOp[]; success: RawTxnOp[] }[],
  ): Promise<{ written: { result: R; revision: string }[]; failed: { result: R }[] }> {
    type Write = (typeof writes)[number];
    const batches: Write[][] = [];
    let batch: Write[] = [];
    let compares = this.fence ? 1 : 0;
    let puts = 0;
    for (const write of writes) {
      if (write.compare.length + 1 > MAX_TXN_OPS || write.success.length > MAX_TXN_OPS) {
        throw new StoreError('Invalid', write.key, `a change of ${write.success.length} puts exceeds etcd's ${MAX_TXN_OPS} operations per transaction`);
      }
      if (compares + write.compare.length > MAX_TXN_OPS || puts + write.success.length > MAX_TXN_OPS) {
        batches.push(batch);
        batch = [];
        compares = this.fence ? 1 : 0;
        puts = 0;
      }
      batch.push(write);
      compares += write.compare.length;
      puts += write.success.length;
    }
    if (batch.length > 0) batches.push(batch);
    const results = await mapConcurrently(batches, UPDATE_CONCURRENCY, async (batch) => {
      const response = await this.txn({ compare: batch.flatMap((w) => w.compare), success: batch.flatMap((w) => w.success) }, batch[0]!.key);
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
   * An object of a kind with bindings that was never bound loses the binding's finalizer here:
   * nothing runs it that could hold it (the transaction is conditioned on it still being unbound).
   * Returns the object as it was, or undefined when it did not exist.
   */
  async delete<T extends AnyObject = AnyObject>(kind: string, ref: ObjectName, options: DeleteOptions = {}): Promise<T | undefined> {
    const definition = this.kind(kind);
    const namespace = this.namespaceOf(definition, ref.namespace);
    const key = specKey(definition, namespace, ref.name);
    const raw = await this.readRaw(definition, namespace, ref.name);
    if (!raw.spec) return undefined;
    const current = decode(raw.spec, raw.status, raw.binding) as T;
    if (options.resourceVersion !== undefined && (changedSince(raw.spec, options.resourceVersion) || changedSince(raw.binding, options.resourceVersion))) {
      throw conflict(key, 'the object changed since it was read');
    }
    const compare = unchangedCompares(definition, namespace, ref.name, raw);
    let finalizers = current.metadata.finalizers ?? [];
    const bindingFinalizer = definition.binding?.finalizer;
    if (bindingFinalizer && !bindingOf(definition, current.spec)) finalizers = finalizers.filter((f) => f !== bindingFinalizer);
    if (finalizers.length > 0) {
      if (current.metadata.deletionTimestamp) return current;
      const marked = { ...current, metadata: { ...current.metadata, finalizers, deletionTimestamp: new Date().toISOString() } };
      const response = await this.txn({ compare, success: this.specPuts(definition, marked, raw.binding) }, key);
      if (!response.succeeded) throw conflict(key, 'the object changed while being deleted');
      return { ...marked, metadata: { ...marked.metadata, resourceVersion: String(response.header.revision) } };
    }
    const response = await this.txn({ compare, success: this.deleteOps(definition, namespace, ref.name) }, key);
    if (!response.succeeded) throw conflict(key, 'the object changed while being deleted');
    return current;
  }

  /** Every key of an object, spec first (watchers learn of the deletion from the spec's delete). */
  private deleteOps(definition: KindDefinition, namespace: string | undefined, name: string): RawTxnOp[] {
    return partsOf(definition).map((part) => deleteOp(partKey(part, definition, namespace, name)));
  }

  /**
   * The puts of a spec write: the spec key without binding fields, and — for an object bound before
   * bindings had a key of their own, whose spec key still holds them — the binding key, so that
   * moving them out loses nothing.
   */
  private specPuts(definition: KindDefinition, object: AnyObject, storedBinding: RawKv | undefined): RawTxnOp[] {
    const key = specKey(definition, object.metadata.namespace, object.metadata.name);
    const puts = [putOp(key, withoutVersion(storedForm(definition, object)))];
    const binding = bindingOf(definition, object.spec);
    if (binding && !storedBinding) puts.push(putOp(bindingKey(definition, object.metadata.namespace, object.metadata.name), binding));
    return puts;
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

/** Builds an object from its spec key and (optional) status and binding keys, as stored. */
function decode(spec: RawKv, status: RawKv | undefined, binding: RawKv | undefined): AnyObject {
  const object = JSON.parse(spec.value.toString()) as AnyObject;
  let revision = BigInt(spec.mod_revision);
  for (const kv of [status, binding]) if (kv && BigInt(kv.mod_revision) > revision) revision = BigInt(kv.mod_revision);
  object.metadata.resourceVersion = String(revision);
  if (status) object.status = JSON.parse(status.value.toString());
  if (binding) object.spec = { ...(object.spec as object), ...(JSON.parse(binding.value.toString()) as object) };
  return object;
}

/** A bindMany binding's compares: the object exists, its spec is unchanged, it is not bound yet. */
const BINDING_COMPARES = 3;

/** Whether a key was written after the read at `resourceVersion`. */
function changedSince(kv: RawKv | undefined, resourceVersion: string): boolean {
  return kv !== undefined && BigInt(kv.mod_revision) > BigInt(resourceVersion);
}

/**
 * Compares that hold while the spec and binding keys are as `raw` read them (an absent binding key
 * has mod revision 0 to etcd).
 */
function unchangedCompares(definition: KindDefinition, namespace: string | undefined, name: string, raw: { spec?: RawKv; binding?: RawKv }): RawTxnOp[] {
  const compare = [modIs(specKey(definition, namespace, name), raw.spec!.mod_revision)];
  if (definition.binding) compare.push(modIs(bindingKey(definition, namespace, name), raw.binding?.mod_revision ?? '0'));
  return compare;
}

/** A spec's binding fields, or undefined when it has none (not bound). */
function bindingOf(definition: KindDefinition, spec: unknown): Record<string, unknown> | undefined {
  const fields = definition.binding?.fields;
  if (!fields) return undefined;
  const source = spec as Record<string, unknown>;
  let binding: Record<string, unknown> | undefined;
  for (const field of fields) if (source[field] !== undefined) (binding ??= {})[field] = source[field];
  return binding;
}

/** A spec apart: what its spec key stores (no binding fields) and its binding. */
function splitBinding(definition: KindDefinition, spec: unknown): { spec: unknown; binding?: Record<string, unknown> } {
  const binding = bindingOf(definition, spec);
  if (!binding) return { spec };
  const stored = { ...(spec as Record<string, unknown>) };
  for (const field of definition.binding!.fields) delete stored[field];
  return { spec: stored, binding };
}

/** The object as its spec key stores it: binding fields live in the binding key. */
function storedForm(definition: KindDefinition, object: AnyObject): AnyObject {
  return definition.binding ? { ...object, spec: splitBinding(definition, object.spec).spec } : object;
}

/**
 * `desired` with `current`'s binding: a spec write may leave binding fields out (they keep their
 * value) but not change them, since only bindMany writes a binding, and only once.
 */
function keepBinding<T extends AnyObject>(definition: KindDefinition, key: string, current: T, desired: T): T {
  if (!definition.binding) return desired;
  const bound = bindingOf(definition, current.spec);
  const asked = bindingOf(definition, desired.spec);
  if (asked && !deepEqual(asked, bound)) {
    const fields = definition.binding.fields.map((field) => `spec.${field}`).join(', ');
    throw new StoreError('Invalid', key, `${fields} are written once, by binding (Store.bindMany), not by an update`);
  }
  return asked || !bound ? desired : { ...desired, spec: { ...(desired.spec as object), ...bound } };
}

function withoutVersion(object: AnyObject): AnyObject {
  const { resourceVersion: _ignored, ...metadata } = object.metadata;
  const { status: _status, ...rest } = object;
  return { ...rest, metadata };
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
