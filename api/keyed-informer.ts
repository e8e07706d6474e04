// An informer over a set of keys named by an index prefix: the objects whose `namespace/name`
// appears under the prefix (e.g. /capstan/index/nodes/<node>/tasks/, api/node-index.ts), joined from
// their spec, status and binding keys like api/informer.ts does, and nothing else.
//
// Why it exists: a node agent needs only the Tasks bound to it, and an Informer would cache every
// Task in the cluster. etcd has no secondary index, so the scheduler keeps one and this follows it:
// one prefix watch on the index, and per indexed object a watch on each of its keys (all multiplexed
// on the client's single watch stream).
//
// Each object is read, then watched from the read's revision + 1, so nothing between is missed. On
// any watch error (etcd compacted past a watch's revision, or cancelled it) everything is read again
// — the index, then every indexed object — and the exact difference is emitted, as Informer does.
import type { Etcd3, Watcher } from 'etcd3';
import { partKey, partsOf, type Part } from './keys.ts';
import type { KindDefinition } from './kinds/registry.ts';
import { CachedInformer, cancelWatchers, parseKv, prefixRange, type InformerOptions, type Kv, type StoredParts } from './object-cache.ts';
import { parseRefKey, type AnyObject, type DeepReadonly } from './object.ts';
import { openWatch } from './watch.ts';

type RangeResponse = { header: { revision: string }; responses: { response_range: { kvs: Kv[] } }[] };

/** One index entry: the uid it names, and its keys' watches once the object has been read. */
interface Entry {
  uid: string;
  loaded: boolean;
  watchers: Watcher[];
}

/** Objects read per transaction: up to three ranges each, within etcd's default 128 operations. */
const READ_BATCH = 42;

export interface IndexedObject {
  /** `namespace/name`. */
  key: string;
  /** The uid the index entry names. */
  uid: string;
  /** What is stored under that name now (any uid), or undefined when nothing is. */
  object: DeepReadonly<AnyObject> | undefined;
}

export class KeyedInformer extends CachedInformer {
  private readonly entries = new Map<string, Entry>();
  private indexWatcher: Watcher | undefined;
  /** The keys each object is stored in. */
  private readonly parts: readonly Part[];

  constructor(
    private readonly client: Etcd3,
    readonly definition: KindDefinition,
    private readonly indexPrefix: string,
    options: InformerOptions = {},
  ) {
    super(options);
    this.parts = partsOf(definition);
  }

  /** Index entries whose object has been read (an entry still being read is left out). */
  indexed(): IndexedObject[] {
    return [...this.entries].filter(([, entry]) => entry.loaded).map(([key, entry]) => ({ key, uid: entry.uid, object: this.cache.get(key) }));
  }

  protected async listAndWatch(emit: boolean): Promise<void> {
    const index = (await this.client.kv.txn({ success: [{ request_range: prefixRange(this.indexPrefix) }] } as never)) as unknown as RangeResponse;
    const listed = new Map(index.responses[0]!.response_range.kvs.map((kv) => [kv.key.toString().slice(this.indexPrefix.length), kv.value.toString()]));
    const reads = await this.read([...listed.keys()]);
    this.entries.clear();
    for (const [key, uid] of listed) this.entries.set(key, { uid, loaded: true, watchers: [] });
    this.cache.replace([...listed.keys()].map((key) => ({ key, ...reads.get(key)!.parts })), emit);
    if (this.stopped) return;
    this.indexWatcher = await this.watchIndex(String(BigInt(index.header.revision) + 1n));
    await Promise.all([...this.entries].map(([key, entry]) => this.watchObject(key, entry, reads.get(key)!.next)));
  }

  /** The stored parts of each key, with the revision to watch them from. */
  private async read(keys: string[]): Promise<Map<string, { parts: StoredParts; next: string }>> {
    const result = new Map<string, { parts: StoredParts; next: string }>();
    const width = this.parts.length;
    for (let start = 0; start < keys.length; start += READ_BATCH) {
      const batch = keys.slice(start, start + READ_BATCH);
      const success = batch.flatMap((key) => this.parts.map((part) => ({ request_range: { key: Buffer.from(this.keyOf(part, key)) } })));
      const response = (await this.client.kv.txn({ success } as never)) as unknown as RangeResponse;
      const next = String(BigInt(response.header.revision) + 1n);
      batch.forEach((key, i) => {
        const stored: StoredParts = {};
        this.parts.forEach((part, j) => {
          const [kv] = response.responses[width * i + j]!.response_range.kvs;
          if (kv) stored[part] = parseKv(kv);
        });
        result.set(key, { parts: stored, next });
      });
    }
    return result;
  }

  private watchIndex(fromRevision: string): Promise<Watcher> {
    return openWatch(this.client.watch().prefix(this.indexPrefix).startRevision(fromRevision), {
      put: (kv) => this.onIndexPut(kv.key.toString().slice(this.indexPrefix.length), kv.value.toString()),
      delete: (kv) => this.onIndexDelete(kv.key.toString().slice(this.indexPrefix.length)),
      error: (error) => this.relist(`watch on ${this.indexPrefix} ended: ${error.message}`),
    });
  }

  private async watchObject(key: string, entry: Entry, fromRevision: string): Promise<void> {
    // The listeners are live before the watches connect; an entry that went meanwhile (or was
    // replaced by a re-list) must not write into the cache.
    const current = () => this.entries.get(key) === entry && !this.stopped;
    const error = (e: Error) => this.relist(`watch on ${key} ended: ${e.message}`);
    const watch = (part: Part) =>
      openWatch(this.client.watch().key(this.keyOf(part, key)).startRevision(fromRevision), {
        put: (kv) => current() && this.cache.put(part, key, kv as unknown as Kv),
        delete: () => current() && this.cache.delete(part, key),
        error,
      });
    entry.watchers = await Promise.all(this.parts.map(watch));
    if (!current()) await cancelWatchers(entry.watchers);
  }

  private onIndexPut(key: string, uid: string): void {
    const entry = this.entries.get(key);
    // Another incarnation bound here under the same name: the key's watches already follow it.
    if (entry) return void (entry.uid = uid);
    const added: Entry = { uid, loaded: false, watchers: [] };
    this.entries.set(key, added);
    void this.track(key, added).catch((error: Error) => this.relist(`reading ${key} failed: ${error.message}`));
  }

  /** Reads a newly indexed object, then watches it from that read on. */
  private async track(key: string, entry: Entry): Promise<void> {
    const read = (await this.read([key])).get(key)!;
    if (this.entries.get(key) !== entry || this.stopped) return;
    entry.loaded = true;
    this.cache.add(key, read.parts);
    await this.watchObject(key, entry, read.next);
  }

  private onIndexDelete(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    void cancelWatchers(entry.watchers);
    this.cache.delete('spec', key);
  }

  protected async cancelAll(): Promise<void> {
    const watchers = [...(this.indexWatcher ? [this.indexWatcher] : []), ...[...this.entries.values()].flatMap((entry) => entry.watchers)];
    this.indexWatcher = undefined;
    // Forgetting the entries makes a read or watch still in flight for one of them cancel itself;
    // the objects stay, for the re-list to emit the difference against.
    this.entries.clear();
    await cancelWatchers(watchers);
  }

  private keyOf(part: Part, key: string): string {
    const { namespace, name } = parseRefKey(key);
    return partKey(part, this.definition, namespace, name);
  }
}
