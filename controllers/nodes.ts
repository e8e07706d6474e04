// The node lifecycle controller: a Node is Ready while its agent's lease-bound key exists
// (/capstan/leases/nodes/<name>). When the key is gone, the Node turns NotReady; once a task's
// unreachableStrategy.inactiveAfterSeconds have passed since the agent's last heartbeat, its tasks
// on that node are Lost (and the replicas controller replaces them); past expungeAfterSeconds the
// agent's finalizer and the node's index entry (api/node-index.ts) are taken off them, so deletions
// of those tasks complete without the agent.
//
// The last heartbeat is estimated as "when the key was seen gone − the lease TTL the agent
// reported": the key outlives its agent by up to one TTL, and Kubernetes also counts from the last
// heartbeat, not from the moment someone noticed.
//
// One key for the whole cluster, re-queued every resync: each round reads every lease key with a
// single range request, so the cost does not grow with a watch per node.
import type { AnyObject, CapstanObject, DeepReadonly } from '../api/object.ts';
import { getCondition, setCondition } from '../api/object.ts';
import { isStoreError } from '../api/errors.ts';
import { ROOT } from '../api/keys.ts';
import type { NodeStatus } from '../api/kinds/node.ts';
import { isTerminal, type TaskSpec, type TaskStatus } from '../api/kinds/task.ts';
import { AGENT_FINALIZER } from '../api/kinds/wellknown.ts';
import { removeNodeTaskIndexEntry } from '../api/node-index.ts';
import { done, requeueAfter, type ControllerDefinition, type ReconcileContext } from './contract.ts';

export const NODES = 'nodes';
const CLUSTER_KEY = 'cluster';
const LEASE_PREFIX = `${ROOT}leases/nodes/`;

type Node = DeepReadonly<CapstanObject<unknown, NodeStatus & { leaseTTLSeconds?: number }>>;
type Task = DeepReadonly<CapstanObject<TaskSpec, TaskStatus>>;

export function nodesController(options: { resyncMs?: number } = {}): ControllerDefinition {
  return {
    name: NODES,
    primaryKind: 'Node',
    resyncMs: options.resyncMs ?? 500,
    watches: [{ kind: 'Node', map: () => [CLUSTER_KEY] }, { kind: 'Task', map: () => [] }],
    reconcile: (_key, ctx) => reconcileNodes(ctx),
  };
}

async function reconcileNodes(ctx: ReconcileContext) {
  const leases = new Set((await ctx.store.client.getAll().prefix(LEASE_PREFIX).keys()).map((key) => key.slice(LEASE_PREFIX.length)));
  const now = ctx.now();
  let nextCheck = Infinity;
  for (const node of ctx.informer('Node').list() as Node[]) {
    const alive = leases.has(node.metadata.name);
    const ready = getCondition(node.status?.conditions, 'Ready');
    if (alive) {
      if (ready?.status !== 'True') await setReady(node, true, ctx);
      continue;
    }
    if (ready?.status !== 'False') {
      await setReady(node, false, ctx);
      continue; // the next round sees the transition time it wrote
    }
    const lastHeartbeat = Date.parse(ready.lastTransitionTime) - (node.status?.leaseTTLSeconds ?? 0) * 1000;
    const tasks = ctx.informer('Task').byIndex('node', node.metadata.name) as Task[];
    const wait = await expireTasks(node.metadata.name, tasks, lastHeartbeat, now, ctx);
    nextCheck = Math.min(nextCheck, wait);
  }
  return Number.isFinite(nextCheck) ? requeueAfter(Math.max(nextCheck, 50)) : done();
}

async function setReady(node: Node, ready: boolean, ctx: ReconcileContext) {
  const condition = ready
    ? { type: 'Ready', status: 'True' as const, reason: 'AgentAlive', message: 'the agent holds its lease' }
    : { type: 'Ready', status: 'False' as const, reason: 'LeaseExpired', message: 'the agent\'s lease expired: the node is unreachable' };
  const status = { ...(node.status ?? {}), conditions: setCondition(node.status?.conditions, condition, ctx.now()) };
  try {
    await ctx.store.updateStatus({ ...(node as AnyObject), status });
  } catch (error) {
    if (!isStoreError(error, 'Conflict') && !isStoreError(error, 'NotFound')) throw error;
    return; // the agent wrote its status meanwhile; the next round sees it
  }
  await ctx.events.record(node, ready ? { reason: 'NodeReady', message: `node ${node.metadata.name} is ready` } : { type: 'Warning', reason: 'NodeNotReady', message: condition.message });
}

/** Marks tasks Lost and lets go of their finalizer when their time is up; returns ms until the next deadline. */
async function expireTasks(nodeName: string, tasks: readonly Task[], lastHeartbeat: number, now: Date, ctx: ReconcileContext): Promise<number> {
  let next = Infinity;
  for (const task of tasks) {
    const { inactiveAfterSeconds, expungeAfterSeconds } = task.spec.template.unreachableStrategy;
    const lostAt = lastHeartbeat + inactiveAfterSeconds * 1000;
    const expungeAt = lastHeartbeat + expungeAfterSeconds * 1000;
    const phase = task.status?.phase ?? 'Pending';
    if (!isTerminal(phase)) {
      if (now.getTime() >= lostAt) await markLost(task, nodeName, inactiveAfterSeconds, ctx);
      else next = Math.min(next, lostAt - now.getTime());
    }
    if (task.metadata.finalizers?.includes(AGENT_FINALIZER)) {
      if (now.getTime() >= expungeAt) await dropFinalizer(task, ctx);
      else next = Math.min(next, expungeAt - now.getTime());
    }
  }
  return next;
}

async function markLost(task: Task, nodeName: string, seconds: number, ctx: ReconcileContext) {
  const message = `node ${nodeName} unreachable for more than ${seconds}s`;
  const status = { ...(task.status as TaskStatus), phase: 'Lost' as const, message, finishedAt: ctx.now().toISOString() };
  try {
    await ctx.store.updateStatus({ ...(task as AnyObject), status });
    await ctx.events.record(task, { type: 'Warning', reason: 'TaskLost', message });
  } catch (error) {
    if (!isStoreError(error, 'Conflict') && !isStoreError(error, 'NotFound')) throw error;
  }
}

async function dropFinalizer(task: Task, ctx: ReconcileContext) {
  const current = await ctx.store.get('Task', { namespace: task.metadata.namespace, name: task.metadata.name });
  if (!current?.metadata.finalizers?.includes(AGENT_FINALIZER)) return;
  const finalizers = current.metadata.finalizers.filter((f) => f !== AGENT_FINALIZER);
  try {
    await ctx.store.update({ ...current, metadata: { ...current.metadata, finalizers } });
  } catch (error) {
    if (!isStoreError(error, 'Conflict') && !isStoreError(error, 'NotFound')) throw error;
    return;
  }
  // The agent is not there to remove the node's index entry; its removal is conditioned on the uid,
  // so it needs no fence: a deposed leader could only remove an entry of this same expunged task.
  const node = (current.spec as TaskSpec).nodeName;
  const entry = { namespace: current.metadata.namespace!, name: current.metadata.name, uid: current.metadata.uid! };
  if (node) await removeNodeTaskIndexEntry(ctx.store.client, { node, ...entry });
}
