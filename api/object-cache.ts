// What every informer keeps and how it lives, whatever tells it about changes (a prefix watch in
// informer.ts, an index of keys in keyed-informer.ts): each object's spec, status and binding values
// (the binding only for kinds that have one, KindDefinition.binding), parsed once, joined by key into
// the object controllers read; indexes of those objects by owner, App and node; the stream of what
// changed; and starting, re-listing after a broken watch, and stopping.
import { cappedBackoff } from './backoff.ts';
import type { Watcher } from 'etcd3';
import type { Part } from './keys.ts';
import { Subject, type Observable } from 'rxjs';
import { refKey, type AnyObject, type DeepReadonly } from './object.ts';

export type InformerEventType = 'added' | 'modified' | 'deleted';

export interface InformerEvent {
  type: InformerEventType;
  /** `namespace/name`, or `name` for cluster-scoped kinds. */
  key: string;
  object: DeepReadonly<AnyObject>;
  /** The object before the change (modified and deleted). */
  old?: DeepReadonly<AnyObject>;
}

/** A key-value as etcd's range and watch responses carry it. */
export interface Kv {
  key: Buffer;
  value: Buffer;
  mod_revision: string;
}

/**
 * One key's value as the cache keeps it: parsed once, with its mod revision. The raw bytes are not
 * kept; holding both would double the cache's memory.
 */
export interface Parsed {
  value: unknown;
  revision: bigint;
}

export function parseKv(kv: Kv): Parsed | undefined {
  try {
    return { value: JSON.parse(kv.value.toString()), revision: BigInt(kv.mod_revision) };
  } catch {
    // A value that is not JSON was not written by Capstan; leave it out of the cache.
    return undefined;
  }
}

/** An object's keys as read together (a list, or one object's read). */
export type StoredParts = Partial<Record<Part, Parsed>>;

/** The indexes every cache keeps; `indexValues` says what each files an object under. */
export type IndexName = 'owner' | 'app' | 'node';
const NONE: readonly string[] = [];

type Fields = { app?: unknown; nodeName?: unknown } | undefined;
const appOf = (object: DeepReadonly<AnyObject>) => (object.spec as Fields)?.app;
const nodeOf = (object: DeepReadonly<AnyObject>) => (object.spec as Fields)?.nodeName;

/**
 * Each index: the values it files an object under, and whether two versions of one object are filed
 * alike, answered without computing them: most changes (a status write above all) leave what an
 * index reads as it was, and then cost a comparison per index.
 */
const INDEXES: Record<IndexName, { values(object: DeepReadonly<AnyObject>): readonly string[]; sameValues(a: DeepReadonly<AnyObject>, b: DeepReadonly<AnyObject>): boolean }> = {
  owner: {
    values: (object) => object.metadata.ownerReferences?.map((ref) => ref.uid) ?? NONE,
    // Cached objects are never mutated: the same array means the same owners.
    sameValues: (a, b) => a.metadata.ownerReferences === b.metadata.ownerReferences,
  },
  app: {
    values: (object) => {
      const { kind, metadata } = object;
      const app = appOf(object);
      if (kind === 'App') return [refKey(metadata)];
      return typeof app === 'string' ? [refKey({ namespace: metadata.namespace, name: app })] : NONE;
    },
    sameValues: (a, b) => a.kind === b.kind && a.metadata.namespace === b.metadata.namespace && a.metadata.name === b.metadata.name && appOf(a) === appOf(b),
  },
  node: {
    values: (object) => {
      const node = nodeOf(object);
      return typeof node === 'string' && node ? [node] : NONE;
    },
    sameValues: (a, b) => nodeOf(a) === nodeOf(b),
  },
};
const INDEX_NAMES = Object.keys(INDEXES) as IndexName[];

/**
 * The values `object` is filed under in `index`:
 * - `owner`: the uid of each of its ownerReferences (an App's Revisions, a Revision's Tasks);
 * - `app`: `namespace/app` of the App it belongs to: its `spec.app` for the kinds that name one
 *   (Task, Revision, Endpoints), its own key for an App;
 * - `node`: its `spec.nodeName` once bound (a Task).
 */
export function indexValues(index: IndexName, object: DeepReadonly<AnyObject>): readonly string[] {
  return INDEXES[index].values(object);
}

/**
 * Per index, value → the keys of the objects filed under it: the key itself while it is the only one
 * (most values: an App's own key, a Revision's owner), a set once there are more. Keys only, never
 * objects: the objects live once, in the cache's map, and most values cost one map entry.
 */
class Indexes {
  private readonly byName = new Map<IndexName, Map<string, string | Set<string>>>(INDEX_NAMES.map((name) => [name, new Map()]));

