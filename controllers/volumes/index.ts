// The volumes controller: each Volume's status.phase, task and message (plan.ts), from its slot's
// tasks and its node. A Volume being deleted (a wipe) has its slot's task deleted first, so the
// agent stops the workload before it removes the directory and lets the finalizer go; a Volume whose
// Node object is gone has nothing left to remove it, so its finalizer is released here, with an
// event that says the directory was left behind.
//
// The scheduler creates Volumes and pins tasks to them (scheduler/resident.ts); the agent makes and
// removes the directory and writes hostPath, usedMiB and the Provisioned condition. Each writes its
// own fields of the status: this controller's write keeps what the agent wrote.
import { isStoreError } from '../../api/errors.ts';
import type { InformerEvent } from '../../api/informer.ts';
import type { TaskSpec } from '../../api/kinds/task.ts';
import type { VolumeSpec, VolumeStatus } from '../../api/kinds/volume.ts';
import { VOLUME_FINALIZER } from '../../api/kinds/wellknown.ts';
import { getCondition, parseRefKey, refKey, type AnyObject, type CapstanObject, type DeepReadonly } from '../../api/object.ts';
import { done, type Caches, type ControllerDefinition, type ReconcileContext, type Result } from '../contract.ts';
import { isBound } from '../scheduler/demand.ts';
import { planVolume, type NodeState, type SlotTask } from './plan.ts';

export const VOLUMES = 'volumes';

type Volume = DeepReadonly<CapstanObject<VolumeSpec, VolumeStatus>>;

const say = {
  deletingTask: 'volumes: deleting the task of a slot being wiped',
  released: 'volumes: released a Volume whose node is gone',
};

export function volumesController(): ControllerDefinition {
  return {
    name: VOLUMES,
    primaryKind: 'Volume',
    watches: [
      { kind: 'Volume' },
      { kind: 'Task', map: volumesOfTask },
      { kind: 'Node', map: volumesOfNode },
    ],
    reconcile: (key, ctx) => reconcileVolume(key, ctx),
  };
}

/** A task with a slot concerns the Volumes of that slot: it binds, ends or goes. */
function volumesOfTask(event: InformerEvent, caches: Caches): string[] {
  const spec = event.object.spec as DeepReadonly<TaskSpec>;
  if (spec.slot === undefined) return [];
  const app = refKey({ namespace: event.object.metadata.namespace, name: spec.app });
  return caches('Volume')
    .byIndex('app', app)
    .filter((volume) => (volume.spec as VolumeSpec).slot === spec.slot)
    .map((volume) => refKey(volume.metadata));
}

/** A node added, gone, or turning Ready or not concerns the Volumes on it; its heartbeats do not. */
function volumesOfNode(event: InformerEvent, caches: Caches): string[] {
  if (event.type === 'modified' && nodeState(event.old!) === nodeState(event.object)) return [];
  return caches('Volume')
    .byIndex('node', event.object.metadata.name)
    .map((volume) => refKey(volume.metadata));
}

const nodeState = (node: DeepReadonly<AnyObject> | undefined): NodeState =>
  !node ? 'gone' : getCondition((node.status as { conditions?: [] } | undefined)?.conditions, 'Ready')?.status === 'True' ? 'ready' : 'notReady';

async function reconcileVolume(key: string, ctx: ReconcileContext): Promise<Result> {
  const volume = ctx.informer('Volume').get(key) as Volume | undefined;
  if (!volume) return done();
  const { namespace } = parseRefKey(key);
  const tasks = slotTasks(volume, ctx);
  let node = nodeState(ctx.informer('Node').get(volume.spec.nodeName));
  // Informers of different kinds are not ordered: a node registered a moment ago may not be cached
  // yet, and releasing a Volume is not undone.
  if (node === 'gone' && volume.metadata.deletionTimestamp && (await ctx.store.get('Node', { name: volume.spec.nodeName }))) node = 'notReady';
  const plan = planVolume({
    volume: { name: volume.metadata.name, slot: volume.spec.slot, node: volume.spec.nodeName, deleting: Boolean(volume.metadata.deletionTimestamp) },
    node,
    tasks,
  });
  for (const name of plan.deleteTasks) {
    try {
      await ctx.store.delete('Task', { namespace, name });
      ctx.log.info({ volume: key, task: name }, say.deletingTask);
    } catch (error) {
      if (!isStoreError(error, 'NotFound')) throw error;
    }
  }
  const { task: _task, message: _message, ...kept } = volume.status ?? {};
  const status: VolumeStatus = { ...(kept as Omit<VolumeStatus, 'phase'>), phase: plan.phase, message: plan.message, ...(plan.task ? { task: plan.task } : {}) };
  try {
    await ctx.updateStatus(volume as AnyObject, status);
  } catch (error) {
    // The agent wrote its part meanwhile: its event queues this Volume again.
    if (!isStoreError(error, 'Conflict') && !isStoreError(error, 'NotFound')) throw error;
  }
  if (plan.release) await release(volume, plan.release.message, ctx);
  return done();
}

/** The live tasks of the Volume's App and slot: bound to its node and not ended. */
function slotTasks(volume: Volume, ctx: ReconcileContext): SlotTask[] {
  const app = refKey({ namespace: volume.metadata.namespace, name: volume.spec.app });
  return ctx
    .informer('Task')
    .byIndex('app', app)
    .filter((task) => (task.spec as TaskSpec).slot === volume.spec.slot && (task.spec as TaskSpec).nodeName === volume.spec.nodeName && isBound(task))
    .map((task) => ({ name: task.metadata.name, deleting: Boolean(task.metadata.deletionTimestamp) }));
}

async function release(volume: Volume, message: string, ctx: ReconcileContext): Promise<void> {
  const current = await ctx.store.get('Volume', { namespace: volume.metadata.namespace, name: volume.metadata.name });
  if (!current?.metadata.finalizers?.includes(VOLUME_FINALIZER)) return;
  const finalizers = current.metadata.finalizers.filter((f) => f !== VOLUME_FINALIZER);
  try {
    await ctx.store.update({ ...current, metadata: { ...current.metadata, finalizers } });
  } catch (error) {
    // Changed meanwhile: its event brings it back.
    if (isStoreError(error, 'Conflict') || isStoreError(error, 'NotFound')) return;
    throw error;
  }
  await ctx.events.record(current, { type: 'Warning', reason: 'VolumeReleased', message });
  ctx.log.warn({ volume: refKey(current.metadata), node: (current.spec as VolumeSpec).nodeName }, say.released);
}
