// The endpoints controller (DESIGN.md "Load balancing and discovery"): per App, for each port, the
// tasks that are Running, healthy and ready, with their node's address and host port — what the load
// balancer (runtime/lb) and DNS (runtime/dns) route to. It also gives load-balanced ports their
// service ports (service-ports.ts). The Endpoints object is named like its App and written only when
// what it says changes.
//
// A task being deleted is not serving: it leaves Endpoints at once, which is the first half of the
// drain before kill (runtime/agent/drain.ts waits for the load balancers to let go of it).
//
// Deleting an App is a planned stop of all its tasks, so its Endpoints outlive it: emptied first
// (the load balancers drain every server), deleted with the service ports only once the App's last
// task is gone. That is why Endpoints carry no ownerReference: the gc would delete them with the App,
// and the load balancers would drop the backend (a reload) while its tasks still hold connections.
import { isStoreError } from '../../api/errors.ts';
import type { EndpointsSpec } from '../../api/kinds/endpoints.ts';
import type { NodeSpec } from '../../api/kinds/node.ts';
import { deepEqual } from '../../api/merge.ts';
import { parseRefKey, refKey, type AnyObject, type DeepReadonly } from '../../api/object.ts';
import type { AppSpec } from '../../api/kinds/app.ts';
import { done, type ControllerDefinition, type ReconcileContext, type Result } from '../contract.ts';
import { planEndpoints, wantsServicePorts } from './plan.ts';
import { DEFAULT_SERVICE_PORT_RANGE, messages, ServicePorts, type ServicePortRange } from './service-ports.ts';

export const ENDPOINTS = 'endpoints';

export interface EndpointsControllerOptions {
  servicePortRange?: ServicePortRange;
}

export function endpointsController(options: EndpointsControllerOptions = {}): ControllerDefinition {
  const range = options.servicePortRange ?? DEFAULT_SERVICE_PORT_RANGE;
  return {
    name: ENDPOINTS,
    primaryKind: 'App',
    concurrency: 4,
    watches: [
      { kind: 'App' },
      { kind: 'Task', map: (event) => [refKey({ namespace: event.object.metadata.namespace, name: (event.object.spec as { app: string }).app })] },
      { kind: 'Endpoints' },
      // A node's address is part of every address on it; nodes move rarely, so a change re-reads all Apps.
      { kind: 'Node', map: (event, caches) => (event.type === 'modified' && sameAddress(event.object, event.old) ? [] : caches('App').keys()) },
    ],
    reconcile: (key, ctx) => reconcileEndpoints(key, ctx, new ServicePorts({ client: ctx.store.client, range })),
  };
}

function sameAddress(a: DeepReadonly<AnyObject>, b: DeepReadonly<AnyObject> | undefined): boolean {
  return (a.spec as NodeSpec).address === (b?.spec as NodeSpec | undefined)?.address;
}

async function reconcileEndpoints(key: string, ctx: ReconcileContext, servicePorts: ServicePorts): Promise<Result> {
  const { namespace, name } = parseRefKey(key) as { namespace: string; name: string };
  const app = ctx.informer('App').get(key);
  const stored = ctx.informer('Endpoints').get(key);
  const tasks = ctx.informer('Task').byIndex('app', key);
  if (!app || app.metadata.deletionTimestamp) return retire(key, stored, tasks.length, ctx, servicePorts);

  const ports = await assignServicePorts(app, stored, ctx, servicePorts);
  const nodes = ctx.informer('Node');
  const spec = planEndpoints({
    app,
    tasks,
    nodeAddress: (node) => (nodes.get(node)?.spec as NodeSpec | undefined)?.address,
    servicePorts: ports,
  });
  if (stored && deepEqual(stored.spec, spec)) return done();
  await writeEndpoints(namespace, name, spec, stored, ctx);
  return done();
}

/** The App is gone: empty its Endpoints while any of its tasks remain, then delete them and free its ports. */
async function retire(key: string, stored: DeepReadonly<AnyObject> | undefined, tasks: number, ctx: ReconcileContext, servicePorts: ServicePorts): Promise<Result> {
  const { namespace, name } = parseRefKey(key) as { namespace: string; name: string };
  if (tasks > 0) {
    if (!stored) return done();
    const spec = structuredClone(stored.spec) as EndpointsSpec;
    for (const port of spec.ports) port.addresses = [];
    if (!deepEqual(stored.spec, spec)) await writeEndpoints(namespace, name, spec, stored, ctx);
    return done();
  }
  if (stored) await ctx.store.delete('Endpoints', { namespace, name }).catch(ignoreNotFound);
  const freed = await servicePorts.releaseApp(namespace, name);
  if (freed.length) ctx.log.info({ app: key, ports: freed }, 'service ports freed');
  return done();
}

async function writeEndpoints(namespace: string, name: string, spec: EndpointsSpec, stored: DeepReadonly<AnyObject> | undefined, ctx: ReconcileContext): Promise<void> {
  const object: AnyObject = { apiVersion: 'capstan/v1', kind: 'Endpoints', metadata: { name, namespace }, spec };
  if (!stored) {
    await ctx.store.create(object);
    return;
  }
  // Conditioned on the cached resourceVersion: a Conflict goes back to the runtime, which retries on a fresh cache.
  await ctx.store.update({ ...object, metadata: { ...object.metadata, resourceVersion: stored.metadata.resourceVersion } });
}

async function assignServicePorts(
  app: DeepReadonly<AnyObject>,
  stored: DeepReadonly<AnyObject> | undefined,
  ctx: ReconcileContext,
  servicePorts: ServicePorts,
): Promise<(number | undefined)[]> {
  const spec = app.spec as DeepReadonly<AppSpec>;
  const heldPorts = (stored?.spec as DeepReadonly<EndpointsSpec> | undefined)?.ports ?? [];
  const held = spec.ports.map((_, index) => heldPorts.find((p) => p.index === index)?.servicePort);
  const { namespace, name } = app.metadata as { namespace: string; name: string };
  if (!wantsServicePorts(app)) {
    if (held.some((p) => p !== undefined)) await servicePorts.releaseApp(namespace, name);
    return [];
  }
  const wanted = spec.ports.map((p) => p.servicePort);
  if (ServicePorts.settled({ wanted, held })) return held;
  const assignment = await servicePorts.assign({ namespace, app: name, uid: app.metadata.uid!, wanted, held });
  for (const { port, holder } of assignment.conflicts) {
    await ctx.events.record(app, { type: 'Warning', reason: 'ServicePortConflict', message: messages.conflict(port, holder) });
  }
  if (assignment.exhausted.length) {
    await ctx.events.record(app, { type: 'Warning', reason: 'ServicePortsExhausted', message: messages.exhausted(servicePorts.range) });
  }
  const given = assignment.ports.filter((p, i) => p !== undefined && p !== held[i]);
  if (given.length) await ctx.events.record(app, { reason: 'ServicePortsAssigned', message: `service ports ${assignment.ports.map((p) => p ?? '-').join(', ')}` });
  return assignment.ports;
}

function ignoreNotFound(error: unknown): void {
  if (!isStoreError(error, 'NotFound')) throw error;
}
