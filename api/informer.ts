// An informer keeps one kind's objects in memory and tells subscribers what changed: list, then
// watch from the list's revision (DESIGN.md "Informers and the controller runtime").
//
// One etcd watch per part of the kind's objects feeds it (spec, status, and binding for kinds with
// bindings), each on that part's prefix; the cache joins them by key. Reconnects after an etcd
// restart are the etcd3 client's: its watcher resumes from the last revision it delivered, so nothing is lost or repeated. When resuming is impossible
// (etcd compacted past that revision, and cancels the watch), the informer re-lists and emits the
// exact difference between what it held and what is there now, then watches from the new list.
import type { Etcd3, Watcher } from 'etcd3';
import { partPrefix, partsOf, refKeyFromKey, type Part } from './keys.ts';
import type { KindDefinition } from './kinds/registry.ts';
import { CachedInformer, cancelWatchers, parseKv, prefixRange, type InformerOptions, type Kv, type Parsed } from './object-cache.ts';
import type { Store } from './store.ts';
import { openWatch } from './watch.ts';

export type { InformerEvent, InformerEventType } from './object-cache.ts';

export type { InformerOptions } from './object-cache.ts';

export class Informer extends CachedInformer {
  private watchers: Watcher[] = [];

  constructor(
    private readonly client: Etcd3,
    readonly definition: KindDefinition,
    options: InformerOptions = {},
  ) {
    super(options);
  }

  protected async listAndWatch(emit: boolean): Promise<void> {
    const parts = partsOf(this.definition);
    const response = (await this.client.kv.txn({
      success: parts.map((part) => ({ request_range: prefixRange(partPrefix(part, this.definition)) })),
    } as never)) as unknown as { header: { revision: string }; responses: { response_range: { kvs: Kv[] } }[] };
    // Every part but the spec by key; the spec's list says which objects exist.
    const others = parts.slice(1).map((part, i) => [part, new Map(response.responses[i + 1]!.response_range.kvs.map((kv) => [this.keyOf(kv.key), parseKv(kv)]))] as const);
    const entries = response.responses[0]!.response_range.kvs.map((kv) => {
      const key = this.keyOf(kv.key);
      const entry: { key: string } & Partial<Record<Part, Parsed>> = { key, spec: parseKv(kv) };
      for (const [part, byKey] of others) entry[part] = byKey.get(key);
      return entry;
    });
    this.cache.replace(entries, emit);
    const next = String(BigInt(response.header.revision) + 1n);
    if (this.stopped) return;
    const opened = await Promise.allSettled(parts.map((part) => this.watch(partPrefix(part, this.definition), next, part)));
    const watchers = opened.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    const failed = opened.find((result) => result.status === 'rejected');
    if (failed) {
      // The watches that did open would go on feeding the cache beside the next attempt's: close
      // them, so the failure leaves nothing behind and start() (or the re-list) can simply retry.
      await cancelWatchers(watchers);
      throw failed.reason;
    }
    this.watchers = watchers;
  }

  private watch(prefix: string, fromRevision: string, part: Part): Promise<Watcher> {
    const watcher: Promise<Watcher> = openWatch(this.client.watch().prefix(prefix).startRevision(fromRevision), {
      put: (kv) => this.cache.put(part, this.keyOf(kv.key), kv as unknown as Kv),
      delete: (kv) => this.cache.delete(part, this.keyOf(kv.key)),
      // etcd cancels a watch whose start revision was compacted; the client reports that as an error.
      error: (error) => {
        // etcd already dropped this watch; cancelling it again would wait for an end that never comes.
        void watcher.then((dropped) => (this.watchers = this.watchers.filter((w) => w !== dropped)));
        this.relist(`watch on ${prefix} ended: ${error.message}`);
      },
    });
    return watcher;
  }

  protected async cancelAll(): Promise<void> {
    const watchers = this.watchers;
    this.watchers = [];
    await cancelWatchers(watchers);
  }

  private keyOf(key: Buffer): string {
    return refKeyFromKey(this.definition, key.toString());
  }
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

  /**
   * The informer for a kind, created on first use. `await informer.start()` lists and watches it:
   * that is where a failure surfaces, as a rejection (and the next start() tries again). Creating it
   * starts nothing in the background, whose failure no one would hear of: an informer whose list
   * failed unnoticed would serve an empty cache for good. The pipeline awaits start() for every kind
   * a controller watches, and the manager logs a failure and starts the controller again with backoff.
   */
  informer(kind: string): Informer {
    const definition = this.store.kind(kind);
    let informer = this.informers.get(definition.kind);
    if (!informer) {
      informer = new Informer(this.store.client, definition, this.options);
      this.informers.set(definition.kind, informer);
    }
    return informer;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.informers.values()].map((informer) => informer.stop()));
    this.informers.clear();
  }
}
