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
// fields out of the spec key and may not change them. How an object maps onto its keys is
// stored-form.ts; how bindMany packs its transactions, store-batch.ts.
import type { Etcd3 } from 'etcd3';
import { alreadyExists, conflict, fenced, notFound, StoreError } from './errors.ts';
import type { EtcdMetrics, EtcdOperation } from './metrics.ts';
import { bindingKey, partKey, partPrefix, partsOf, prefixRange, specKey, statusKey } from './keys.ts';
import type { KindDefinition, KindRegistry } from './kinds/registry.ts';
import { FOREGROUND_FINALIZER } from './kinds/wellknown.ts';
import { matches, parseSelector, type Selector } from './labels.ts';
import { mergeForUpdate } from './merge.ts';
import type { AnyObject, CapstanObject } from './object.ts';
import * as batch from './store-batch.ts';
import { bindingOf, creationOf, decode, keepBinding, namespaceOf, prepare, specKeyValue } from './stored-form.ts';
import {
  createBelow,
  createIs,
  deleteOp,
  modBelow,
  modIs,
  putOp,
  rangeKvs,
  rangeOp,
  versionAbove,
  versionIs,
  DEFAULT_TXN_LIMITS,
  type RawKv,
  type RawPut,
  type TxnLimits,
  type RawTxnOp,
  type TxnRequest,
  type TxnResponse,
} from './txn.ts';

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
  /**
   * Kubernetes' propagationPolicy. Background (the default): the object goes now (or when its
   * finalizers are removed) and the gc controller removes its dependents afterwards. Foreground: the
   * object is only marked, with FOREGROUND_FINALIZER, and the gc controller removes that finalizer
   * once every dependent is gone, so the object is the last to go.
   */
  propagationPolicy?: 'Background' | 'Foreground';
}

export interface ObjectName {
  namespace?: string;
  name: string;
}

/** One object of writeAll: the object as it should be, and as read (undefined: create it). */
export interface AtomicChange {
  object: AnyObject;
  current: AnyObject | undefined;
}

/** What writeAll did: `objects` as written (or unchanged), in the order of the changes. */
export type AtomicWrite = { outcome: 'written'; objects: AnyObject[] } | { outcome: 'conflict' } | { outcome: 'tooLarge'; reason: string };

/** One object to bind: as read (its resourceVersion conditions the write), and its binding fields. */
export interface BindingRequest {
  object: AnyObject;
  /** The binding fields (KindDefinition.binding), e.g. a Task's `{ nodeName, hostPorts }`. */
  binding: Record<string, unknown>;
  /** Raw keys written in the binding's transaction (the node's index entry). */
  alsoPut?: readonly RawPut[];
}

export class Store {
  constructor(
    readonly client: Etcd3,
    readonly registry: KindRegistry,
    private readonly fence?: Fence,
    /** What etcd takes in one transaction: raised where Capstan starts etcd (RAISED_TXN_LIMITS). */
    readonly limits: TxnLimits = DEFAULT_TXN_LIMITS,
    /** Times every etcd request (txn, below), by operation: the component's etcd latencies. */
    private readonly metrics?: EtcdMetrics,
  ) {}

  /** The same store whose writes all fail with `Fenced` once `fence` no longer holds. */
  withFence(fence: Fence): Store {
    return new Store(this.client, this.registry, fence, this.limits, this.metrics);
  }

  /** The same store, its etcd requests timed into `metrics` (a component's, api/metrics.ts). */
  withMetrics(metrics: EtcdMetrics): Store {
    return new Store(this.client, this.registry, this.fence, this.limits, metrics);
  }

  kind(kind: string): KindDefinition {
    return this.registry.get(kind);
  }

  async get<T extends AnyObject = AnyObject>(kind: string, ref: ObjectName): Promise<T | undefined> {
    const definition = this.kind(kind);
    const namespace = namespaceOf(definition, ref.namespace);
    const raw = await this.readRaw(definition, namespace, ref.name, 'get');
    return raw.spec ? (decode(raw.spec, raw.status, raw.binding) as T) : undefined;
  }

