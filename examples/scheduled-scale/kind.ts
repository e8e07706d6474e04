// The ScheduledScale kind: "run this App with N instances during these hours, M otherwise".
// One definition: the controller's store validates with these zod schemas (defaults included), its
// caches return objects typed by them, and the CLI learns the kind from the CustomKind made from
// them, which the controller installs when it starts. A message given as `{ error: '...' }` is what
// `capstan apply` shows for a bad field.
import { commonStatusSchema, defineKind, type KindObject } from 'capstan/sdk';
import { z } from 'zod';

export const DAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'] as const;
export type Day = (typeof DAYS)[number];

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
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
  /** IANA name; times of day are read in this zone. Checked by the controller (see controller.ts). */
  timeZone: z.string().min(1).default('UTC'),
  /** The first window that contains the current time decides; earlier windows win. */
  windows: z.array(windowSchema).min(1),
  /** Instances outside every window. */
  otherwise: z.number().int().min(0),
});
export type ScheduledScaleSpec = z.infer<typeof scheduledScaleSpecSchema>;

export const scheduledScaleStatusSchema = commonStatusSchema.extend({
  /** What the schedule says now, and which window says it ("otherwise" when none). */
  instances: z.number().int().optional(),
  window: z.string().optional(),
  /** When the App was last scaled by this object. */
  lastScaledAt: z.string().optional(),
  /** When the schedule next asks for a different number, and what number. */
  nextChangeAt: z.string().optional(),
  nextInstances: z.number().int().optional(),
});
export type ScheduledScaleStatus = z.infer<typeof scheduledScaleStatusSchema>;

export const scheduledScaleKind = defineKind({
  kind: 'ScheduledScale',
  shortNames: ['ss'],
  spec: scheduledScaleSpecSchema,
  status: scheduledScaleStatusSchema,
  columns: [
    { header: 'App', jsonPath: '.spec.app' },
    { header: 'Instances', jsonPath: '.status.instances' },
    { header: 'Window', jsonPath: '.status.window' },
    { header: 'Next', jsonPath: '.status.nextChangeAt' },
    { header: 'Then', jsonPath: '.status.nextInstances', wide: true },
  ],
});
export type ScheduledScale = KindObject<typeof scheduledScaleKind>;
