// An informer keeps one kind's objects in memory and tells subscribers what changed: list, then
// watch from the list's revision (DESIGN.md "Informers and the controller runtime").
//
// Two etcd watches feed it, one on the kind's spec prefix and one on its status prefix; the cache
// joins them by key. Reconnects after an etcd restart are the etcd3 client's: its watcher resumes
// from the last revision it delivered, so nothing is lost or repeated. When resuming is impossible
// (etcd compacted past that revision, and cancels the watch), the informer re-lists and emits the
// exact difference between what it held and what is there now, then watches from the new list.
import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import { Subject, type Observable } from 'rxjs';
import { refKeyFromKey, specPrefix, statusPrefix } from './keys.ts';
import type { KindDefinition } from './kinds/registry.ts';
import type { AnyObject, DeepReadonly } from './object.ts';
import type { Store } from './store.ts';

export type InformerEventType = 'added' | 'modified' | 'deleted';

export interface InformerEvent {
  type: InformerEventType;
  /** `namespace/name`, or `name` for cluster-scoped kinds. */
  key: string;
  object: DeepReadonly<AnyObject>;
  /** The object before the change (modified and deleted). */
  old?: DeepReadonly<AnyObject>;
}

interface Half {
  kv: { key: Buffer; value: Buffer; mod_revision: string; create_revision: string; version: string };
}

/**
 * One key's value as the cache keeps it: parsed once, with its mod revision. The raw bytes are not
 * kept; holding both would double the cache's memory.
 */
interface Parsed {
  value: unknown;
  revision: bigint;
}

function parse(kv: Half['kv']): Parsed | undefined {
  try {
    return { value: JSON.parse(kv.value.toString()), revision: BigInt(kv.mod_revision) };
  } catch {
    // A value that is not JSON was not written by Capstan; leave it out of the cache.
    return undefined;
  }
}

export interface InformerOptions {
  /** Called when a watch breaks and the informer re-lists; for logs and tests. */
  onRelist?: (reason: string) => void;
}

export class Informer {
  private readonly specs = new Map<string, Parsed>();
  private readonly statuses = new Map<string, Parsed>();
  private readonly objects = new Map<string, DeepReadonly<AnyObject>>();
  private readonly subject = new Subject<InformerEvent>();
  private watchers: Watcher[] = [];
  private started: Promise<void> | undefined;
  private stopped = false;
  private relisting: Promise<void> | undefined;
  private relists = 0;

  constructor(
    private readonly client: Etcd3,
    readonly definition: KindDefinition,
    private readonly options: InformerOptions = {},
  ) {}

  /** Every change after the subscriber joins. Read the cache for what came before. */
  get events$(): Observable<InformerEvent> {
    return this.subject.asObservable();
  }

  /** How many times the informer had to re-list (compaction, a broken watch). */
  get relistCount(): number {
    return this.relists;
  }

  /** Lists and starts watching; resolves once the cache holds the listed state. Idempotent. */
  start(): Promise<void> {
    // A failed start (etcd down) is forgotten so that the next call tries again.
    this.started ??= this.listAndWatch(false).catch((error: unknown) => {
      this.started = undefined;
      throw error;
    });
    return this.started;
  }

  get(key: string): DeepReadonly<AnyObject> | undefined {
    return this.objects.get(key);
  }

  list(filter?: (object: DeepReadonly<AnyObject>) => boolean): DeepReadonly<AnyObject>[] {
    const all = [...this.objects.values()];
    return filter ? all.filter(filter) : all;
  }

  keys(): string[] {
    return [...this.objects.keys()];
  }

  get size(): number {
    return this.objects.size;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.cancelWatchers();
    this.subject.complete();
  }

  private async listAndWatch(emit: boolean): Promise<void> {
    const specRoot = specPrefix(this.definition);
    const statusRoot = statusPrefix(this.definition);
    const response = (await this.client.kv.txn({
      success: [{ request_range: prefixRange(specRoot) }, { request_range: prefixRange(statusRoot) }],
    } as never)) as unknown as { header: { revision: string }; responses: { response_range: { kvs: Half['kv'][] } }[] };
    const before = new Map(this.objects);
    this.specs.clear();
    this.statuses.clear();
    this.objects.clear();
    for (const kv of response.responses[0]!.response_range.kvs) this.remember(this.specs, kv);
    for (const kv of response.responses[1]!.response_range.kvs) this.remember(this.statuses, kv);
    for (const key of this.specs.keys()) this.rebuild(key);
    if (emit) this.emitDifference(before);
    const next = String(BigInt(response.header.revision) + 1n);
    if (this.stopped) return;
    this.watchers = await Promise.all([this.watch(specRoot, next, 'spec'), this.watch(statusRoot, next, 'status')]);
  }

