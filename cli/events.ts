// Events live under /capstan/events/<namespace>/<id> (DESIGN.md "Keys in etcd"), each bound to an
// expiring lease, as whole objects rather than spec/status pairs: the recorder writes them there
// (controllers/events.ts). get and describe read them from there, plus any Event object stored the
// ordinary way, so both paths show.
import type { Etcd3 } from 'etcd3';
import { eventPrefix } from '../api/keys.ts';
import type { AnyObject } from '../api/object.ts';
import type { Store } from '../api/store.ts';

export async function listEvents(client: Etcd3, store: Store, namespace: string | undefined): Promise<AnyObject[]> {
  const raw = await client.getAll().prefix(eventPrefix(namespace)).strings();
  const leased = Object.values(raw).flatMap((text) => {
    try {
      const object = JSON.parse(text) as AnyObject;
      return object?.kind === 'Event' && object.metadata?.name ? [object] : [];
    } catch {
      return [];
    }
  });
  const stored = store.registry.find('Event') ? (await store.list('Event', namespace ? { namespace } : {})).items : [];
  return [...leased, ...stored];
}
