// The scheduler controller: binds pending Tasks to Nodes.
//
// It reconciles one key for the whole cluster. Every change that could make a placement possible
// (a new or unbound task, a task that finished and freed its resources, any node change) queues
// that key, and the queue collapses a burst of such changes into one reconcile: the snapshot brought
// up to date with what changed (state.ts), every pending task placed against it in creation order,
// and the bindings written in batched transactions while placing goes on (binding-writer.ts). Tasks
// that fit nowhere get the reasons in their status and an Event, and are tried again on the next
// change. A resident App's task takes an instance slot and goes where its Volumes are, or makes the
// slot's Volumes where it is placed (resident.ts); the Volumes are created before the binding that
// names their slot.
import { isStoreError } from '../../api/errors.ts';
import { API_VERSION, getCondition, refKey, setCondition, type AnyObject, type CapstanObject, type DeepReadonly } from '../../api/object.ts';
import { isResident, type AppSpec } from '../../api/kinds/app.ts';
import type { TaskSpec, TaskStatus } from '../../api/kinds/task.ts';
import { volumeObjectName, type VolumeSpec } from '../../api/kinds/volume.ts';
import { APP_LABEL, VOLUME_FINALIZER } from '../../api/kinds/wellknown.ts';
import type { InformerEvent } from '../../api/informer.ts';
import type { NodeStatus } from '../../api/kinds/node.ts';
import { deepEqual } from '../../api/merge.ts';
import { nodeTaskIndexEntry } from '../../api/node-index.ts';
import { done, retry, type ControllerDefinition, type ReconcileContext } from '../contract.ts';
import { BindingWriter } from './binding-writer.ts';
import { appKeyOf, isBound, isPending, persistentVolumesOf, taskDemand, volumeView, type PersistentVolume } from './demand.ts';
import { placeResident } from './resident.ts';
import type { PlaceResult } from './stack.ts';
import { SchedulerState } from './state.ts';
import { Stack, type StackOptions } from './stack.ts';

export const SCHEDULER = 'scheduler';
const CLUSTER_KEY = 'cluster';

const say = {
  /** The agent's Staging writes the same condition (runtime/agent/status.ts). */
  bound: (node: string) => `bound to node ${node}`,
  notMarked: (node: string) => `could not mark a task bound to ${node} Scheduled; its old scheduling reason shows until the agent stages it`,
  volumeExists: (name: string) => `Volume ${name} exists but is not in the cache yet; the task is placed in the next round`,
};

type Task = DeepReadonly<AnyObject>;

/**
 * Task changes that can make a placement possible: a task to place, or resources freed. A task
 * becoming bound only takes resources, so it queues nothing; without this rule every binding this
 * scheduler writes would come back as an event and cost a full pass over the cache.
 */
function taskEventMatters(event: InformerEvent): boolean {
  switch (event.type) {
    case 'added':
      return isPending(event.object);
    case 'modified':
      return isPending(event.object) || (isBound(event.old!) && !isBound(event.object));
    case 'deleted':
      return isBound(event.object);
  }
}

/**
 * Volumes come and go rarely: each one added or gone changes a node's free disk and an App's slots,
 * and a wipe starting takes its slot out of use.
 */
function volumeEventMatters(event: InformerEvent): boolean {
  return event.type !== 'modified' || event.old!.metadata.deletionTimestamp !== event.object.metadata.deletionTimestamp;
}

/** A resident App's instances: how many slots it may have. */
function appEventMatters(event: InformerEvent): boolean {
  const spec = event.object.spec as DeepReadonly<AppSpec>;
  if (!isResident(spec)) return false;
  return event.type !== 'modified' || (event.old!.spec as DeepReadonly<AppSpec>).instances !== spec.instances;
}

/**
 * Any node change but a new status.allocated, which the nodes controller writes after bindings: the
 * scheduler keeps its own count, and a round per such write would cost a pass over the task cache.
 */
function nodeEventMatters(event: InformerEvent): boolean {
  if (event.type !== 'modified') return true;
  const { allocated: _before, ...before } = (event.old!.status ?? {}) as NodeStatus;
  const { allocated: _after, ...after } = (event.object.status ?? {}) as NodeStatus;
  return !deepEqual(before, after) || !deepEqual(event.old!.spec, event.object.spec) || event.old!.metadata.deletionTimestamp !== event.object.metadata.deletionTimestamp;
}

