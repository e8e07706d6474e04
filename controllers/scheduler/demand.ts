// From store objects to the scheduler's plain view of them.
import { getCondition, refKey, type AnyObject, type DeepReadonly } from '../../api/object.ts';
import { runtimesOf, type AppTemplate } from '../../api/kinds/app.ts';
import type { NodeSpec, NodeStatus } from '../../api/kinds/node.ts';
import { isTerminal, type TaskSpec, type TaskStatus } from '../../api/kinds/task.ts';
import type { VolumeSpec } from '../../api/kinds/volume.ts';
import { AGENT_FINALIZER } from '../../api/kinds/wellknown.ts';
import { formatAttributes } from '../../api/constraints/format.ts';
import type { BoundTask, NodeView, Resources, TaskDemand, VolumeView } from './snapshot.ts';

type Task = DeepReadonly<AnyObject>;

export function nodeView(object: DeepReadonly<AnyObject>): NodeView {
  const spec = object.spec as DeepReadonly<NodeSpec>;
  const status = object.status as DeepReadonly<NodeStatus> | undefined;
  const ready = getCondition(status?.conditions, 'Ready')?.status === 'True';
  return {
    name: object.metadata.name,
    attributes: { hostname: object.metadata.name, ...formatAttributes(spec.attributes) },
    ...(spec.faultDomain ? { faultDomain: spec.faultDomain } : {}),
    capacity: { cpus: spec.capacity.cpus, mem: spec.capacity.mem, disk: spec.capacity.disk ?? 0, gpus: spec.capacity.gpus ?? 0 },
    portRange: spec.portRange,
    ...(status?.portsInUse?.length ? { portsInUse: new Set(status.portsInUse) } : {}),
    drivers: spec.drivers,
    ready: ready && !object.metadata.deletionTimestamp,
    unschedulable: spec.unschedulable,
  };
}

/** The sum of the containers' resources: a pod's containers share one placement. */
export function taskResources(spec: DeepReadonly<TaskSpec>): Resources {
  const total = { cpus: 0, mem: 0, disk: 0, gpus: 0 };
  for (const container of spec.template.containers) {
    total.cpus += container.resources.cpus;
    total.mem += container.resources.mem;
    total.disk += container.resources.disk;
    total.gpus += container.resources.gpus;
  }
  return total;
}

export const appKeyOf = (task: Task) => refKey({ namespace: task.metadata.namespace, name: (task.spec as TaskSpec).app });

/**
 * Holds a node's resources: bound and not finished (a task being killed still runs).
 *
 * A Lost task still carrying the agent's finalizer holds them too: Lost is what the cluster decided
 * about an unreachable node, not what the node did, and its workload may still run there. The agent
 * removes the finalizer once it has stopped that workload (or the nodes controller gives up on the
 * node at expungeAfterSeconds). Counting it free earlier let a node that came back receive a
 * replacement on the stale workload's host port (and UNIQUE slot) while its agent was still stopping
 * it: two instances at once, and the new one failing to bind.
 */
export function isBound(task: Task): boolean {
  const spec = task.spec as TaskSpec;
  if (spec.nodeName === undefined) return false;
  const phase = (task.status as TaskStatus | undefined)?.phase;
  if (phase === 'Lost') return task.metadata.finalizers?.includes(AGENT_FINALIZER) ?? false;
  return !isTerminal(phase);
}

/** Waits for a node: not bound, not finished, not being deleted. */
export function isPending(task: Task): boolean {
  const spec = task.spec as TaskSpec;
  return spec.nodeName === undefined && !task.metadata.deletionTimestamp && !isTerminal((task.status as TaskStatus | undefined)?.phase);
}

export function boundTask(task: Task): BoundTask {
  const spec = task.spec as DeepReadonly<TaskSpec>;
  const bound: BoundTask = { app: appKeyOf(task), revision: spec.revision, node: spec.nodeName!, resources: taskResources(spec), hostPorts: spec.hostPorts ?? [] };
  if (spec.slot !== undefined) bound.slot = spec.slot;
  return bound;
}

export function taskDemand(task: Task): TaskDemand {
  const spec = task.spec as DeepReadonly<TaskSpec>;
  return {
    key: refKey(task.metadata),
    app: appKeyOf(task),
    revision: spec.revision,
    runtimes: [...runtimesOf(spec.template)],
    resources: taskResources(spec),
    ports: spec.template.ports.map((port) => port.hostPort),
    constraints: spec.template.constraints as TaskDemand['constraints'],
  };
}

/** A persistent volume a task's slot needs: one Volume object per slot. */
export interface PersistentVolume {
  name: string;
  /** MiB. */
  size: number;
}

/** The template's persistent volumes; none for an App that is not resident. */
export function persistentVolumesOf(template: DeepReadonly<Pick<AppTemplate, 'volumes'>>): PersistentVolume[] {
  return (template.volumes ?? []).flatMap((volume) => (volume.persistent ? [{ name: volume.name, size: volume.persistent.size }] : []));
}

export function volumeView(object: DeepReadonly<AnyObject>): VolumeView {
  const spec = object.spec as DeepReadonly<VolumeSpec>;
  return {
    key: refKey(object.metadata),
    name: object.metadata.name,
    app: refKey({ namespace: object.metadata.namespace, name: spec.app }),
    volume: spec.volume,
    slot: spec.slot,
    size: spec.size,
    node: spec.nodeName,
    deleting: Boolean(object.metadata.deletionTimestamp),
  };
}
