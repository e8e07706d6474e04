// Volume: one local persistent volume of one instance slot of a resident App (Marathon's reservation
// and persistent volume, as one object). The volumes controller creates it at the slot's first
// placement, spec written once; the node's agent makes the directory and reports it. Named
// volumeObjectName(app, volume, slot). Deliberately not owned by the App (no ownerReferences): the
// gc must not delete data with its App; `capstan delete volume` (or --wipe) does. The finalizer keeps
// the object until the agent has removed the directory and released the disk it held.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { API_VERSION, checkDnsLabel, DNS_LABEL_MAX } from '../object.ts';
import type { AnyObject, CommonStatus } from '../object.ts';
import type { FieldProblem, KindDefinition } from './registry.ts';

export const volumeSpecSchema = z.strictObject({
  /** The App (same namespace) whose instance slot uses it. */
  app: z.string().min(1),
  /** The volume's name in the App's spec.volumes. */
  volume: z.string().min(1),
  /** The instance slot, from 0: the Task bound with this slot mounts it (TaskSpec.slot). */
  slot: z.number().int().min(0),
  /** MiB, from the App's persistent.size when created, counted against the node's capacity.disk. */
  size: z.number().int().min(1),
  /** The node that holds the directory: the slot's tasks are placed only there. */
  nodeName: z.string().min(1),
});
export type VolumeSpec = z.infer<typeof volumeSpecSchema>;

/**
 * Pending: created, the agent has not made the directory yet. Bound: a task of its slot uses it.
 * Reserved: kept for its slot, no task now (scale-down, a task between replacements). Waiting: its
 * node is gone or unreachable, the slot waits for it (never recreated empty elsewhere). Deleting:
 * being wiped; the agent removes the directory, then the finalizer.
 */
export const VOLUME_PHASES = ['Pending', 'Bound', 'Reserved', 'Waiting', 'Deleting'] as const;
export type VolumePhase = (typeof VOLUME_PHASES)[number];

/** `phase`, `task` and `message` are the volumes controller's; `hostPath`, `usedMiB` and the Provisioned condition the agent's. */
export interface VolumeStatus extends CommonStatus {
  phase: VolumePhase;
  /** The Task using it (Bound). */
  task?: string;
  /** The directory on the node. */
  hostPath?: string;
  /** What the directory holds, in MiB, as the agent last measured it. */
  usedMiB?: number;
  /** Why it is in its phase, for `describe`: the node it waits for, what a wipe is waiting on. */
  message?: string;
}

/** The hash suffix of a cut name: 8 hex digits, 32 bits, enough that two long names colliding is no concern. */
const HASH_LENGTH = 8;

/**
 * `<app>-<volume>-<slot>`, a DNS label. App and volume names are labels of up to 63 characters each,
 * so a long pair is cut to fit, keeping the slot at the end and adding a hash of the whole name,
 * so that two pairs cut alike still name different objects.
 */
export function volumeObjectName(app: string, volume: string, slot: number): string {
  const full = `${app}-${volume}-${slot}`;
  if (full.length <= DNS_LABEL_MAX) return full;
  const hash = createHash('sha256').update(full).digest('hex').slice(0, HASH_LENGTH);
  const tail = `-${hash}-${slot}`;
  // A cut may end on "-", which a label may not have before the tail's own "-".
  const head = `${app}-${volume}`.slice(0, DNS_LABEL_MAX - tail.length).replace(/-+$/, '');
  return `${head}${tail}`;
}

const say = {
  name: (expected: string) => `the name volumeObjectName gives its app, volume and slot ("${expected}")`,
};

/** The name is the slot's identity: two objects for one slot must be impossible, whoever creates them. */
function checkVolume(object: AnyObject): FieldProblem[] {
  const spec = object.spec as VolumeSpec;
  const expected = volumeObjectName(spec.app, spec.volume, spec.slot);
  if (object.metadata.name === expected && checkDnsLabel(expected) === null) return [];
  return [{ path: ['metadata', 'name'], expected: say.name(expected), found: `"${object.metadata.name}"` }];
}

/** Sizes as kubectl shows quantities: MiB as "512Mi". */
export const mebibytes = (value: number | undefined) => (value === undefined ? '-' : `${Math.round(value)}Mi`);

const specOf = (object: AnyObject) => object.spec as Partial<VolumeSpec>;
const statusOf = (object: AnyObject) => object.status as Partial<VolumeStatus> | undefined;

export const volumeKind: KindDefinition = {
  apiVersion: API_VERSION,
  kind: 'Volume',
  plural: 'volumes',
  singular: 'volume',
  shortNames: ['vol'],
  namespaced: true,
  spec: volumeSpecSchema,
  check: checkVolume,
  columns: [
    { header: 'APP', value: (o) => specOf(o).app ?? '' },
    { header: 'SLOT', value: (o) => String(specOf(o).slot ?? '-') },
    { header: 'NODE', value: (o) => specOf(o).nodeName ?? '<none>' },
    { header: 'SIZE', value: (o) => mebibytes(specOf(o).size) },
    { header: 'PHASE', value: (o) => statusOf(o)?.phase ?? 'Pending' },
    { header: 'USED', value: (o) => mebibytes(statusOf(o)?.usedMiB) },
    { header: 'MESSAGE', wide: true, value: (o) => statusOf(o)?.message ?? '' },
  ],
};