  private async watch(prefix: string, fromRevision: string, half: 'spec' | 'status'): Promise<Watcher> {
    const watcher = await this.client.watch().prefix(prefix).startRevision(fromRevision).create();
    watcher.on('put', (kv: IKeyValue) => this.onPut(half, kv as unknown as Half['kv']));
    watcher.on('delete', (kv: IKeyValue) => this.onDelete(half, kv as unknown as Half['kv']));
    // etcd cancels a watch whose start revision was compacted; the client reports that as an error.
    watcher.on('error', (error: Error) => {
      // etcd already dropped this watch; cancelling it again would wait for an end that never comes.
      this.watchers = this.watchers.filter((w) => w !== watcher);
      this.relist(`watch on ${prefix} ended: ${error.message}`);
    });
    return watcher;
  }

  private relist(reason: string): void {
    if (this.stopped || this.relisting) return;
    this.relists += 1;
    this.options.onRelist?.(reason);
    this.relisting = (async () => {
      await this.cancelWatchers();
      for (let attempt = 0; !this.stopped; attempt += 1) {
        try {
          await this.listAndWatch(true);
          return;
        } catch {
          // etcd may be down: try again with a capped backoff, the cache stays as it was meanwhile.
          await new Promise((resolve) => setTimeout(resolve, Math.min(50 * 2 ** attempt, 1_000)));
        }
      }
    })().finally(() => {
      this.relisting = undefined;
    });
  }

  private async cancelWatchers(): Promise<void> {
    const watchers = this.watchers;
    this.watchers = [];
    for (const watcher of watchers) {
      watcher.removeAllListeners('put').removeAllListeners('delete').removeAllListeners('error');
      watcher.on('error', () => undefined);
    }
    // A cancel waits for etcd to confirm; with etcd unreachable that could be forever, and the
    // old watch is harmless once its listeners are gone.
    const bounded = (watcher: Watcher) =>
      Promise.race([watcher.cancel().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 1_000).unref())]);
    await Promise.all(watchers.map(bounded));
  }

  private onPut(half: 'spec' | 'status', kv: Half['kv']): void {
    const key = this.remember(half === 'spec' ? this.specs : this.statuses, kv);
    if (half === 'status' && !this.specs.has(key)) return;
    const old = this.objects.get(key);
    const object = this.rebuild(key);
    if (object) this.subject.next(old ? { type: 'modified', key, object, old } : { type: 'added', key, object });
  }

  private onDelete(half: 'spec' | 'status', kv: Half['kv']): void {
    const key = this.keyOf(kv.key);
    if (half === 'status') {
      // Statuses are deleted together with their spec; the spec's delete event tells the story.
      this.statuses.delete(key);
      return;
    }
    this.specs.delete(key);
    this.statuses.delete(key);
    const old = this.objects.get(key);
    this.objects.delete(key);
    if (old) this.subject.next({ type: 'deleted', key, object: old, old });
  }

  private remember(map: Map<string, Parsed>, kv: Half['kv']): string {
    const key = this.keyOf(kv.key);
    const parsed = parse(kv);
    if (parsed) map.set(key, parsed);
    else map.delete(key);
    return key;
  }

  private rebuild(key: string): DeepReadonly<AnyObject> | undefined {
    const spec = this.specs.get(key);
    if (!spec) return undefined;
    const stored = spec.value as AnyObject;
    const status = this.statuses.get(key);
    const revision = status && status.revision > spec.revision ? status.revision : spec.revision;
    // Shallow copies: the spec and status values are shared with the halves above, never mutated.
    const object = { ...stored, metadata: { ...stored.metadata, resourceVersion: String(revision) } } as AnyObject;
    if (status) object.status = status.value;
    else delete object.status;
    this.objects.set(key, object as DeepReadonly<AnyObject>);
    return object as DeepReadonly<AnyObject>;
  }

  private emitDifference(before: Map<string, DeepReadonly<AnyObject>>): void {
    for (const [key, old] of before) {
      if (!this.objects.has(key)) this.subject.next({ type: 'deleted', key, object: old, old });
    }
    for (const [key, object] of this.objects) {
      const old = before.get(key);
      if (!old) this.subject.next({ type: 'added', key, object });
      else if (old.metadata.resourceVersion !== object.metadata.resourceVersion) {
        this.subject.next({ type: 'modified', key, object, old });
      }
    }
  }

  private keyOf(key: Buffer): string {
    return refKeyFromKey(this.definition, key.toString());
  }
}

function prefixRange(prefix: string) {
  const end = Buffer.from(prefix);
  end[end.length - 1] = end[end.length - 1]! + 1;
  return { key: Buffer.from(prefix), range_end: end };
}

/**
 * One informer per kind per process, shared by every controller in it (DESIGN.md): controllers ask
 * the factory, never construct informers themselves.
 */
export class InformerFactory {
  private readonly informers = new Map<string, Informer>();

  constructor(
    private readonly store: Store,
    private readonly options: InformerOptions = {},
  ) {}

  /** The started (or starting) informer for a kind; `await informer.start()` to wait for sync. */
  informer(kind: string): Informer {
    const definition = this.store.kind(kind);
    let informer = this.informers.get(definition.kind);
    if (!informer) {
      informer = new Informer(this.store.client, definition, this.options);
      this.informers.set(definition.kind, informer);
      void informer.start().catch(() => undefined);
    }
    return informer;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.informers.values()].map((informer) => informer.stop()));
    this.informers.clear();
  }
}