export function schedulerController(options: StackOptions = {}): ControllerDefinition {
  // The stack keeps a cursor between batches so consecutive bursts start on different nodes.
  const stack = new Stack(options);
  const state = new SchedulerState();
  return {
    name: SCHEDULER,
    primaryKind: 'Task',
    watches: [
      { kind: 'Task', map: (event) => (taskEventMatters(event) ? [CLUSTER_KEY] : []) },
      { kind: 'Node', map: (event) => (nodeEventMatters(event) ? [CLUSTER_KEY] : []) },
      { kind: 'Volume', map: (event) => (volumeEventMatters(event) ? [CLUSTER_KEY] : []) },
      { kind: 'App', map: (event) => (appEventMatters(event) ? [CLUSTER_KEY] : []) },
    ],
    reconcile: (_key, ctx) => scheduleAll(stack, state, ctx),
  };
}

async function scheduleAll(stack: Stack, state: SchedulerState, ctx: ReconcileContext) {
  state.sync(ctx.informer('Task'), ctx.informer('Node'), ctx.informer('Volume'));
  if (state.pending.size === 0) return done();
  const pending = [...state.pending].sort(([, a], [, b]) => byCreation(a, b));
  const snapshot = state.snapshot;
  const unwritten = new Set<string>();
  const onUnwritten = (tasks: readonly AnyObject[]) =>
    tasks.forEach((task) => {
      unwritten.add(keyOf(task));
      state.unassume(keyOf(task));
    });
  const writer = new BindingWriter({ store: ctx.store, onUnwritten });
  const unplaced: { task: Task; message: string }[] = [];
  // Tasks placed now that carry an earlier round's reason: their status is rewritten once bound.
  const wereUnschedulable: { task: Task; node: string }[] = [];
  let bound = 0;
  let volumeFailure: unknown;
  for (const [key, task] of pending) {
    // A lost term or a failed write ends the round; what is left waits for the next one.
    if (ctx.signal.aborted || writer.failed || volumeFailure !== undefined) break;
    const demand = taskDemand(task);
    const persistent = persistentVolumesOf((task.spec as DeepReadonly<TaskSpec>).template);
    let slot: number | undefined;
    let result: PlaceResult;
    if (persistent.length === 0) {
      result = stack.place(demand, snapshot);
    } else {
      const resident = placeResident({ demand, persistent, instances: instancesOf(task, ctx), stack, snapshot });
      if (resident.kind === 'placed') {
        // Created before the binding: an agent that sees a task with a slot finds its Volumes.
        const created = await createVolumes(task, resident.slot, resident.placement.node, resident.create, state, ctx);
        if (created !== true) {
          volumeFailure = created;
          continue;
        }
        slot = resident.slot;
        result = { kind: 'placed', placement: resident.placement };
      } else {
        result = { kind: 'unplaced', message: resident.message, reasons: new Map() };
      }
    }
    if (result.kind === 'unplaced') {
      unplaced.push({ task, message: result.message });
      continue;
    }
    const { node, hostPorts } = result.placement;
    const binding = slot === undefined ? { nodeName: node, hostPorts } : { nodeName: node, hostPorts, slot };
    state.assume(key, { app: demand.app, revision: demand.revision, node, resources: demand.resources, hostPorts, ...(slot === undefined ? {} : { slot }) });
    // The node's index entry lands with the binding, in one transaction: the agent learns its tasks
    // from the index alone, so a binding without it would never run.
    const indexEntry = nodeTaskIndexEntry({ node, namespace: task.metadata.namespace!, name: task.metadata.name, uid: task.metadata.uid! });
    bound += 1;
    if (getCondition((task.status as TaskStatus | undefined)?.conditions, 'Scheduled')?.status === 'False') wereUnschedulable.push({ task, node });
    if (writer.add({ object: task as AnyObject, binding, alsoPut: [indexEntry] })) await writer.send();
  }
  const stale = await writer.flush();
  const scheduled = wereUnschedulable.filter(({ task }) => !unwritten.has(keyOf(task)));
  const [unreported] = await Promise.all([
    Promise.all(unplaced.map(({ task, message }) => reportUnschedulable(task, message, ctx))).then((errors) => errors.find((error) => error !== undefined)),
    Promise.all(scheduled.map(({ task, node }) => reportScheduled(task, node, ctx))),
  ]);
  ctx.log.debug({ bound: bound - stale, unplaced: unplaced.length, stale }, 'scheduled');
  // A Volume that could not be created leaves its task (and the rest of the round) for the next one.
  if (volumeFailure !== undefined) return retry(volumeFailure);
  // A reason that could not be written (etcd unavailable, the term lost) would otherwise wait for
  // the next change to the cluster; retrying writes it, and the runtime logs why it retries.
  if (unreported) return retry(unreported);
  // A stale binding means a task changed under us; its change event queues another round anyway,
  // but ask for one explicitly so a lost event cannot strand it.
  return stale ? retry(new Error(`${stale} bindings raced with other writers`)) : done();
}

