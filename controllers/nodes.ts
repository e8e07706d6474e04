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
// It also keeps each Node's status.allocated: the sum of what the tasks bound there hold (see
// nodes-allocation.ts), for `get nodes` and `describe node`.
//
// The lease keys are followed by one prefix watch per term (LeaseWatch below), listed once and
// watched from the list's revision, so the cost does not grow with a watch per node. A key's delete
// event is the missed heartbeat: that node's Ready condition is written at once from the event,
// without waiting for a round. Everything else happens in one reconcile for the whole cluster
// (queued by any Node change, by the deadlines it returns, and by a slow resync), which derives
// every node's state from the watched keys again, so an event whose write did not land is made good
// by the next round.
import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import type { Logger } from 'pino';
import type { AnyObject, CapstanObject, DeepReadonly } from '../api/object.ts';
import { getCondition, setCondition } from '../api/object.ts';
import { isStoreError } from '../api/errors.ts';
import { nodeLeasePrefix } from '../api/keys.ts';
import type { NodeStatus } from '../api/kinds/node.ts';
import { isTerminal, type TaskSpec, type TaskStatus } from '../api/kinds/task.ts';
import { AGENT_FINALIZER } from '../api/kinds/wellknown.ts';
import { removeNodeTaskIndexEntry } from '../api/node-index.ts';
import { cancelWatchers, prefixRange } from '../api/object-cache.ts';
import { openWatch } from '../api/watch.ts';
import { done, requeueAfter, type ControllerDefinition, type ReconcileContext } from './contract.ts';
import { allocationChanged, ALLOCATION_INTERVAL_MS, volumeAllocationChanged, writeAllocations } from './nodes-allocation.ts';

export const NODES = 'nodes';
const CLUSTER_KEY = 'cluster';
/** Every Node's status.allocated: its own key, so that task changes do not run the lifecycle round. */
const ALLOCATION_KEY = 'allocation';
/**
 * The safety net only: lease changes are watched and deadlines requeued, so a resync matters only
 * when an event's write failed (etcd unavailable). It reads the caches, not etcd.
 */
const DEFAULT_RESYNC_MS = 5_000;
/** Task writes (Lost, finalizer) in flight at once for one node's expired tasks. */
const WRITES_IN_FLIGHT = 16;

type Node = DeepReadonly<CapstanObject<unknown, NodeStatus & { leaseTTLSeconds?: number }>>;
type Task = DeepReadonly<CapstanObject<TaskSpec, TaskStatus>>;

export function nodesController(options: { resyncMs?: number } = {}): ControllerDefinition {
  // One lease watch per term: opened by the term's first reconcile, closed when its signal aborts.
  let term: { signal: AbortSignal; leases: Promise<LeaseWatch> } | undefined;
  const leasesFor = (ctx: ReconcileContext): Promise<LeaseWatch> => {
    if (term?.signal !== ctx.signal) {
      const leases = LeaseWatch.open({
        client: ctx.store.client,
        log: ctx.log,
        signal: ctx.signal,
        onChange: (name, alive) => void markFromLease(name, alive, ctx),
      });
      term = { signal: ctx.signal, leases };
      // A watch that could not open is forgotten, so the retried reconcile opens another; the
      // reconcile awaiting it fails with the error, which the runtime logs before retrying.
      leases.catch(() => {
        if (term?.leases === leases) term = undefined;
      });
    }
    return term.leases;
  };
  // When allocations were last written: a burst of bindings queues the key hundreds of times a
  // second, and each pass writes every node whose sum moved, so passes are at least
  // ALLOCATION_INTERVAL_MS apart.
  let lastAllocationPass = -Infinity;
  const allocate = async (ctx: ReconcileContext) => {
    const wait = lastAllocationPass + ALLOCATION_INTERVAL_MS - ctx.now().getTime();
    if (wait > 0) return requeueAfter(wait);
    lastAllocationPass = ctx.now().getTime();
    await writeAllocations(ctx);
    return done();
  };
  return {
    name: NODES,
    primaryKind: 'Node',
    resyncMs: options.resyncMs ?? DEFAULT_RESYNC_MS,
    watches: [
      { kind: 'Node', map: () => [CLUSTER_KEY, ALLOCATION_KEY] },
      { kind: 'Task', map: (event) => (allocationChanged(event) ? [ALLOCATION_KEY] : []) },
      { kind: 'Volume', map: (event) => (volumeAllocationChanged(event) ? [ALLOCATION_KEY] : []) },
    ],
    reconcile: async (key, ctx) => (key === ALLOCATION_KEY ? allocate(ctx) : reconcileNodes((await leasesFor(ctx)).alive, ctx)),
  };
}