  /**
   * Many objects of one kind by name, in the order asked (undefined for absent): their keys read in
   * one transaction (a few, when they pass the store's --max-txn-ops), so a burst of requests pays
   * one etcd round trip instead of one each (the API's POST /v2/apps, api/http/create-together.ts).
   * Timed as `get`.
   */
  async getMany<T extends AnyObject = AnyObject>(kind: string, refs: readonly ObjectName[]): Promise<(T | undefined)[]> {
    const definition = this.kind(kind);
    const parts = partsOf(definition);
    const perTxn = Math.max(1, Math.floor(this.limits.maxTxnOps / parts.length));
    const found: (T | undefined)[] = [];
    for (let start = 0; start < refs.length; start += perTxn) {
      const chunk = refs.slice(start, start + perTxn);
      const keys = chunk.flatMap((ref) => parts.map((part) => partKey(part, definition, namespaceOf(definition, ref.namespace), ref.name)));
      const response = await this.txn({ success: keys.map(rangeOp) }, keys[0]!, 'get');
      const kvs = response.responses.map((r) => rangeKvs(r)[0]);
      chunk.forEach((_, i) => {
        const [spec, status, binding] = kvs.slice(i * parts.length, (i + 1) * parts.length);
        found.push(spec ? (decode(spec, status, binding) as T) : undefined);
      });
    }
    return found;
  }

  /** The object's keys as stored (spec, status, binding), read in one transaction. */
  private async readRaw(definition: KindDefinition, namespace: string | undefined, name: string, operation: EtcdOperation) {
    const keys = partsOf(definition).map((part) => partKey(part, definition, namespace, name));
    const response = await this.txn({ success: keys.map(rangeOp) }, keys[0]!, operation);
    const [spec, status, binding] = response.responses.map((r) => rangeKvs(r)[0]);
    return { spec, status, binding };
  }

