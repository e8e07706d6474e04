// Events live under /capstan/events/<namespace>/<id> (DESIGN.md "Keys in etcd"), each bound to an
// expiring lease, as whole objects rather than spec/status pairs: the recorder writes them there
// (api/events.ts). get and describe read them from there, plus any Event object stored the
// ordinary way, so both paths show.
import type { Etcd3, Watcher } from 'etcd3';
import { eventPrefix, prefixRange } from '../api/keys.ts';
import type { InformerEvent } from '../api/informer.ts';
import type { KindDefinition } from '../api/kinds/registry.ts';
import type { AnyObject, DeepReadonly } from '../api/object.ts';
import type { Store } from '../api/store.ts';
import { openWatch } from '../api/watch.ts';

export async function listEvents(client: Etcd3, store: Store, namespace: string | undefined): Promise<AnyObject[]> {
  const raw = await client.getAll().prefix(eventPrefix(namespace)).strings();
  const leased = Object.values(raw).flatMap((text) => {
    const object = parseEvent(text);
    return object ? [object] : [];
  });
  const stored = store.registry.find('Event') ? (await store.list('Event', namespace ? { namespace } : {})).items : [];
  return [...leased, ...stored];
}

/**
 * Oldest first, newest last, as kubectl shows them: by when each last happened (a repeat moves an
 * event down), then when it first happened, then by name so equal times keep one order.
 */
export function sortEvents<T extends DeepReadonly<AnyObject> | AnyObject>(events: readonly T[]): T[] {
  const spec = (event: T) => event.spec as { lastTimestamp?: string; firstTimestamp?: string } | undefined;
  const time = (value: string | undefined) => (value ? Date.parse(value) || 0 : 0);
  return [...events].sort(
    (a, b) =>
      time(spec(a)?.lastTimestamp) - time(spec(b)?.lastTimestamp) ||
      time(spec(a)?.firstTimestamp) - time(spec(b)?.firstTimestamp) ||
      nameOrder(a, b),
  );
}

function nameOrder(a: DeepReadonly<AnyObject> | AnyObject, b: DeepReadonly<AnyObject> | AnyObject): number {
  const key = (o: typeof a) => `${o.metadata.namespace ?? ''}\u0000${o.metadata.name}`;
  return key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;
}

function parseEvent(text: string): AnyObject | undefined {
  try {
    const object = JSON.parse(text) as AnyObject;
    return object?.kind === 'Event' && object.metadata?.name ? object : undefined;
  } catch {
    return undefined;
  }
}

/** What `get -w` follows: the objects there are now, then a callback per change until stopped. */
export interface Feed {
  initial: AnyObject[];
  stop(): Promise<void>;
}

type Change = Pick<InformerEvent, 'type'> & { object: DeepReadonly<AnyObject> };

/** An informer's list, then its events: what `get -w` follows for every kind but Event. */
export async function informerFeed(client: Etcd3, definition: KindDefinition, onChange: (change: Change) => void): Promise<Feed> {
  // Loaded here: a plain `get` (no -w) does without RxJS.
  const { Informer } = await import('../api/informer.ts');
  const informer = new Informer(client, definition);
  await informer.start();
  const subscription = informer.events$.subscribe(onChange);
  return {
    initial: informer.list() as AnyObject[],
    async stop() {
      subscription.unsubscribe();
      await informer.stop();
    },
  };
}

/**
 * Events, from both places (as listEvents), then every event put after that list: leased ones from a
 * watch on the events prefix that starts right after the list's revision, so none is missed or shown
 * twice, and stored ones from an informer (of every namespace: the caller filters). An event
 * expiring with its lease is not reported: it is history ageing out, not a change.
 */
export async function followEvents(client: Etcd3, store: Store, namespace: string | undefined, onChange: (change: Change) => void): Promise<Feed> {
  const prefix = eventPrefix(namespace);
  const response = (await client.kv.range(prefixRange(prefix) as never)) as unknown as { header: { revision: string }; kvs: { key: Buffer; value: Buffer }[] };
  const seen = new Set(response.kvs.map((kv) => kv.key.toString()));
  const leased = response.kvs.flatMap((kv) => parseEvent(kv.value.toString()) ?? []);
  const watcher: Watcher = await openWatch(client.watch().prefix(prefix).startRevision(String(BigInt(response.header.revision) + 1n)), {
    put: (kv) => {
      const object = parseEvent(kv.value.toString());
      if (!object) return;
      const key = kv.key.toString();
      onChange({ type: seen.has(key) ? 'modified' : 'added', object });
      seen.add(key);
    },
  });
  const stored = store.registry.find('Event') ? await informerFeed(client, store.kind('Event'), (change) => {
        if (change.type !== 'deleted') onChange(change);
      }) : undefined;
  return {
    initial: [...leased, ...(stored?.initial ?? [])],
    async stop() {
      await Promise.all([watcher.cancel().catch(() => undefined), stored?.stop()]);
    },
  };
}
