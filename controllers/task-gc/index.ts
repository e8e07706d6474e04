// The task garbage collector (Kubernetes' PodGC): ends the tasks of nodes that are gone, and keeps
// each App's history of ended tasks bounded. Two kinds of key:
//
// `node:<name>`, queued when a Node is deleted and by every task bound to a node that still holds
// the agent's finalizer (so a resync, or a new leader, finds nodes deleted while no one watched).
// When the Node does not exist, live as well as cached, each of its tasks turns Lost (unless it
// ended already) with a message naming the node, and is released: the agent's finalizer and the
// node's index entry are removed. The replicas controller then replaces it as for any Lost task; a
// task being deleted is gone. This is safe because a Node exists from the moment its agent first
// registers (the scheduler binds only to existing nodes) until someone deletes it: no agent of a
// deleted node is asked to run anything, and if its agent is still running, or comes back (it
// registers the Node again), it no longer finds the task in its index and stops and removes the
// workload as an orphan; a task whose index entry it still saw is Lost, which it stops too. A node
// that is Lost past expungeAfterSeconds is the nodes controller's (nodes.ts), which releases its
// tasks the same way.
//
// `app:<namespace>/<app>`, queued by every ended task: the App's Finished, Failed and Lost tasks
// beyond the newest `terminalTaskHistory` are deleted, and Killed ones at once. The history is per
// App, across its revisions, so old revisions (up to revisionHistoryLimit of them) do not each keep
// their own. A Killed task that is not being deleted was stopped on purpose by something else than
// the cluster: above all `capstan up`'s Ctrl-C, which stops every workload and records it Killed, so
// each run left its tasks listed beside their replacements. Marathon expunges killed tasks at once;
// what a failure leaves (lastTaskFailure, `logs --previous`, debugging) is kept.
import type { InformerEvent } from '../../api/informer.ts';
import { isStoreError } from '../../api/errors.ts';
import { isTerminal, type TaskSpec, type TaskStatus } from '../../api/kinds/task.ts';
import { AGENT_FINALIZER } from '../../api/kinds/wellknown.ts';
import { parseRefKey, refKey, type AnyObject, type CapstanObject, type DeepReadonly } from '../../api/object.ts';
import { done, type ControllerDefinition, type ReconcileContext, type Result } from '../contract.ts';
import { dropFinalizer } from '../nodes.ts';
import { beyondHistory, DEFAULT_TERMINAL_TASK_HISTORY, planOrphan } from './plan.ts';

export const TASK_GC = 'task-gc';
/** Task writes in flight at once for one gone node. */
const WRITES_IN_FLIGHT = 16;

type Task = DeepReadonly<CapstanObject<TaskSpec, TaskStatus>>;

const say = {
  nodeGone: (node: string) => `node ${node} was deleted: no agent runs this task any more`,
  collected: 'task-gc: deleted ended tasks beyond the App\'s history',
  released: 'task-gc: released the tasks of a deleted node',
} as const;

export interface TaskGcOptions {
  /** Ended tasks kept per App; default DEFAULT_TERMINAL_TASK_HISTORY. */
  terminalTaskHistory?: number;
  /** The safety net for events whose writes failed; default 5 min. */
  resyncMs?: number;
}

const nodeKey = (node: string) => `node:${node}`;
const appKey = (namespace: string | undefined, app: string) => `app:${refKey({ namespace, name: app })}`;

export function taskGcController(options: TaskGcOptions = {}): ControllerDefinition {
  const keep = options.terminalTaskHistory ?? DEFAULT_TERMINAL_TASK_HISTORY;
  return {
    name: TASK_GC,
    primaryKind: 'Task',
    watches: [
      { kind: 'Node', map: (event) => (event.type === 'deleted' ? [nodeKey(event.object.metadata.name)] : []) },
      { kind: 'Task', map: keysOfTask },
    ],
    concurrency: 2,
    resyncMs: options.resyncMs ?? 5 * 60_000,
    reconcile: (key, ctx) => (key.startsWith('node:') ? releaseTasksOf(key.slice('node:'.length), ctx) : trimHistory(key.slice('app:'.length), keep, ctx)),
  };
}

function keysOfTask(event: InformerEvent): string[] {
  if (event.type === 'deleted') return [];
  const task = event.object as Task;
  const keys: string[] = [];
  if (task.spec.nodeName && task.metadata.finalizers?.includes(AGENT_FINALIZER)) keys.push(nodeKey(task.spec.nodeName));
  if (isTerminal(task.status?.phase ?? 'Pending') && task.spec.app) keys.push(appKey(task.metadata.namespace, task.spec.app));
  return keys;
}

async function releaseTasksOf(node: string, ctx: ReconcileContext): Promise<Result> {
  if (ctx.informer('Node').get(node)) return done();
  // Informers of different kinds are not ordered: a node registered a moment ago may not be cached yet.
  if (await ctx.store.get('Node', { name: node })) return done();
  const tasks = ctx.informer('Task').byIndex('node', node) as Task[];
  const work = tasks.map((task) => ({ task, plan: planOrphan({ terminal: isTerminal(task.status?.phase ?? 'Pending'), held: Boolean(task.metadata.finalizers?.includes(AGENT_FINALIZER)) }) }));
  const todo = work.filter(({ plan }) => plan.lose || plan.release);
  for (let i = 0; i < todo.length; i += WRITES_IN_FLIGHT) {
    await Promise.all(
      todo.slice(i, i + WRITES_IN_FLIGHT).map(async ({ task, plan }) => {
        if (plan.lose) await markLost(task, node, ctx);
        if (plan.release) await dropFinalizer(task, ctx);
      }),
    );
  }
  if (todo.length > 0) ctx.log.info({ node, tasks: todo.map(({ task }) => task.metadata.name) }, say.released);
  return done();
}

async function markLost(task: Task, node: string, ctx: ReconcileContext): Promise<void> {
  const message = say.nodeGone(node);
  const status = { ...(task.status as TaskStatus), phase: 'Lost' as const, message, finishedAt: ctx.now().toISOString() };
  try {
    await ctx.store.updateStatus({ ...(task as AnyObject), status });
  } catch (error) {
    // Gone, or changed since cached: the change queues this node again, and the next round decides.
    if (isStoreError(error, 'Conflict') || isStoreError(error, 'NotFound')) return;
    throw error;
  }
  await ctx.events.record(task, { type: 'Warning', reason: 'TaskLost', message });
}

async function trimHistory(appRef: string, keep: number, ctx: ReconcileContext): Promise<Result> {
  const { namespace } = parseRefKey(appRef);
  const tasks = ctx.informer('Task').byIndex('app', appRef) as Task[];
  const facts = tasks.map((task) => {
    const phase = task.status?.phase ?? 'Pending';
    const fact = {
      name: task.metadata.name,
      state: phase === 'Killed' ? ('killed' as const) : isTerminal(phase) ? ('ended' as const) : ('live' as const),
      deleting: Boolean(task.metadata.deletionTimestamp),
      createdAt: task.metadata.creationTimestamp ?? '',
    };
    return task.status?.finishedAt ? { ...fact, finishedAt: task.status.finishedAt } : fact;
  });
  const doomed = beyondHistory(facts, keep);
  for (const name of doomed) {
    try {
      await ctx.store.delete('Task', { namespace, name });
    } catch (error) {
      if (!isStoreError(error, 'NotFound')) throw error;
    }
  }
  if (doomed.length > 0) ctx.log.info({ app: appRef, keep, tasks: doomed }, say.collected);
  return done();
}
