// The endpoints controller on real etcd: which tasks an App's Endpoints list, service ports given
// once and kept, a clash settled by the claim transaction, and the drain waiter the agent uses
// (runtime/agent/drain.ts) against a load balancer's lease and its drain records. Tasks are written
// directly with the statuses an agent and the health controller would give them: the controller
// under test only reads them.
import type { Lease } from 'etcd3';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { drainedKey, loadBalancerLeaseKey, servicePortKey } from '../api/keys.ts';
import { appSpecSchema, templateOf, type AppSpecInput } from '../api/kinds/app.ts';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import type { EndpointsSpec } from '../api/kinds/endpoints.ts';
import type { AnyObject } from '../api/object.ts';
import { runControllers, type RunningControllers } from '../controllers/builtin.ts';
import { ServicePorts } from '../controllers/endpoints/service-ports.ts';
import { waitUntilDrained } from '../runtime/agent/drain.ts';
import { useStore } from './helpers/etcd.ts';
import { until } from './helpers/poll.ts';

const NS = 'shop';
const log = pino({ level: 'silent' });

describe('endpoints controller', () => {
  const db = useStore(builtinRegistry(), { clearEachTest: true });
  let controllers: RunningControllers | undefined;

  beforeEach(async () => {
    await db.store.create({ apiVersion: 'capstan/v1', kind: 'Node', metadata: { name: 'n1' }, spec: { address: '127.0.0.1', capacity: { cpus: 8, mem: 8192 } } });
    controllers = await runControllers({ store: db.store, leaderElection: false, logger: log, handleSignals: false, only: ['endpoints', 'gc'] });
  });
  afterEach(async () => {
    await controllers?.stop();
  });

  const appSpec = (extra: Partial<AppSpecInput> = {}) => appSpecSchema.parse({ driver: 'process', containers: [{ name: 'main', cmd: 'x' }], ports: [{ name: 'http' }], ...extra });

  async function createApp(name: string, extra: Partial<AppSpecInput> = {}, labels: Record<string, string> = {}): Promise<AnyObject> {
    return db.store.create({ apiVersion: 'capstan/v1', kind: 'App', metadata: { name, namespace: NS, labels }, spec: appSpec(extra) });
  }

  async function createTask(app: string, name: string, options: { hostPort: number; phase?: string; healthy?: 'True' | 'False'; extra?: Partial<AppSpecInput> }) {
    const conditions = options.healthy ? [{ type: 'Healthy', status: options.healthy, lastTransitionTime: new Date().toISOString() }] : [];
    return db.store.create({
      apiVersion: 'capstan/v1',
      kind: 'Task',
      metadata: { name, namespace: NS },
      spec: { app, revision: 1, template: templateOf(appSpec(options.extra)), nodeName: 'n1', hostPorts: [options.hostPort] },
      status: { phase: options.phase ?? 'Running', conditions },
    });
  }

  const endpoints = async (app: string) => (await db.store.get('Endpoints', { namespace: NS, name: app }))?.spec as EndpointsSpec | undefined;
  const served = async (app: string) => (await endpoints(app))?.ports[0]?.addresses.map((a) => `${a.task}@${a.address}:${a.hostPort}`).sort();

  it('lists Running, healthy tasks and drops one the moment it is deleted', async () => {
    const check = { healthChecks: [{ protocol: 'HTTP' as const, path: '/' }] };
    await createApp('web', check);
    await createTask('web', 'web-a', { hostPort: 31001, healthy: 'True', extra: check });
    await createTask('web', 'web-b', { hostPort: 31002, healthy: 'False', extra: check });
    await createTask('web', 'web-c', { hostPort: 31003, phase: 'Starting', extra: check });
    await until(async () => JSON.stringify(await served('web')) === JSON.stringify(['web-a@127.0.0.1:31001']), { what: 'web-a alone in Endpoints' });

    const b = await db.store.mustGet('Task', { namespace: NS, name: 'web-b' });
    await db.store.updateStatus({ ...b, status: { ...(b.status as object), conditions: [{ type: 'Healthy', status: 'True', lastTransitionTime: new Date().toISOString() }] } });
    await until(async () => (await served('web'))?.length === 2, { what: 'web-b joins once healthy' });

    await db.store.delete('Task', { namespace: NS, name: 'web-a' });
    // The agent's finalizer keeps the task (its agent would now drain and stop it), but it no longer serves.
    expect(await db.store.get('Task', { namespace: NS, name: 'web-a' })).toBeDefined();
    await until(async () => JSON.stringify(await served('web')) === JSON.stringify(['web-b@127.0.0.1:31002']), { what: 'web-a gone from Endpoints' });
  });

  it('gives load-balanced ports a service port once, keeps it across changes, frees it with the App', async () => {
    await createApp('web', { loadBalancer: { vhost: ['web.local'] } });
    await createApp('api', {}, { HAPROXY_GROUP: 'external' });
    await createApp('plain');
    const portOf = async (app: string) => (await endpoints(app))?.ports[0]?.servicePort;
    const web = await until(() => portOf('web'), { what: 'web service port' });
    const api = await until(() => portOf('api'), { what: 'api service port' });
    expect(new Set([web, api])).toEqual(new Set([10000, 10001]));
    await until(async () => (await endpoints('plain')) !== undefined, { what: 'plain Endpoints' });
    expect(await portOf('plain')).toBeUndefined();

    // A new template (a new revision) keeps the port.
    const current = await db.store.mustGet('App', { namespace: NS, name: 'web' });
    await db.store.update({ ...current, spec: appSpec({ loadBalancer: { vhost: ['web.local'] }, containers: [{ name: 'main', cmd: 'y' }] }) });
    await createTask('web', 'web-a', { hostPort: 31001 });
    await until(async () => (await served('web'))?.length === 1, { what: 'web-a served' });
    expect(await portOf('web')).toBe(web);

    // Deleting the App empties its Endpoints while its task remains (it is drained), and frees the port once it is gone.
    await db.store.delete('App', { namespace: NS, name: 'web' });
    await until(async () => (await served('web'))?.length === 0, { what: 'web Endpoints emptied' });
    expect(await db.client.get(servicePortKey(web!)).string()).not.toBeNull();
    await db.store.delete('Task', { namespace: NS, name: 'web-a' });
    const deleting = await db.store.mustGet('Task', { namespace: NS, name: 'web-a' });
    await db.store.update({ ...deleting, metadata: { ...deleting.metadata, finalizers: [] } });
    await until(async () => (await db.client.get(servicePortKey(web!)).string()) === null, { what: `service port ${web} freed` });
    expect(await endpoints('web')).toBeUndefined();
    await createApp('next', { loadBalancer: {} });
    expect(await until(() => portOf('next'), { what: 'next service port' })).toBe(web);
  });

  it('settles two Apps naming the same service port: the first claim wins, the other is told', async () => {
    await createApp('first', { ports: [{ name: 'http', servicePort: 10050 }] });
    await until(async () => (await endpoints('first'))?.ports[0]?.servicePort === 10050, { what: 'first holds 10050' });
    await createApp('second', { ports: [{ name: 'http', servicePort: 10050 }] });
    await until(async () => (await endpoints('second')) !== undefined, { what: 'second Endpoints' });
    expect((await endpoints('second'))?.ports[0]?.servicePort).toBeUndefined();
    const events = async () => Object.values(await db.client.getAll().prefix(`/capstan/events/${NS}/`).strings()).map((v) => (JSON.parse(v) as { spec: { reason: string; message: string } }).spec);
    const conflict = await until(async () => (await events()).find((e) => e.reason === 'ServicePortConflict'), { what: 'a ServicePortConflict event' });
    expect(conflict.message).toBe(`service port 10050 is held by App ${NS}/first`);
  });
});