  /** Files `key` as `next` says, and takes it out of what only `previous` said. */
  update(key: string, previous: DeepReadonly<AnyObject> | undefined, next: DeepReadonly<AnyObject> | undefined): void {
    for (const [name, index] of this.byName) {
      const { values, sameValues } = INDEXES[name];
      if (previous && next && sameValues(previous, next)) continue;
      const before = previous ? values(previous) : NONE;
      const after = next ? values(next) : NONE;
      for (const value of before) if (!after.includes(value)) remove(index, value, key);
      for (const value of after) if (!before.includes(value)) add(index, value, key);
    }
  }

  keys(name: IndexName, value: string): string[] {
    const held = this.byName.get(name)!.get(value);
    return held === undefined ? [] : typeof held === 'string' ? [held] : [...held];
  }

  clear(): void {
    for (const index of this.byName.values()) index.clear();
  }
}

function add(index: Map<string, string | Set<string>>, value: string, key: string): void {
  const held = index.get(value);
  // An App is filed under its own key: the map then holds the cache's key string, not a copy.
  if (held === undefined) index.set(value === key ? key : value, key);
  else if (typeof held === 'string') {
    if (held !== key) index.set(value, new Set<string>().add(held).add(key));
  } else held.add(key);
}

function remove(index: Map<string, string | Set<string>>, value: string, key: string): void {
  const held = index.get(value);
  if (held === key) index.delete(value);
  else if (typeof held === 'object' && held.delete(key) && held.size === 1) index.set(value, held.values().next().value!);
}

export class ObjectCache {
  private readonly specs = new Map<string, Parsed>();
  private readonly statuses = new Map<string, Parsed>();
  private readonly bindings = new Map<string, Parsed>();
  private readonly objects = new Map<string, DeepReadonly<AnyObject>>();
  /** Kept in step with `objects`: every change to it goes through `rebuild` or `delete`. */
  private readonly indexes = new Indexes();
  private readonly subject = new Subject<InformerEvent>();

  get events$(): Observable<InformerEvent> {
    return this.subject.asObservable();
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

  /** The objects filed under `value` in `index`, ordered by key; a fresh array. */
  byIndex(index: IndexName, value: string): DeepReadonly<AnyObject>[] {
    return this.indexes.keys(index, value).sort().map((key) => this.objects.get(key)!);
  }

  get size(): number {
    return this.objects.size;
  }

  /**
   * Replaces everything with a fresh read (a list), and — when `emit` — tells subscribers exactly
   * what differs from before: one event per object added, changed or gone, none for the rest.
   */
  replace(entries: Iterable<{ key: string } & StoredParts>, emit: boolean): void {
    const before = new Map(this.objects);
    this.specs.clear();
    this.statuses.clear();
    this.bindings.clear();
    this.objects.clear();
    this.indexes.clear();
    for (const { key, ...parts } of entries) this.load(key, parts);
    if (emit) this.emitDifference(before);
  }

  /** Adds one object read on its own (not through a watch); emits `added` when it exists. */
  add(key: string, parts: StoredParts): void {
    const object = this.load(key, parts);
    if (object) this.subject.next({ type: 'added', key, object });
  }

  /** A put seen by a watch. A status or binding put before its spec waits for the spec. */
  put(part: Part, key: string, kv: Kv): void {
    const map = this.mapOf(part);
    const parsed = parseKv(kv);
    if (parsed) map.set(key, parsed);
    else map.delete(key);
    if (part !== 'spec' && !this.specs.has(key)) return;
    const old = this.objects.get(key);
    const object = this.rebuild(key);
    if (object) this.subject.next(old ? { type: 'modified', key, object, old } : { type: 'added', key, object });
  }

  /**
   * A delete seen by a watch. Statuses and bindings are deleted together with their spec, and the
   * spec's delete tells the story, so their deletes alone are silent. (Each prefix has its own watch,
   * so a binding's delete may arrive before its spec's: emitting it would show a task being deleted
   * as unbound for a moment, which a scheduler would take for a task to place.)
   */
  delete(part: Part, key: string): void {
    if (part !== 'spec') {
      this.mapOf(part).delete(key);
      return;
    }
    this.specs.delete(key);
    this.statuses.delete(key);
    this.bindings.delete(key);
    const old = this.objects.get(key);
    this.objects.delete(key);
    this.indexes.update(key, old, undefined);
    if (old) this.subject.next({ type: 'deleted', key, object: old, old });
  }

  complete(): void {
    this.subject.complete();
  }

  private load(key: string, parts: StoredParts): DeepReadonly<AnyObject> | undefined {
    if (parts.spec) this.specs.set(key, parts.spec);
    if (parts.status) this.statuses.set(key, parts.status);
    if (parts.binding) this.bindings.set(key, parts.binding);
    return this.rebuild(key);
  }

  private mapOf(part: Part): Map<string, Parsed> {
    return part === 'spec' ? this.specs : part === 'status' ? this.statuses : this.bindings;
  }

  private rebuild(key: string): DeepReadonly<AnyObject> | undefined {
    const spec = this.specs.get(key);
    if (!spec) return undefined;
    const stored = spec.value as AnyObject;
    const status = this.statuses.get(key);
    const binding = this.bindings.get(key);
    let revision = spec.revision;
    if (status && status.revision > revision) revision = status.revision;
    if (binding && binding.revision > revision) revision = binding.revision;
    // Shallow copies: the values are shared with the maps above, never mutated.
    const object = { ...stored, metadata: { ...stored.metadata, resourceVersion: String(revision) } } as AnyObject;
    if (status) object.status = status.value;
    else delete object.status;
    if (binding) object.spec = { ...(stored.spec as object), ...(binding.value as object) };
    const next = object as DeepReadonly<AnyObject>;
    this.indexes.update(key, this.objects.get(key), next);
    this.objects.set(key, next);
    return next;
  }

  private emitDifference(before: Map<string, DeepReadonly<AnyObject>>): void {
    for (const [key, old] of before) {
      if (!this.objects.has(key)) this.subject.next({ type: 'deleted', key, object: old, old });
    }
    for (const [key, object] of this.objects) {
      const old = before.get(key);
      if (!old) this.subject.next({ type: 'added', key, object });
      else if (old.metadata.resourceVersion !== object.metadata.resourceVersion) this.subject.next({ type: 'modified', key, object, old });
    }
  }
}

export { prefixRange } from './keys.ts';

/**
 * Drops the watchers' listeners at once, then cancels them. A cancel waits for etcd to confirm,
 * which with etcd unreachable (or a watch etcd already dropped) could be forever, and a watch without
 * listeners is harmless, so each cancel gets a second at most.
 */
export async function cancelWatchers(watchers: readonly Watcher[]): Promise<void> {
  for (const watcher of watchers) {
    watcher.removeAllListeners('put').removeAllListeners('delete').removeAllListeners('error');
    watcher.on('error', () => undefined);
  }
  const bounded = (watcher: Watcher) =>
    Promise.race([watcher.cancel().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 1_000).unref())]);
  await Promise.all(watchers.map(bounded));
}

