// The event recorder that controllers get in their context, and that node-local components (the load
// balancer) use too, so it lives with the store rather than with the controllers. Events are Event objects (api/kinds/event.ts)
// stored under /capstan/events/<namespace>/<id> and bound to a lease, so they expire on their own
// (DESIGN.md "Keys in etcd"). The id is derived from the object, reason and message: a repeat of the
// same event bumps `count` and `lastTimestamp` instead of adding another, as in Kubernetes.
import { createHash, randomUUID } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import { eventKey } from './keys.ts';
import type { KindRegistry } from './kinds/registry.ts';
import type { AnyObject, DeepReadonly } from './object.ts';
import { API_VERSION, DEFAULT_NAMESPACE } from './object.ts';

/** What a component records events with (controllers get one in their ReconcileContext). */
export interface EventRecorder {
  /** Best effort: a failure to record is logged, never thrown. */
  record(
    object: DeepReadonly<AnyObject>,
    event: { type?: 'Normal' | 'Warning'; reason: string; message: string },
  ): Promise<void>;
}

export interface EventRecorderOptions {
  client: Etcd3;
  registry: KindRegistry;
  /** The controller's name: the event's source.component. */
  component: string;
  ttlSeconds?: number;
  log: Logger;
  now: () => Date;
}

export const DEFAULT_EVENT_TTL_SECONDS = 3600;

export function createEventRecorder(options: EventRecorderOptions): EventRecorder {
  const ttl = options.ttlSeconds ?? DEFAULT_EVENT_TTL_SECONDS;
  return {
    async record(object, event) {
      try {
        await write(options, ttl, object, { type: event.type ?? 'Normal', reason: event.reason, message: event.message });
      } catch (error) {
        options.log.warn({ err: error, reason: event.reason }, 'could not record an event');
      }
    },
  };
}

async function write(
  options: EventRecorderOptions,
  ttl: number,
  object: DeepReadonly<AnyObject>,
  event: { type: 'Normal' | 'Warning'; reason: string; message: string },
): Promise<void> {
  const { client, registry } = options;
  const namespace = object.metadata.namespace ?? DEFAULT_NAMESPACE;
  const digest = createHash('sha256')
    .update([object.kind, object.metadata.uid ?? object.metadata.name, event.reason, event.message].join('\0'))
    .digest('hex')
    .slice(0, 12);
  const id = `${object.metadata.name}.${digest}`;
  const key = eventKey(namespace, id);
  const now = options.now().toISOString();
  const previous = await client.get(key).string();
  const before = previous ? (JSON.parse(previous) as { metadata: { uid: string; creationTimestamp: string }; spec: { count: number; firstTimestamp: string } }) : undefined;
  const spec: Record<string, unknown> = {
    involvedObject: {
      kind: object.kind,
      name: object.metadata.name,
      ...(object.metadata.namespace ? { namespace: object.metadata.namespace } : {}),
      ...(object.metadata.uid ? { uid: object.metadata.uid } : {}),
    },
    reason: event.reason,
    message: event.message,
    type: event.type,
    count: (before?.spec.count ?? 0) + 1,
    firstTimestamp: before?.spec.firstTimestamp ?? now,
    lastTimestamp: now,
    source: { component: options.component },
  };
  // Validate with the Event kind when this process knows it, so what we write is what `describe` reads.
  const eventKind = registry.find('Event');
  const parsed = eventKind ? (eventKind.spec.parse(spec) as Record<string, unknown>) : spec;
  const stored = {
    apiVersion: API_VERSION,
    kind: 'Event',
    metadata: { name: id, namespace, uid: before?.metadata.uid ?? randomUUID(), creationTimestamp: before?.metadata.creationTimestamp ?? now },
    spec: parsed,
  };
  // A fresh lease per write: the event lives `ttl` after its last occurrence. Concurrent repeats may
  // lose a count; events are for people, and a lost increment is not worth a transaction loop.
  const lease = client.lease(ttl, { autoKeepAlive: false });
  lease.on('lost', () => undefined);
  await lease.put(key).value(JSON.stringify(stored));
  lease.release();
}
