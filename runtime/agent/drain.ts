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
import { drainedKey, loadBalancerLeasePrefix } from '../../api/keys.ts';
import type { Store } from '../../api/store.ts';

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

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