async function reconcileNodes(leases: ReadonlySet<string>, ctx: ReconcileContext) {
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

/**
 * A lease key appeared or went: write that node's Ready condition now, from the cached Node. The
 * write is the round's own (setReady), so the Node change it makes queues the round that takes it
 * from there (the Lost deadline). A node not cached yet is left to the round its creation queues.
 */
async function markFromLease(name: string, alive: boolean, ctx: ReconcileContext): Promise<void> {
  const node = ctx.informer('Node').get(name) as Node | undefined;
  if (!node || getCondition(node.status?.conditions, 'Ready')?.status === (alive ? 'True' : 'False')) return;
  try {
    await setReady(node, alive, ctx);
  } catch (error) {
    if (isStoreError(error, 'Fenced') || ctx.signal.aborted) return; // the term is over; the next leader lists the keys afresh
    ctx.log.warn(
      { err: error, node: name },
      `could not mark node ${name} ${alive ? 'Ready' : 'NotReady'} when its lease key ${alive ? 'came back' : 'went'}; the controller's next resync tries again`,
    );
  }
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

/**
 * Marks tasks Lost and lets go of their finalizer when their time is up; returns ms until the next
 * deadline. A node's tasks share one deadline, so their writes go out together (WRITES_IN_FLIGHT at a
 * time); one after the other, the 20 tasks of bench:recovery would turn Lost over 1.3 s past it.
 */
async function expireTasks(nodeName: string, tasks: readonly Task[], lastHeartbeat: number, now: Date, ctx: ReconcileContext): Promise<number> {
  let next = Infinity;
  const lose: Task[] = [];
  const expunge: Task[] = [];
  for (const task of tasks) {
    const { inactiveAfterSeconds, expungeAfterSeconds } = task.spec.template.unreachableStrategy;
    const lostAt = lastHeartbeat + inactiveAfterSeconds * 1000;
    const expungeAt = lastHeartbeat + expungeAfterSeconds * 1000;
    const phase = task.status?.phase ?? 'Pending';
    if (!isTerminal(phase)) {
      if (now.getTime() >= lostAt) lose.push(task);
      else next = Math.min(next, lostAt - now.getTime());
    }
    if (task.metadata.finalizers?.includes(AGENT_FINALIZER)) {
      if (now.getTime() >= expungeAt) expunge.push(task);
      else next = Math.min(next, expungeAt - now.getTime());
    }
  }
  // Lost before expunged, as for a single task: dropping the finalizer may complete its deletion.
  await inBatches(lose, (task) => markLost(task, nodeName, task.spec.template.unreachableStrategy.inactiveAfterSeconds, ctx));
  await inBatches(expunge, (task) => dropFinalizer(task, ctx));
  return next;
}

async function inBatches(tasks: readonly Task[], write: (task: Task) => Promise<void>): Promise<void> {
  for (let i = 0; i < tasks.length; i += WRITES_IN_FLIGHT) await Promise.all(tasks.slice(i, i + WRITES_IN_FLIGHT).map(write));
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

/**
 * Releases a task its agent will not release: removes the agent's finalizer (completing a deletion)
 * and the node's index entry. Also the task gc's, for the tasks of a deleted node.
 */
export async function dropFinalizer(task: Task, ctx: ReconcileContext) {
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

interface LeaseWatchOptions {
  client: Etcd3;
  log: Logger;
  /** The term's: aborting it closes the watch. */
  signal: AbortSignal;
  /** A key appeared (`alive`) or went, whether seen by the watch or by a re-list after it broke. */
  onChange: (name: string, alive: boolean) => void;
}

const RELIST_MIN_MS = 50;
const RELIST_MAX_MS = 1_000;

/**
 * The names whose lease key exists, kept by one prefix watch from the revision they were listed at.
 * Reconnects after an etcd restart are the etcd3 client's (its watcher resumes from the last revision
 * it delivered); when etcd cancels the watch (compacted past that revision), the keys are listed
 * again, the difference is reported through onChange, and the watch starts from the new list, as the
 * informers do.
 */
class LeaseWatch {
  readonly alive = new Set<string>();
  private watcher: Watcher | undefined;
  private relisting = false;

  private constructor(private readonly options: LeaseWatchOptions) {}

  /**
   * Lists and watches; rejects when etcd cannot be listed or the watch not opened. The first list
   * reports nothing: the reconcile that opens the watch reads `alive` and acts on all of it.
   */
  static async open(options: LeaseWatchOptions): Promise<LeaseWatch> {
    const leases = new LeaseWatch(options);
    options.signal.addEventListener('abort', () => void leases.close(), { once: true });
    await leases.listAndWatch(false);
    return leases;
  }

  private async listAndWatch(report: boolean): Promise<void> {
    const { client, signal } = this.options;
    const listed = await client.kv.range(prefixRange(nodeLeasePrefix));
    if (signal.aborted) return;
    const names = new Set(listed.kvs.map((kv) => this.nameOf(kv)));
    for (const name of this.alive) if (!names.has(name)) this.set(name, false, report);
    for (const name of names) if (!this.alive.has(name)) this.set(name, true, report);
    const next = String(BigInt(listed.header.revision) + 1n);
    this.watcher = await openWatch(client.watch().prefix(nodeLeasePrefix).startRevision(next), {
      put: (kv) => this.set(this.nameOf(kv), true, true),
      delete: (kv) => this.set(this.nameOf(kv), false, true),
      error: (error) => void this.relist(error),
    });
    if (signal.aborted) await this.close();
  }

  /** The watch ended (etcd cancelled it): list again until that works, with a capped backoff. */
  private async relist(cause: Error): Promise<void> {
    if (this.relisting || this.options.signal.aborted) return;
    this.relisting = true;
    // etcd already dropped this watch; cancelling it would wait for an end that never comes. A
    // listener stays on 'error': one emitted with none would be thrown from the client's stream.
    this.watcher?.removeAllListeners().on('error', () => undefined);
    this.watcher = undefined;
    this.options.log.info({ reason: cause.message }, 'node lease watch ended; listing the lease keys again');
    for (let attempt = 0; !this.options.signal.aborted; attempt += 1) {
      try {
        await this.listAndWatch(true);
        break;
      } catch (error) {
        // Logged once per outage: meanwhile node liveness is what it was at the last event.
        if (attempt === 0) this.options.log.warn({ err: error }, 'cannot list the node lease keys: node liveness is not followed until etcd answers; trying again');
        await new Promise((resolve) => setTimeout(resolve, Math.min(RELIST_MIN_MS * 2 ** attempt, RELIST_MAX_MS)));
      }
    }
    this.relisting = false;
  }

  private set(name: string, alive: boolean, report: boolean): void {
    if (this.options.signal.aborted || this.alive.has(name) === alive) return;
    if (alive) this.alive.add(name);
    else this.alive.delete(name);
    if (report) this.options.onChange(name, alive);
  }

  private async close(): Promise<void> {
    const watcher = this.watcher;
    this.watcher = undefined;
    if (watcher) await cancelWatchers([watcher]);
  }

  private nameOf(kv: IKeyValue | { key: Buffer }): string {
    return kv.key.toString().slice(nodeLeasePrefix.length);
  }
}
