// Each Node's status.allocated: what the tasks bound to it hold, summed the way the scheduler counts
// them (isBound, taskResources), and the sizes of the Volumes on it in disk, so `get nodes` shows
// what placement decides against.
//
// The nodes controller writes it, not the scheduler: the scheduler's round is the hot path of a
// burst (bench:scheduler), and it already knows these sums in its snapshot, but writing them there
// would put a status write per node into every round and make a binding's cost depend on the node
// count. Here the sums are taken from the Task cache's `node` index, in a pass of their own that
// task changes queue (coalesced by the work queue, and at most one every ALLOCATION_INTERVAL_MS),
// and a node's status is written only when its sum moved. The figure can trail the bindings by that
// interval; it is for people, and placement never reads it.
import { isStoreError } from '../api/errors.ts';
import type { InformerEvent } from '../api/informer.ts';
import type { NodeStatus } from '../api/kinds/node.ts';
import { deepEqual } from '../api/merge.ts';
import type { AnyObject, DeepReadonly } from '../api/object.ts';
import type { ReconcileContext } from './contract.ts';
import { isBound, taskResources } from './scheduler/demand.ts';
import type { TaskSpec } from '../api/kinds/task.ts';
import type { VolumeSpec } from '../api/kinds/volume.ts';

export type Allocated = NonNullable<NodeStatus['allocated']>;

/** Shortest time between two passes; a node's figure trails its bindings by at most this much. */
export const ALLOCATION_INTERVAL_MS = 250;
/** Node status writes in flight at once. */
const WRITES_IN_FLIGHT = 16;

/**
 * Whether a task change moves a node's allocation: a task bound, finished (or Lost and let go) or
 * removed. A binding is written once and a task's template never changes, so a bound task's share
 * cannot change while it stays bound.
 */
export function allocationChanged(event: InformerEvent): boolean {
  if (event.type === 'modified') return isBound(event.old!) !== isBound(event.object);
  return isBound(event.object);
}

/** A Volume created or gone moves its node's disk; its status writes do not. */
export function volumeAllocationChanged(event: InformerEvent): boolean {
  return event.type !== 'modified';
}

/**
 * The sum of what `tasks` (those bound to one node, and others) hold, with the sizes of `volumes`
 * (those on that node) in disk, rounded to a millionth.
 */
export function allocationOf(tasks: readonly DeepReadonly<AnyObject>[], volumes: readonly DeepReadonly<AnyObject>[] = []): Allocated {
  const total: Allocated = { cpus: 0, mem: 0, disk: 0, gpus: 0, ports: 0 };
  for (const volume of volumes) total.disk += (volume.spec as DeepReadonly<VolumeSpec>).size;
  for (const task of tasks) {
    if (!isBound(task)) continue;
    const held = taskResources(task.spec as DeepReadonly<TaskSpec>);
    total.cpus += held.cpus;
    total.mem += held.mem;
    total.disk += held.disk;
    total.gpus += held.gpus;
    total.ports += (task.spec as DeepReadonly<TaskSpec>).hostPorts?.length ?? 0;
  }
  // 0.1 + 0.2 is 0.30000000000000004: rounded, so a person reads 0.3 and equal sums compare equal.
  for (const kind of ['cpus', 'mem', 'disk', 'gpus'] as const) total[kind] = Math.round(total[kind] * 1e6) / 1e6;
  return total;
}

/** Writes status.allocated of every cached Node whose sum differs from the stored one. */
export async function writeAllocations(ctx: ReconcileContext): Promise<void> {
  const tasks = ctx.informer('Task');
  const volumes = ctx.informer('Volume');
  const changed: { node: DeepReadonly<AnyObject>; allocated: Allocated }[] = [];
  for (const node of ctx.informer('Node').list()) {
    if (node.metadata.deletionTimestamp) continue;
    const allocated = allocationOf(tasks.byIndex('node', node.metadata.name), volumes.byIndex('node', node.metadata.name));
    if (!deepEqual(allocated, (node.status as DeepReadonly<NodeStatus> | undefined)?.allocated)) changed.push({ node, allocated });
  }
  for (let i = 0; i < changed.length; i += WRITES_IN_FLIGHT) {
    await Promise.all(changed.slice(i, i + WRITES_IN_FLIGHT).map(({ node, allocated }) => writeAllocation(node, allocated, ctx)));
  }
}

async function writeAllocation(node: DeepReadonly<AnyObject>, allocated: Allocated, ctx: ReconcileContext): Promise<void> {
  try {
    await ctx.store.updateStatus({ ...(node as AnyObject), status: { ...((node.status as NodeStatus | undefined) ?? {}), allocated } });
  } catch (error) {
    // The agent or the lifecycle round wrote the Node meanwhile: that change queues another pass.
    if (!isStoreError(error, 'Conflict') && !isStoreError(error, 'NotFound')) throw error;
  }
}