/**
 * The App's spec.instances: a resident App has a slot for each. None while its App is gone or being
 * deleted, or the task itself is: a pending task the gc has yet to delete must not make a new slot
 * (its Volumes would outlive the App, created after `delete app --wipe` listed what to wipe).
 */
function instancesOf(task: Task, ctx: ReconcileContext): number {
  const app = ctx.informer('App').get(appKeyOf(task));
  if (!app || app.metadata.deletionTimestamp || task.metadata.deletionTimestamp) return 0;
  return (app.spec as DeepReadonly<AppSpec>).instances ?? 0;
}

/**
 * Creates the Volumes of a task's slot on its node, each with the App's label and the finalizer that
 * lets its agent remove the directory first, and no owner: deleting the App must not delete data.
 * Returns true, or the error that stopped it. A Volume that exists already (made by an earlier
 * leader, not yet in this cache) is not taken over blindly: the next round sees it and decides.
 */
async function createVolumes(task: Task, slot: number, node: string, volumes: readonly PersistentVolume[], state: SchedulerState, ctx: ReconcileContext): Promise<true | unknown> {
  const app = (task.spec as DeepReadonly<TaskSpec>).app;
  const namespace = task.metadata.namespace!;
  for (const volume of volumes) {
    const name = volumeObjectName(app, volume.name, slot);
    const object: CapstanObject<VolumeSpec> = {
      apiVersion: API_VERSION,
      kind: 'Volume',
      metadata: { name, namespace, labels: { [APP_LABEL]: app }, finalizers: [VOLUME_FINALIZER] },
      spec: { app, volume: volume.name, slot, size: volume.size, nodeName: node },
    };
    try {
      const created = await ctx.store.create(object);
      state.created(volumeView(created as AnyObject));
    } catch (error) {
      return isStoreError(error, 'AlreadyExists') ? new Error(say.volumeExists(name)) : error;
    }
  }
  return true;
}

const keyOf = (task: Task) => refKey(task.metadata);

/**
 * Writes why a task fits nowhere into its status (condition Scheduled=False) and records an Event.
 * Returns the error when the write failed for a reason other than the task having changed.
 */
async function reportUnschedulable(task: Task, message: string, ctx: ReconcileContext): Promise<unknown> {
  const status = (task.status ?? { phase: 'Pending' }) as TaskStatus;
  const current = status.conditions?.find((c) => c.type === 'Scheduled');
  if (current?.status === 'False' && current.message === message) return undefined;
  const conditions = setCondition(status.conditions, { type: 'Scheduled', status: 'False', reason: 'Unschedulable', message }, ctx.now());
  try {
    await ctx.store.updateStatus({ ...(task as AnyObject), status: { ...status, phase: 'Pending', message, conditions } });
  } catch (error) {
    // The task changed meanwhile (bound, deleted): its event brings us back with fresh state.
    if (isStoreError(error, 'Conflict') || isStoreError(error, 'NotFound')) return undefined;
    return error;
  }
  await ctx.events.record(task, { type: 'Warning', reason: 'FailedScheduling', message });
  return undefined;
}

/**
 * A task bound now that an earlier round reported unschedulable: its status says so until the agent
 * writes Staging, which may be seconds away (or never, on a node that went down). Rewritten here so
 * that it describes the present: Scheduled=True on the node, and no scheduling message. Only tasks
 * that carried a reason get this write; a burst of fresh tasks is bound with no status write at all.
 * If the agent wrote first, the write is conditioned on the status read and gives way. A failure is
 * logged, not retried: the task is bound, no later round looks at it, and the agent's Staging
 * writes the same.
 */
async function reportScheduled(task: Task, node: string, ctx: ReconcileContext): Promise<void> {
  const { message: _stale, ...status } = task.status as TaskStatus;
  const conditions = setCondition(status.conditions, { type: 'Scheduled', status: 'True', reason: 'Bound', message: say.bound(node) }, ctx.now());
  try {
    await ctx.store.updateStatus({ ...(task as AnyObject), status: { ...status, conditions } });
  } catch (error) {
    if (isStoreError(error, 'Conflict') || isStoreError(error, 'NotFound')) return;
    ctx.log.warn({ err: error, task: keyOf(task) }, say.notMarked(node));
  }
}

function byCreation(a: Task, b: Task): number {
  const left = a.metadata.creationTimestamp ?? '';
  const right = b.metadata.creationTimestamp ?? '';
  if (left !== right) return left < right ? -1 : 1;
  return a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;
}