export interface InformerOptions {
  /** Called when a watch breaks and the informer re-lists; for logs and tests. */
  onRelist?: (reason: string) => void;
}

/**
 * The life of an informer, whatever feeds it: list once (a failed start is forgotten so the next
 * call tries again), serve reads from the cache, and when a watch breaks, re-list with a capped
 * backoff until it works, keeping the cache as it was meanwhile. Subclasses say how they list and
 * watch (`listAndWatch`, which fills `this.cache`) and how they let go of their watches.
 */
export abstract class CachedInformer {
  protected readonly cache = new ObjectCache();
  protected stopped = false;
  private started: Promise<void> | undefined;
  private relisting: Promise<void> | undefined;
  private relists = 0;

  constructor(private readonly informerOptions: InformerOptions = {}) {}

  /** List, fill the cache (emitting the difference when `emit`), and start watching. */
  protected abstract listAndWatch(emit: boolean): Promise<void>;

  /** Let go of every watch. */
  protected abstract cancelAll(): Promise<void>;

  /** Every change after the subscriber joins. Read the cache for what came before. */
  get events$(): Observable<InformerEvent> {
    return this.cache.events$;
  }

  /** How many times the informer had to re-list (compaction, a broken watch). */
  get relistCount(): number {
    return this.relists;
  }

  /** Lists and starts watching; resolves once the cache holds the listed state. Idempotent. */
  start(): Promise<void> {
    this.started ??= this.listAndWatch(false).catch((error: unknown) => {
      this.started = undefined;
      throw error;
    });
    return this.started;
  }

  get(key: string): DeepReadonly<AnyObject> | undefined {
    return this.cache.get(key);
  }

  list(filter?: (object: DeepReadonly<AnyObject>) => boolean): DeepReadonly<AnyObject>[] {
    return this.cache.list(filter);
  }

  keys(): string[] {
    return this.cache.keys();
  }

  /** The cached objects filed under `value` in `index` (see `indexValues`), ordered by key. */
  byIndex(index: IndexName, value: string): DeepReadonly<AnyObject>[] {
    return this.cache.byIndex(index, value);
  }

  get size(): number {
    return this.cache.size;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.cancelAll();
    this.cache.complete();
  }

  protected relist(reason: string): void {
    if (this.stopped || this.relisting) return;
    this.relists += 1;
    this.informerOptions.onRelist?.(reason);
    this.relisting = (async () => {
      await this.cancelAll();
      for (let attempt = 0; !this.stopped; attempt += 1) {
        try {
          await this.listAndWatch(true);
          return;
        } catch (error) {
          // etcd may be down: try again with a capped backoff; the cache stays as it was meanwhile.
          // Said once per outage, through the same hook that said the watch broke.
          if (attempt === 0) this.informerOptions.onRelist?.(`re-list failed (${(error as Error).message}); the cache stays as it was until etcd answers`);
          await new Promise((resolve) => setTimeout(resolve, cappedBackoff({ firstMs: 50, maxMs: 1_000, attempt: attempt + 1 })));
        }
      }
    })().finally(() => {
      this.relisting = undefined;
    });
  }
}