describe('service port claims', () => {
  const db = useStore(builtinRegistry());


  it('a reconcile reading stale Endpoints (no port yet) finds the port it claimed, and frees nothing', async () => {
    const ports = new ServicePorts({ client: db.client, range: { from: 10000, to: 10100 } });
    const app = { namespace: NS, app: 'web', uid: 'u1', wanted: [undefined, undefined] };
    const first = await ports.assign({ ...app, held: [] });
    expect(first.ports).toEqual([10000, 10001]);
    expect((await ports.assign({ ...app, held: [] })).ports).toEqual([10000, 10001]);
    expect(Object.keys(await db.client.getAll().prefix('/capstan/serviceports/').strings())).toHaveLength(2);
    // Another App racing for ports gets the next ones.
    expect((await ports.assign({ namespace: NS, app: 'api', uid: 'u2', wanted: [undefined], held: [] })).ports).toEqual([10002]);
  });
});

describe('drain waiter', () => {
  const db = useStore(builtinRegistry());
  const leases: Lease[] = [];

  afterEach(async () => {
    for (const lease of leases.splice(0)) await lease.revoke();
    await db.client.delete().prefix('/capstan/');
  });

  const target = { namespace: NS, app: 'web', task: 'web-a' };
  const address = (task: string) => ({ address: '127.0.0.1', hostPort: 31001, task, node: 'n1' });
  const writeEndpoints = async (tasks: string[]) => {
    const current = await db.store.get('Endpoints', { namespace: NS, name: 'web' });
    const spec = { app: 'web', ports: [{ index: 0, protocol: 'tcp', addresses: tasks.map(address) }] };
    const written: AnyObject = current
      ? await db.store.update({ ...current, spec })
      : await db.store.create({ apiVersion: 'capstan/v1', kind: 'Endpoints', metadata: { name: 'web', namespace: NS }, spec });
    return written.metadata.resourceVersion!;
  };
  const registerLoadBalancer = async (name: string) => {
    const lease = db.client.lease(5);
    leases.push(lease);
    await lease.put(loadBalancerLeaseKey(name)).value('{}');
    return lease;
  };

  it('waits for the Endpoints, then for every live load balancer to have drained that revision', async () => {
    await writeEndpoints(['web-a', 'web-b']);
    const lb = await registerLoadBalancer('edge-1');
    let outcome: Awaited<ReturnType<typeof waitUntilDrained>> | undefined;
    const waiting = waitUntilDrained({ store: db.store, client: db.client, target, deadline: Date.now() + 10_000 }).then((o) => (outcome = o));

    const without = await writeEndpoints(['web-b']);
    await lb.put(drainedKey('edge-1', NS, 'web')).value(String(BigInt(without) - 1n));
    // Behind by one revision: still held (a second, short waiter says so).
    expect(await waitUntilDrained({ store: db.store, client: db.client, target, deadline: Date.now() + 150 })).toEqual({ result: 'timeout', waitingFor: ['load balancer edge-1'] });
    expect(outcome).toBeUndefined();
    await lb.put(drainedKey('edge-1', NS, 'web')).value(without);
    await waiting;
    expect(outcome).toEqual({ result: 'drained', loadBalancers: ['edge-1'] });
  });

  it('stops waiting for a load balancer whose lease ended, and gives up at the deadline naming what held it', async () => {
    await writeEndpoints(['web-b']);
    const lb = await registerLoadBalancer('edge-1');
    const timedOut = await waitUntilDrained({ store: db.store, client: db.client, target, deadline: Date.now() + 200 });
    expect(timedOut).toEqual({ result: 'timeout', waitingFor: ['load balancer edge-1'] });
    await lb.revoke();
    leases.splice(0);
    expect(await waitUntilDrained({ store: db.store, client: db.client, target, deadline: Date.now() + 5_000 })).toEqual({ result: 'drained', loadBalancers: [] });
  });
});
