import type { NodeView, Resources, Snapshot, TaskDemand } from '../snapshot.ts';
import type { Filter } from './filter.ts';

// A small epsilon: 0.1 + 0.2 cpus must fit into 0.3.
const EPSILON = 1e-9;

/** How many Apps the reason names as holding a node's resources; the rest are counted. */
const MAX_HOLDERS = 3;

/**
 * Capacity minus what bound tasks (and this batch's assumed placements) already take. The four
 * kinds are spelled out rather than looped over by name: this runs for every node a placement
 * looks at, and the literal property reads are several times faster than `used[kind]`.
 */
export const resourcesFit: Filter = (task, node, snapshot) => {
  const used = snapshot.usedOn(node.name);
  const wanted = task.resources;
  const capacity = node.capacity;
  if (used.cpus + wanted.cpus > capacity.cpus + EPSILON) return 'insufficient cpus';
  if (used.mem + wanted.mem > capacity.mem + EPSILON) return 'insufficient mem';
  if (used.disk + wanted.disk > capacity.disk + EPSILON) return 'insufficient disk';
  if (used.gpus + wanted.gpus > capacity.gpus + EPSILON) return 'insufficient gpus';
  return null;
};

const say = {
  shortage: (node: string, kind: string, wanted: string, used: string, capacity: string, holders: string) =>
    `node ${node}: insufficient ${kind} (wants ${wanted}, ${used} of ${capacity} allocated${holders ? `: ${holders}` : ''})`,
  more: (count: number) => `${count} more`,
};

const UNITS: Record<keyof Resources, string> = { cpus: '', mem: ' MiB', disk: ' MiB', gpus: '' };

/**
 * Why `reason` (one of resourcesFit's, "insufficient cpus") holds on `node`, naming what holds the
 * resource: "node local: insufficient cpus (wants 1, 2 of 2 allocated: default/web 1, default/echo 1)".
 * Built only for the message of a task that fit nowhere, never while placing. The biggest holders
 * come first and at most MAX_HOLDERS are named, so the line stays short on a crowded node.
 */
export function describeShortage(reason: string, task: TaskDemand, node: NodeView, snapshot: Snapshot): string | undefined {
  const kind = RESOURCE_KINDS.find((k) => reason === `insufficient ${k}`);
  if (!kind) return undefined;
  const amount = (value: number) => `${round(value)}${UNITS[kind]}`;
  const holders = [...snapshot.holdingsOn(node.name)]
    .filter(([, holding]) => holding[kind] > EPSILON)
    .sort(([a, x], [b, y]) => y[kind] - x[kind] || (a < b ? -1 : 1));
  const named = holders.slice(0, MAX_HOLDERS).map(([app, holding]) => `${app} ${round(holding[kind])}`);
  if (holders.length > MAX_HOLDERS) named.push(say.more(holders.length - MAX_HOLDERS));
  return say.shortage(node.name, kind, amount(task.resources[kind]), round(snapshot.usedOn(node.name)[kind]), amount(node.capacity[kind]), named.join(', '));
}

const RESOURCE_KINDS: readonly (keyof Resources)[] = ['cpus', 'mem', 'disk', 'gpus'];

/** Sums of fractional cpus read 0.30000000000000004; three decimals are plenty for a person. */
function round(value: number): string {
  return String(Math.round(value * 1000) / 1000);
}
