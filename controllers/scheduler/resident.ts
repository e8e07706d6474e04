// Placing a task of a resident App (one with persistent volumes, app.ts isResident). Each instance
// slot of the App has its Volumes (volume.ts) on one node, made at the slot's first placement; a
// task takes a free slot (one no live task holds) and goes to that slot's node, or waits for it.
// Only an App with no free slot and fewer slots than instances gets a new slot, on whichever node
// the stack chooses, with the volumes' sizes added to the disk it asks for. A slot whose node is
// down is waited for, never made again empty elsewhere (Marathon lost data that way, #4603): the
// user frees it by wiping its volumes (`capstan delete volume`), whether the node is gone or only not
// ready (controllers/volumes releases such a Volume at once).
//
// The scheduler runs one round at a time for the whole cluster, and the snapshot counts every
// slot taken and Volume created in a round as it happens, so a slot is never handed out twice.
import type { PersistentVolume } from './demand.ts';
import type { Stack } from './stack.ts';
import type { Placement, Snapshot, TaskDemand, VolumeView } from './snapshot.ts';

const say = {
  nodeGone: (node: string, volume: string, slot: number) => `waiting for node ${node}, which holds volume ${volume} (slot ${slot}): the node is gone; it comes back when its agent registers again, or wipe the volume (capstan delete volume ${volume}) to free the slot`,
  nodeNotReady: (node: string, volume: string, slot: number) =>
    `waiting for node ${node}, which holds volume ${volume} (slot ${slot}): the node is not ready; wipe the volume (capstan delete volume ${volume}) to free the slot`,
  pinned: (reason: string, node: string, volume: string, slot: number) => `${reason} (volume ${volume} of slot ${slot} is on node ${node})`,
  wiping: (volume: string, slot: number) => `waiting for volume ${volume} (slot ${slot}) to be wiped`,
  noFreeSlot: (app: string, slots: number, instances: number) =>
    `waiting for a free slot: each of the ${slots} slots of ${app} is held by a live task, and it asks for ${instances} instances; a slot frees when its task has stopped`,
};

export type ResidentPlacement =
  | {
      kind: 'placed';
      placement: Placement;
      slot: number;
      /** The slot's persistent volumes that have no Volume yet: to create on the placement's node. */
      create: PersistentVolume[];
    }
  | { kind: 'unplaced'; message: string };

export interface ResidentInput {
  demand: TaskDemand;
  /** The task's persistent volumes (its template's). */
  persistent: readonly PersistentVolume[];
  /** The App's spec.instances: slots numbered below it may be made. */
  instances: number;
  stack: Stack;
  snapshot: Snapshot;
}

export function placeResident(input: ResidentInput): ResidentPlacement {
  const { demand, persistent, snapshot } = input;
  const slots = snapshot.slotsOf(demand.app);
  const held = snapshot.heldSlots(demand.app);
  const free = [...slots].filter(([slot]) => !held.has(slot)).sort(([a], [b]) => a - b);
  // Free slots lowest first; the reason of the lowest that cannot take the task stands if none can.
  let blocked: string | undefined;
  let wiped: string | undefined;
  for (const [slot, volumes] of free) {
    const wiping = volumes.find((volume) => volume.deleting);
    if (wiping) {
      // Its data is going: the number is taken again (fresh, maybe elsewhere) once its Volumes are gone.
      wiped ??= say.wiping(wiping.name, slot);
      continue;
    }
    const result = placeInSlot(input, slot, volumes);
    if (result.kind === 'placed') return result;
    blocked ??= result.message;
  }
  // A free slot keeps the task waiting for it: never a new slot while an old one, with its data,
  // waits for its node or for room there.
  if (blocked) return { kind: 'unplaced', message: blocked };
  const slot = lowestUnused(slots);
  if (slot >= input.instances) return { kind: 'unplaced', message: wiped ?? unreachableSlot(slots, snapshot) ?? say.noFreeSlot(demand.app, slots.size, input.instances) };
  const wanted = persistent.reduce((sum, volume) => sum + volume.size, 0);
  const result = input.stack.place({ ...demand, resources: { ...demand.resources, disk: demand.resources.disk + wanted } }, snapshot);
  if (result.kind === 'unplaced') return { kind: 'unplaced', message: result.message };
  return { kind: 'placed', placement: result.placement, slot, create: [...persistent] };
}

function placeInSlot(input: ResidentInput, slot: number, volumes: readonly VolumeView[]): ResidentPlacement {
  const { demand, persistent, snapshot, stack } = input;
  const { node: nodeName, name } = volumes[0]!;
  const node = snapshot.node(nodeName);
  if (!node) return { kind: 'unplaced', message: say.nodeGone(nodeName, name, slot) };
  if (!node.ready) return { kind: 'unplaced', message: say.nodeNotReady(nodeName, name, slot) };
  // A persistent volume the template gained since the slot was made is created with this placement.
  const missing = persistent.filter((p) => !volumes.some((volume) => volume.volume === p.name));
  const extra = missing.reduce((sum, volume) => sum + volume.size, 0);
  const pinned = { ...demand, pinnedNode: nodeName, resources: { ...demand.resources, disk: demand.resources.disk + extra } };
  const result = stack.placeOn(pinned, node, snapshot);
  if (result.kind === 'unplaced') return { kind: 'unplaced', message: say.pinned(result.message, nodeName, name, slot) };
  return { kind: 'placed', placement: result.placement, slot, create: missing };
}

/**
 * Why a slot held by a task on a node that went away is what the App waits for: its task is Lost,
 * and holds the slot until its agent (or the nodes controller, at expungeAfterSeconds) lets it go,
 * since the workload may still run there.
 */
function unreachableSlot(slots: ReadonlyMap<number, readonly VolumeView[]>, snapshot: Snapshot): string | undefined {
  for (const [slot, volumes] of [...slots].sort(([a], [b]) => a - b)) {
    const { node: nodeName, name } = volumes[0]!;
    const node = snapshot.node(nodeName);
    if (!node) return say.nodeGone(nodeName, name, slot);
    if (!node.ready) return say.nodeNotReady(nodeName, name, slot);
  }
  return undefined;
}

/** The lowest slot number with no Volume (a wiped slot's number is free again). */
function lowestUnused(slots: ReadonlyMap<number, unknown>): number {
  let slot = 0;
  while (slots.has(slot)) slot += 1;
  return slot;
}
