// Drain before kill: how the agent knows that nothing routes to a task any more, so that SIGTERM
// loses no request. Kubernetes leaves this to a preStop sleep and hopes the proxies caught up; here
// the load balancers say so.
//
// 1. The task is being deleted, so the endpoints controller takes it out of its App's Endpoints.
//    Wait until the stored Endpoints no longer list it; its resourceVersion R is the first revision
//    without the task (or there are no Endpoints at all: nothing routes to an App without them).
// 2. Every running load balancer (`capstan lb`, a lease-bound key under /capstan/leases/loadbalancers/)
//    records per App the Endpoints revision it has converged to *and drained*: servers it removed
//    are in HAProxy's drain state until their connections reach zero (api/keys.ts drainedKey). Wait
//    until each live load balancer is at R or later. A load balancer that dies takes its lease and
//    its records with it, and is no longer waited for.
// 3. All of it within the deadline (deletion time + drainTimeoutSeconds): a stuck load balancer
//    delays a stop, never blocks it.
//
// Polled, not watched: a drain lasts tens of milliseconds to a few seconds, a handful of tasks drain
// at once per node, and three small reads per poll cost less than keeping watches per task.
import type { Etcd3 } from 'etcd3';
import type { EndpointsSpec } from '../../api/kinds/endpoints.ts';
import { isTerminal, type TaskStatus } from '../../api/kinds/task.ts';
import { drainedKey, loadBalancerLeasePrefix } from '../../api/keys.ts';
import { DEFAULT_NAMESPACE, getCondition, setCondition, type Condition } from '../../api/object.ts';
import type { Store } from '../../api/store.ts';
import { DEFAULT_DRAIN_TIMEOUT_SECONDS, messages, type TaskObject } from './plan.ts';

export interface DrainTarget {
  namespace: string;
  app: string;
  task: string;
}

export type DrainOutcome =
  | { result: 'drained'; loadBalancers: string[] }
  /** `waitingFor`: what still held the task when time ran out. */
  | { result: 'timeout'; waitingFor: string[] };

export interface DrainOptions {
  store: Store;
  client: Etcd3;
  target: DrainTarget;
  /** Epoch ms. */
  deadline: number;
  signal?: AbortSignal;
  pollMs?: number;
  now?: () => number;
}

const ENDPOINTS_WAIT = 'the endpoints controller (Endpoints still list the task)';

export async function waitUntilDrained(options: DrainOptions): Promise<DrainOutcome> {
  const now = options.now ?? Date.now;
  const pollMs = options.pollMs ?? 20;
  for (;;) {
    const waitingFor = await stillRouting(options);
    if (waitingFor.length === 0) return { result: 'drained', loadBalancers: await liveLoadBalancers(options.client) };
    if (now() >= options.deadline || options.signal?.aborted) return { result: 'timeout', waitingFor };
    await delay(Math.min(pollMs, Math.max(0, options.deadline - now())));
  }
}

/** What still routes to the task: the Endpoints, or the load balancers behind their revision. */
async function stillRouting({ store, client, target }: DrainOptions): Promise<string[]> {
  const endpoints = await store.get('Endpoints', { namespace: target.namespace, name: target.app });
  if (!endpoints) return [];
  const spec = endpoints.spec as EndpointsSpec;
  if (spec.ports.some((port) => port.addresses.some((a) => a.task === target.task))) return [ENDPOINTS_WAIT];
  const without = BigInt(endpoints.metadata.resourceVersion ?? '0');
  const behind: string[] = [];
  for (const lb of await liveLoadBalancers(client)) {
    const drained = await client.get(drainedKey(lb, target.namespace, target.app)).string();
    if (drained === null || BigInt(drained) < without) behind.push(`load balancer ${lb}`);
  }
  return behind;
}

async function liveLoadBalancers(client: Etcd3): Promise<string[]> {
  const keys = await client.getAll().prefix(loadBalancerLeasePrefix).keys();
  return keys.map((key) => key.slice(loadBalancerLeasePrefix.length)).sort();
}

export interface DrainTaskOptions {
  /** The task as stored now. */
  task: TaskObject;
  store: Store;
  /** The agent's status write (read-modify-write on the freshest Task); undefined when the task is gone. */
  writeStatus(task: TaskObject, next: (current: TaskObject) => TaskStatus | undefined): Promise<TaskObject | undefined>;
}

/**
 * The drain step of a planned stop, as the agent runs it: condition Draining True, wait until no load
 * balancer routes to the task or the App's drainTimeoutSeconds since the deletion passed, then
 * Draining False with how it ended. The deadline counts from the deletion, so an agent restarted
 * mid-drain does not start the wait over. Undefined when there was nothing to do (drained already,
 * or the task is gone).
 */
export async function drainTask(options: DrainTaskOptions): Promise<{ reason: 'Drained' | 'DrainTimeout'; ms: number } | undefined> {
  const { task, store } = options;
  if (getCondition(task.status?.conditions, 'Draining')?.status === 'False') return undefined;
  const seconds = task.spec.template.drainTimeoutSeconds ?? DEFAULT_DRAIN_TIMEOUT_SECONDS;
  const deletedAt = Date.parse(task.metadata.deletionTimestamp ?? '') || Date.now();
  const started = Date.now();
  const condition = (next: Omit<Condition, 'lastTransitionTime'>) => (t: TaskObject) => {
    if (isTerminal(t.status?.phase)) return undefined;
    const status = structuredClone((t.status ?? { phase: 'Pending' }) as TaskStatus);
    return { ...status, conditions: setCondition(status.conditions, next) };
  };
  const draining = await options.writeStatus(task, condition({ type: 'Draining', status: 'True', reason: 'Draining', message: messages.draining(seconds) }));
  if (!draining) return undefined;
  const outcome = await waitUntilDrained({
    store,
    client: store.client,
    target: { namespace: task.metadata.namespace ?? DEFAULT_NAMESPACE, app: task.spec.app, task: task.metadata.name },
    deadline: deletedAt + seconds * 1000,
  });
  const ms = Date.now() - started;
  const reason = outcome.result === 'drained' ? 'Drained' : 'DrainTimeout';
  const message = outcome.result === 'drained' ? messages.drained(ms, outcome.loadBalancers.length) : messages.drainTimeout(seconds, outcome.waitingFor);
  await options.writeStatus(draining, condition({ type: 'Draining', status: 'False', reason, message }));
  return { reason, ms };
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