  /** Like get, but NotFound when absent. */
  async mustGet<T extends AnyObject = AnyObject>(kind: string, ref: ObjectName): Promise<T> {
    const object = await this.get<T>(kind, ref);
    if (!object) {
      const definition = this.kind(kind);
      throw notFound(specKey(definition, namespaceOf(definition, ref.namespace), ref.name));
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
      'list',
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
    const creation = creationOf(this.kind(object.kind), object);
    const response = await this.txn({ compare: [versionIs(creation.key, 0)], success: creation.puts }, creation.key, 'create');
    if (!response.succeeded) throw alreadyExists(creation.key);
    return creation.created(String(response.header.revision)) as T;
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
    const prepared = prepare(definition, object);
    const namespace = prepared.metadata.namespace;
    const name = prepared.metadata.name;
    const key = specKey(definition, namespace, name);
    const expected = object.metadata.resourceVersion;
    if (expected === undefined) throw new StoreError('Invalid', key, 'an update needs the resourceVersion it was read at');
    const raw = await this.readRaw(definition, namespace, name, 'update');
    if (!raw.spec) throw notFound(key);
    const current = decode(raw.spec, raw.status, raw.binding) as T;
    if (changedSince(raw.spec, expected) || changedSince(raw.binding, expected)) {
      throw conflict(key, 'the object changed since it was read');
    }
    const next = mergeForUpdate(current, keepBinding(definition, key, current, prepared));
    if (next === current) return current;
    const finishing = Boolean(next.metadata.deletionTimestamp) && (next.metadata.finalizers ?? []).length === 0;
    const success = finishing ? this.deleteOps(definition, namespace, name) : [this.specPut(definition, next)];
    const response = await this.txn({ compare: unchangedCompares(definition, namespace, name, raw), success }, key, 'update');
    if (!response.succeeded) throw conflict(key, 'the object changed since it was read');
    const revision = String(response.header.revision);
    return { ...next, metadata: { ...next.metadata, resourceVersion: revision } };
  }

  /**
   * How many of bindMany's bindings, with `alsoPuts` raw puts each, make one transaction: a caller
   * that binds in a stream (the scheduler) sends bindings in groups of this size, each group one
   * transaction.
   */
  bindingsPerTransaction(alsoPuts: number): number {
    // etcd's default size whatever `limits` allows: a stream of bindings pipelines better in small
    // transactions, and one stale task fails every binding of its transaction.
    return batch.bindingsPerTransaction(this.fence !== undefined, alsoPuts);
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
    const writes = requests.map((request) => {
      const definition = this.kind(request.object.kind);
      return batch.bindingWrite(definition, namespaceOf(definition, request.object.metadata.namespace), request);
    });
    const target = { txn: (request: TxnRequest, key: string) => this.txn(request, key, 'bind'), fenced: this.fence !== undefined };
    const { written, failed } = await batch.writeBatched(target, writes);
    return { written: written.map(({ result }) => result), failed: failed.map(({ result }) => result) };
  }

  /**
   * Creates and updates many objects in ONE transaction: all are written or none. Each change is
   * written as create and update write it (creationOf; mergeForUpdate and the spec key's put), a
   * create conditioned on the object being absent, an update on its spec and binding keys being
   * unchanged since `current` was read (its resourceVersion) and the object being the same
   * incarnation. `conflict` when any condition failed (read again and retry); `tooLarge` when the
   * changes do not fit the store's limits (nothing was sent). Updates of objects being deleted are
   * refused: completing a deletion is update's alone.
   */
  async writeAll(changes: readonly AtomicChange[]): Promise<AtomicWrite> {
    const compare: RawTxnOp[] = [];
    const success: RawTxnOp[] = [];
    const results: ((revision: string) => AnyObject)[] = [];
    for (const { object, current } of changes) {
      const definition = this.kind(object.kind);
      if (!current) {
        const creation = creationOf(definition, object);
        compare.push(versionIs(creation.key, 0));
        success.push(...creation.puts);
        results.push(creation.created);
        continue;
      }
      const prepared = prepare(definition, object);
      const { namespace, name } = prepared.metadata;
      const key = specKey(definition, namespace, name);
      const read = current.metadata.resourceVersion;
      if (read === undefined) throw new StoreError('Invalid', key, 'an update needs the resourceVersion it was read at');
      const next = mergeForUpdate(current, keepBinding(definition, key, current, prepared));
      if (next === current) {
        results.push(() => current);
        continue;
      }
      if (next.metadata.deletionTimestamp) throw new StoreError('Invalid', key, 'an object being deleted is updated one at a time (update)');
      const below = String(BigInt(read) + 1n);
      // Present and not written since the read: so also the incarnation that was read.
      compare.push(versionAbove(key, 0), modBelow(key, below));
      if (definition.binding) compare.push(modBelow(bindingKey(definition, namespace, name), below));
      success.push(this.specPut(definition, next));
      results.push((revision) => ({ ...next, metadata: { ...next.metadata, resourceVersion: revision } }));
    }
    const refusal = this.exceedsLimits(compare, success);
    if (refusal) return { outcome: 'tooLarge', reason: refusal };
    if (success.length === 0) return { outcome: 'written', objects: results.map((result) => result('')) };
    const key = String((success[0]!.request_put as { key: Buffer }).key);
    const response = await this.txn({ compare, success }, key, 'writeAll');
    if (!response.succeeded) return { outcome: 'conflict' };
    const revision = String(response.header.revision);
    return { outcome: 'written', objects: results.map((result) => result(revision)) };
  }

  /** Why a transaction of these operations would not fit the store's limits, or undefined when it would. */
  private exceedsLimits(compare: readonly RawTxnOp[], success: readonly RawTxnOp[]): string | undefined {
    const { maxTxnOps, maxRequestBytes } = this.limits;
    const compares = compare.length + (this.fence ? 1 : 0);
    if (compares > maxTxnOps || success.length > maxTxnOps) return say.tooManyOps(Math.max(compares, success.length), maxTxnOps);
    const bytes = [...compare, ...success].reduce((sum, op) => sum + opBytes(op), 0);
    if (bytes > maxRequestBytes - REQUEST_HEADROOM) return say.tooManyBytes(bytes, maxRequestBytes - REQUEST_HEADROOM);
    return undefined;
  }

  /**
   * Writes status only, conditioned on the status being unchanged since `resourceVersion` and the
   * object being the same incarnation (its spec key created before that read). No read is needed.
   */
  async updateStatus<T extends AnyObject>(object: T): Promise<T> {
    const definition = this.kind(object.kind);
    const namespace = namespaceOf(definition, object.metadata.namespace);
    const key = specKey(definition, namespace, object.metadata.name);
    const sKey = statusKey(definition, namespace, object.metadata.name);
    const expected = object.metadata.resourceVersion;
    if (expected === undefined) throw new StoreError('Invalid', sKey, 'a status update needs the resourceVersion it was read at');
    const below = String(BigInt(expected) + 1n);
    const response = await this.txn(
      {
        compare: [versionAbove(key, 0), createBelow(key, below), modBelow(sKey, below)],
        success: [putOp(sKey, object.status ?? {})],
        failure: [rangeOp(key)],
      },
      sKey,
      'updateStatus',
    );
    if (!response.succeeded) {
      const exists = rangeKvs(response.responses[0]).length > 0;
      throw exists ? conflict(sKey, 'the status changed since it was read') : notFound(key);
    }
    return { ...object, metadata: { ...object.metadata, resourceVersion: String(response.header.revision) } };
  }

  /**
   * Deletes an object. With finalizers it only gains a deletionTimestamp, and disappears when the
   * last finalizer is removed. Dependents are removed by the gc controller: afterwards (background,
   * the default) or first (`propagationPolicy: 'Foreground'`).
   * An object of a kind with bindings that was never bound loses the binding's finalizer here:
   * nothing runs it that could hold it (the transaction is conditioned on it still being unbound).
   * Returns the object as it was, or undefined when it did not exist.
   */
  async delete<T extends AnyObject = AnyObject>(kind: string, ref: ObjectName, options: DeleteOptions = {}): Promise<T | undefined> {
    const definition = this.kind(kind);
    const namespace = namespaceOf(definition, ref.namespace);
    const key = specKey(definition, namespace, ref.name);
    const raw = await this.readRaw(definition, namespace, ref.name, 'delete');
    if (!raw.spec) return undefined;
    const current = decode(raw.spec, raw.status, raw.binding) as T;
    if (options.resourceVersion !== undefined && (changedSince(raw.spec, options.resourceVersion) || changedSince(raw.binding, options.resourceVersion))) {
      throw conflict(key, 'the object changed since it was read');
    }
    const compare = unchangedCompares(definition, namespace, ref.name, raw);
    let finalizers = current.metadata.finalizers ?? [];
    const bindingFinalizer = definition.binding?.finalizer;
    if (bindingFinalizer && !bindingOf(definition, current.spec)) finalizers = finalizers.filter((f) => f !== bindingFinalizer);
    const foreground = options.propagationPolicy === 'Foreground' && !finalizers.includes(FOREGROUND_FINALIZER);
    if (foreground) finalizers = [...finalizers, FOREGROUND_FINALIZER];
    if (finalizers.length > 0) {
      // Already being deleted: unchanged, unless a foreground deletion now asks to wait for dependents.
      if (current.metadata.deletionTimestamp && !foreground) return current;
      const deletionTimestamp = current.metadata.deletionTimestamp ?? new Date().toISOString();
      const marked = { ...current, metadata: { ...current.metadata, finalizers, deletionTimestamp } };
      const response = await this.txn({ compare, success: [this.specPut(definition, marked)] }, key, 'delete');
      if (!response.succeeded) throw conflict(key, 'the object changed while being deleted');
      return { ...marked, metadata: { ...marked.metadata, resourceVersion: String(response.header.revision) } };
    }
    const response = await this.txn({ compare, success: this.deleteOps(definition, namespace, ref.name) }, key, 'delete');
    if (!response.succeeded) throw conflict(key, 'the object changed while being deleted');
    return current;
  }

  /** Every key of an object, spec first (watchers learn of the deletion from the spec's delete). */
  private deleteOps(definition: KindDefinition, namespace: string | undefined, name: string): RawTxnOp[] {
    return partsOf(definition).map((part) => deleteOp(partKey(part, definition, namespace, name)));
  }

  /** The put of a spec write: the spec key, without binding fields (their key is written once, by bindMany). */
  private specPut(definition: KindDefinition, object: AnyObject): RawTxnOp {
    return putOp(specKey(definition, object.metadata.namespace, object.metadata.name), specKeyValue(definition, object));
  }

  /**
   * One etcd transaction, with the fence compare added when this store belongs to a leader. A
   * transaction that failed because of the fence is reported as `Fenced`, not as a conflict. Every
   * transaction the Store sends passes here, so here it is timed (fenceHolds times the one other
   * request it makes).
   */
  private async txn(request: TxnRequest, key: string, operation: EtcdOperation): Promise<TxnResponse> {
    const compare = [...(request.compare ?? [])];
    const isWrite = request.success.some((op) => 'request_put' in op || 'request_delete_range' in op);
    if (this.fence && isWrite) compare.push(createIs(this.fence.key, this.fence.createRevision));
    let response;
    try {
      const send = () => this.client.kv.txn({ compare, success: request.success, failure: request.failure ?? [] } as never);
      response = await (this.metrics ? this.metrics.time(operation, send) : send());
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
    const read = () => this.client.kv.range({ key: Buffer.from(fence.key) } as never);
    const response = await (this.metrics ? this.metrics.time('fence', read) : read());
    const kv = (response.kvs as unknown as RawKv[])[0];
    return kv !== undefined && kv.create_revision === fence.createRevision;
  }
}

/** Bytes kept free under --max-request-bytes for what etcd's request adds around keys and values. */
const REQUEST_HEADROOM = 64 * 1024;

const say = {
  tooManyOps: (ops: number, limit: number) => `${ops} operations exceed etcd's ${limit} per transaction (--max-txn-ops)`,
  tooManyBytes: (bytes: number, limit: number) => `${bytes} bytes exceed the ${limit} a transaction may carry (etcd's --max-request-bytes, less headroom)`,
} as const;

/** The key and value bytes of one operation, close to what it weighs in the request. */
function opBytes(op: RawTxnOp): number {
  const part = (op.request_put ?? op.request_delete_range ?? op) as { key?: Buffer; value?: Buffer };
  return (part.key?.length ?? 0) + (part.value?.length ?? 0) + 16;
}

function toSelector(selector: string | Selector | undefined): Selector | undefined {
  if (selector === undefined) return undefined;
  return typeof selector === 'string' ? parseSelector(selector) : selector;
}

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

export type { CapstanObject };
