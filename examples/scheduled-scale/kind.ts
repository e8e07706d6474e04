// The ScheduledScale kind: "run this App with N instances during these hours, M otherwise".
// A user-defined kind is a KindDefinition with a zod schema, registered next to the built-in ones.
import { z } from 'zod';
import { API_VERSION, DNS_LABEL, type AnyObject, type CommonStatus } from '../../api/object.ts';
import type { KindDefinition } from '../../api/kinds/registry.ts';

export const DAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'] as const;
export type Day = (typeof DAYS)[number];

const timeOfDay = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, { error: 'a time of day as HH:MM, 24-hour, e.g. "08:00"' });

export const windowSchema = z.strictObject({
  /** Start, inclusive. A window whose `to` is not after `from` runs past midnight into the next day. */
  from: timeOfDay,
  /** End, exclusive. */
  to: timeOfDay,
  /** Days the window starts on; every day when absent. */
  days: z.array(z.enum(DAYS)).min(1).optional(),
  instances: z.number().int().min(0),
});
export type ScaleWindow = z.infer<typeof windowSchema>;

export const scheduledScaleSpecSchema = z.strictObject({
  /** The App to scale, in the same namespace. */
  app: z.string().regex(DNS_LABEL, { error: 'the name of an App in this namespace' }),
  /** IANA name; times of day are read in this zone. */
  timeZone: z.string().min(1).default('UTC'),
  /** The first window that contains the current time decides; earlier windows win. */
  windows: z.array(windowSchema).min(1),
  /** Instances outside every window. */
  otherwise: z.number().int().min(0),
});
export type ScheduledScaleSpec = z.infer<typeof scheduledScaleSpecSchema>;

export interface ScheduledScaleStatus extends CommonStatus {
  /** What the schedule says now, and which window says it ("otherwise" when none). */
  instances?: number;
  window?: string;
  /** When the App was last scaled by this object. */
  lastScaledAt?: string;
  /** When the schedule next asks for a different number, and what number. */
  nextChangeAt?: string;
  nextInstances?: number;
}

const specOf = (o: AnyObject) => o.spec as Partial<ScheduledScaleSpec>;
const statusOf = (o: AnyObject) => (o.status ?? {}) as ScheduledScaleStatus;

export const scheduledScaleKind: KindDefinition = {
  apiVersion: API_VERSION,
  kind: 'ScheduledScale',
  plural: 'scheduledscales',
  singular: 'scheduledscale',
  shortNames: ['ss'],
  namespaced: true,
  spec: scheduledScaleSpecSchema,
  columns: [
    { header: 'APP', value: (o) => specOf(o).app ?? '' },
    { header: 'INSTANCES', value: (o) => String(statusOf(o).instances ?? '-') },
    { header: 'WINDOW', value: (o) => statusOf(o).window ?? '-' },
    { header: 'NEXT', value: (o) => (statusOf(o).nextChangeAt ? `${statusOf(o).nextInstances} at ${statusOf(o).nextChangeAt}` : '-') },
  ],
};
