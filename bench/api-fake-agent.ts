// bench:api's simulated nodes and the stand-in for their agents, for the event fan-out figure: the
// built-in controllers run for real (rollout, replicas, scheduler, nodes, gc), and what an agent
// would do is played here: a task bound to a node turns Running (no health checks: Running counts as
// healthy), and a deleted task's workload stops at once (the agent's finalizer goes). Driven by an
// informer on Tasks, level-based: each change of a task re-reads what it needs. Each Running write is
// timed just before it is sent, which is the "store write" the delivery lags are measured from.
import type { Etcd3, Lease } from 'etcd3';
import { isStoreError } from '../api/errors.ts';
import { Informer } from '../api/informer.ts';
import { nodeLeaseKey } from '../api/keys.ts';
import { isTerminal, type TaskSpec, type TaskStatus } from '../api/kinds/task.ts';
import { AGENT_FINALIZER } from '../api/kinds/wellknown.ts';
import { API_VERSION, type CapstanObject, type DeepReadonly } from '../api/object.ts';
import type { Store } from '../api/store.ts';

type Task = CapstanObject<TaskSpec, TaskStatus>;

/** The nodes' leases: long enough that a busy bench process never lets one lapse. */
const LEASE_TTL_SECONDS = 30;

export const now = () => performance.timeOrigin + performance.now();

/** `count` Ready nodes (sim-0, sim-1, ...) kept alive by one lease; the nodes controller marks them Ready. */
export async function createSimulatedNodes(store: Store, client: Etcd3, count: number): Promise<Lease> {
  const lease = client.lease(LEASE_TTL_SECONDS);
  for (let i = 0; i < count; i++) {
    const name = `sim-${i}`;
    await store.create({
      apiVersion: API_VERSION,
      kind: 'Node',
      metadata: { name },
      spec: { address: '127.0.0.1', attributes: { hostname: name }, capacity: { cpus: 64, mem: 65_536 }, portRange: { from: 31_000, to: 31_999 }, drivers: ['process'] },
      status: { leaseTTLSeconds: LEASE_TTL_SECONDS },
    });
    await lease.put(nodeLeaseKey(name)).value('simulated');
  }
  return lease;
}

export interface FakeAgent {
  /** When each task's Running write was sent, by `namespace/name`. */
  readonly runningWrittenAt: ReadonlyMap<string, number>;
  /** Task uid → `namespace/name`, for matching Marathon task ids. */
  readonly keyOfUid: ReadonlyMap<string, string>;
  /** Writes that failed with something other than a conflict (a conflict is retried on the next change). */
  readonly failures: string[];
  stop(): Promise<void>;
}

export async function startFakeAgent(store: Store, client: Etcd3): Promise<FakeAgent> {
  const informer = new Informer(client, store.kind('Task'));
  const runningWrittenAt = new Map<string, number>();
  const keyOfUid = new Map<string, string>();
  const failures: string[] = [];
  /** Tasks with a write in flight, and those of them that changed since. */
  const busy = new Set<string>();
  const changedMeanwhile = new Set<string>();

  const play = async (key: string, task: DeepReadonly<Task>) => {
    if (task.metadata.deletionTimestamp) {
      const finalizers = task.metadata.finalizers ?? [];
      if (finalizers.includes(AGENT_FINALIZER)) {
        await store.update({ ...(task as Task), metadata: { ...(task as Task).metadata, finalizers: finalizers.filter((f) => f !== AGENT_FINALIZER) } });
      }
      return;
    }
    if (!task.spec.nodeName || task.status?.phase === 'Running' || isTerminal(task.status?.phase)) return;
    keyOfUid.set(task.metadata.uid!, key);
    const at = now();
    await store.updateStatus({ ...(task as Task), status: { ...(task as Task).status, phase: 'Running', startedAt: new Date().toISOString() } });
    if (!runningWrittenAt.has(key)) runningWrittenAt.set(key, at);
  };

  const failed = (key: string) => (error: unknown) => {
    // A conflict means something else wrote the task: that change arrives and is played in turn.
    if (!isStoreError(error, 'Conflict') && !isStoreError(error, 'NotFound')) failures.push(`${key}: ${(error as Error).message}`);
  };
  /** Plays the cached task behind `key`, one write per task at a time; a change meanwhile is played after. */
  const schedule = (key: string) => {
    if (busy.has(key)) {
      changedMeanwhile.add(key);
      return;
    }
    const task = informer.get(key) as DeepReadonly<Task> | undefined;
    if (!task) return;
    busy.add(key);
    void play(key, task)
      .catch(failed(key))
      .finally(() => {
        busy.delete(key);
        if (changedMeanwhile.delete(key)) schedule(key);
      });
  };
  const subscription = informer.events$.subscribe((event) => {
    if (event.type !== 'deleted') schedule(event.key);
  });
  await informer.start();
  return {
    runningWrittenAt,
    keyOfUid,
    failures,
    async stop() {
      subscription.unsubscribe();
      await informer.stop();
    },
  };
}
