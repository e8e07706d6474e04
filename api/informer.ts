// An informer keeps one kind's objects in memory and tells subscribers what changed: list, then
// watch from the list's revision (DESIGN.md "Informers and the controller runtime").
//
// Two etcd watches feed it, one on the kind's spec prefix and one on its status prefix (and a third on
// its binding prefix, for kinds with bindings); the cache joins them by key. Reconnects after an etcd restart are the etcd3 client's: its watcher resumes
// from the last revision it delivered, so nothing is lost or repeated. When resuming is impossible
// (etcd compacted past that revision, and cancels the watch), the informer re-lists and emits the
// exact difference between what it held and what is there now, then watches from the new list.
import type { Etcd3, Watcher } from 'etcd3';
import { bindingPrefix, refKeyFromKey, specPrefix, statusPrefix } from './keys.ts';
import type { KindDefinition } from './kinds/registry.ts';
import { CachedInformer, cancelWatchers, parseKv, prefixRange, type Half, type InformerOptions, type Kv } from './object-cache.ts';
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
    const roots: [Half, string][] = [
      ['spec', specPrefix(this.definition)],
      ['status', statusPrefix(this.definition)],
      ...(this.definition.binding ? [['binding', bindingPrefix(this.definition)] as [Half, string]] : []),
    ];
    const response = (await this.client.kv.txn({
      success: roots.map(([, root]) => ({ request_range: prefixRange(root) })),
    } as never)) as unknown as { header: { revision: string }; responses: { response_range: { kvs: Kv[] } }[] };
    const byKey = (i: number) => new Map(response.responses[i]?.response_range.kvs.map((kv) => [this.keyOf(kv.key), parseKv(kv)]));
    const statuses = byKey(1);
    const bindings = byKey(2);
    const entries = response.responses[0]!.response_range.kvs.map((kv) => {
      const key = this.keyOf(kv.key);
      return { key, spec: parseKv(kv), status: statuses.get(key), binding: bindings.get(key) };
    });
    this.cache.replace(entries, emit);
    const next = String(BigInt(response.header.revision) + 1n);
    if (this.stopped) return;
    this.watchers = await Promise.all(roots.map(([half, root]) => this.watch(root, next, half)));
  }

  private watch(prefix: string, fromRevision: string, half: Half): Promise<Watcher> {
    const watcher: Promise<Watcher> = openWatch(this.client.watch().prefix(prefix).startRevision(fromRevision), {
      put: (kv) => this.cache.put(half, this.keyOf(kv.key), kv as unknown as Kv),
      delete: (kv) => this.cache.delete(half, this.keyOf(kv.key)),
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
