// Event: what happened to an object and why, for people ("0/5 nodes fit: 3 insufficient mem,
// 2 hostname:UNIQUE"). Stored under an expiring lease, so events age out on their own; a repeat of the
// same reason on the same object bumps `count` and `lastTimestamp` instead of adding another.
import { z } from 'zod';
import { API_VERSION } from '../object.ts';
import type { AnyObject } from '../object.ts';
import type { KindDefinition } from './registry.ts';

export const eventSpecSchema = z.strictObject({
  involvedObject: z.strictObject({
    kind: z.string().min(1),
    namespace: z.string().optional(),
    name: z.string().min(1),
    uid: z.string().optional(),
  }),
  /** CamelCase, machine-readable: FailedScheduling, Started, Unhealthy, RolledBack, ... */
  reason: z.string().min(1),
  message: z.string(),
  type: z.enum(['Normal', 'Warning']).default('Normal'),
  count: z.number().int().min(1).default(1),
  firstTimestamp: z.string(),
  lastTimestamp: z.string(),
  source: z.strictObject({ component: z.string().min(1), node: z.string().optional() }),
});
export type EventSpec = z.infer<typeof eventSpecSchema>;

const specOf = (object: AnyObject) => object.spec as Partial<EventSpec>;

function involved(object: AnyObject): string {
  const ref = specOf(object).involvedObject;
  return ref ? `${ref.kind.toLowerCase()}/${ref.name}` : '';
}

export const eventKind: KindDefinition = {
  apiVersion: API_VERSION,
  kind: 'Event',
  plural: 'events',
  singular: 'event',
  shortNames: ['ev'],
  namespaced: true,
  spec: eventSpecSchema,
  columns: [
    { header: 'LAST SEEN', value: (o) => specOf(o).lastTimestamp ?? '' },
    { header: 'TYPE', value: (o) => specOf(o).type ?? '' },
    { header: 'REASON', value: (o) => specOf(o).reason ?? '' },
    { header: 'OBJECT', value: involved },
    { header: 'MESSAGE', value: (o) => specOf(o).message ?? '' },
    { header: 'COUNT', wide: true, value: (o) => String(specOf(o).count ?? 1) },
    { header: 'SOURCE', wide: true, value: (o) => [specOf(o).source?.component, specOf(o).source?.node].filter(Boolean).join(', ') },
  ],
};
