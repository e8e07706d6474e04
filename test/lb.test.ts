// `capstan lb` end to end on real parts: real etcd, the endpoints controller, the Balancer driving a
// real HAProxy (master-worker), and real HTTP servers in this process standing in for tasks (the
// Tasks are written with the status an agent would give them; test/traffic.test.ts runs real
// agents). Requests go to 127.0.0.1 only.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { drainedKey } from '../api/keys.ts';
import { appSpecSchema, templateOf, type AppSpecInput } from '../api/kinds/app.ts';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import { LOAD_BALANCED_CONDITION } from '../api/kinds/wellknown.ts';
import { getCondition, type AnyObject, type Condition } from '../api/object.ts';
import { startLoadBalancer, type RunningLoadBalancer } from '../cli/lb.ts';
import { runControllers, type RunningControllers } from '../controllers/builtin.ts';
import { findHAProxyProcesses } from '../runtime/lb/haproxy-processes.ts';
import { parseShowStat, sendCommand } from '../runtime/lb/runtime-api.ts';
import { BIN, capstan } from './helpers/cli.ts';
import { useStore } from './helpers/etcd.ts';
import { runLoad } from './helpers/http-load.ts';
import { until } from './helpers/poll.ts';
import { freePort } from './helpers/ports.ts';

const NS = 'shop';
const SERVICE_PORTS = { from: 11000, to: 11100 };
const log = pino({ level: process.env.TEST_LOG ?? 'silent' });

/** The HAProxy masters of a directory: its processes whose parent is not one of them (workers share the master's argv). */
function mastersOf(dir: string) {
  const processes = findHAProxyProcesses(dir);
  return processes.filter((p) => !processes.some((q) => q.pid === p.ppid));
}

/** `capstan lb` as its own OS process, as a node runs it. */
function startLbProcess(args: string[], etcdUrl: string) {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, CAPSTAN_ETCD: etcdUrl, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { process: child, exited, stdout: () => stdout, stderr: () => stderr.slice(-2_000) };
}

/** An HTTP server answering with its name: one "task". */
async function backend(name: string): Promise<{ name: string; port: number; server: Server; hits: number }> {
  const state = { name, port: 0, server: createServer(), hits: 0 };
  state.server.on('request', (req, res) => {
    state.hits += 1;
    res.end(name);
  });
  state.port = await new Promise<number>((resolve) => state.server.listen(0, '127.0.0.1', () => resolve((state.server.address() as { port: number }).port)));
  return state;
}

function get(port: number, options: { host?: string; path?: string; timeoutMs?: number } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: options.path ?? '/', headers: options.host ? { host: options.host } : {}, agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.setTimeout(options.timeoutMs ?? 2_000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

describe('capstan lb on a real HAProxy', () => {
  const db = useStore(builtinRegistry(), { clearEachTest: true });
  let controllers: RunningControllers | undefined;
  let lb: RunningLoadBalancer | undefined;
  let dir: string;
  let httpPort: number;
  const servers: Awaited<ReturnType<typeof backend>>[] = [];

  beforeEach(async () => {
    await db.store.create({ apiVersion: 'capstan/v1', kind: 'Node', metadata: { name: 'n1' }, spec: { address: '127.0.0.1', capacity: { cpus: 8, mem: 8192 } } });
    // A service port range of this file's own: HAProxy binds with SO_REUSEPORT, so a load balancer of
    // another test file on the same port would silently take half the connections.
    controllers = await runControllers({ store: db.store, leaderElection: false, logger: log, handleSignals: false, only: ['endpoints'], servicePortRange: SERVICE_PORTS });
    dir = mkdtempSync(join(tmpdir(), 'capstan-lb-'));
    httpPort = await freePort();
    lb = await startLoadBalancer({
      name: 'edge',
      groups: ['external'],
      dir,
      bindAddress: '127.0.0.1',
      httpPort,
      statsAddress: '127.0.0.1',
      statsPort: await freePort(),
      drainTimeoutSeconds: 10,
      hardStopAfterSeconds: 5,
      store: db.store,
      log,
    });
  });
  afterEach(async () => {
    await lb?.stop();
    await controllers?.stop();
    for (const s of servers.splice(0)) s.server.close();
    expect(findHAProxyProcesses(dir)).toEqual([]);
    rmSync(dir, { recursive: true, force: true });
  });

  const spec = (extra: Partial<AppSpecInput>) => appSpecSchema.parse({ driver: 'process', containers: [{ name: 'main', cmd: 'x' }], ports: [{ name: 'http' }], ...extra });

  async function createApp(name: string, extra: Partial<AppSpecInput>, labels: Record<string, string> = {}) {
    return db.store.create({ apiVersion: 'capstan/v1', kind: 'App', metadata: { name, namespace: NS, labels }, spec: spec(extra) });
  }

  async function addTask(app: string, extra: Partial<AppSpecInput>) {
    const server = await backend(`${app}-${servers.length}`);
    servers.push(server);
    await db.store.create({
      apiVersion: 'capstan/v1',
      kind: 'Task',
      metadata: { name: server.name, namespace: NS },
      spec: { app, revision: 1, template: templateOf(spec(extra)), nodeName: 'n1', hostPorts: [server.port] },
      status: { phase: 'Running' },
    });
    return server;
  }

  /** What the agent does after its drain: the task goes away. */
  async function removeTask(name: string) {
    await db.store.delete('Task', { namespace: NS, name });
    const task = await db.store.mustGet('Task', { namespace: NS, name });
    await db.store.update({ ...task, metadata: { ...task.metadata, finalizers: [] } });
  }

  const servicePort = (app: string) =>
    until(async () => ((await db.store.get('Endpoints', { namespace: NS, name: app }))?.spec as { ports: { servicePort?: number }[] } | undefined)?.ports[0]?.servicePort, { what: `${app}'s service port` });

  /** Which backends answered `count` requests through the service port. */
  async function spread(port: number, count: number, host?: string): Promise<Set<string>> {
    const seen = new Set<string>();
    for (let i = 0; i < count; i += 1) seen.add((await get(port, host ? { host } : {})).body);
    return seen;
  }

  it('routes a service port and a vhost to every serving task, and scales 3 → 6 → 2 without a reload', async () => {
    const extra = { loadBalancer: { vhost: ['web.example.com'] } };
    await createApp('web', extra);
    for (let i = 0; i < 3; i += 1) await addTask('web', extra);
    const port = await servicePort('web');
    await until(async () => (await spread(port, 9).catch(() => new Set())).size === 3, { what: 'requests spread over 3 tasks' });
    expect(await spread(httpPort, 6, 'web.example.com')).toEqual(new Set(servers.map((s) => s.name)));
    expect((await get(httpPort, { host: 'other.example.com' })).status).toBe(503);

    const reloads = lb!.balancer.stats.reloads;
    const masters = findHAProxyProcesses(dir).length;
    for (let i = 0; i < 3; i += 1) await addTask('web', extra);
    await until(async () => (await spread(port, 18).catch(() => new Set())).size === 6, { what: 'requests spread over 6 tasks' });
    const gone = servers.slice(0, 4).map((s) => s.name);
    for (const name of gone) await removeTask(name);
    await until(async () => {
      const seen = await spread(port, 12).catch(() => new Set<string>());
      return seen.size === 2 && ![...seen].some((name) => gone.includes(name));
    }, { what: 'requests only to the 2 remaining tasks' });
    expect(lb!.balancer.stats.reloads).toBe(reloads);
    expect(findHAProxyProcesses(dir).length).toBe(masters);

    // `capstan lb status` shows HAProxy's own view: the backend with its 2 servers up, the drained ones gone.
    const status = await capstan(['lb', 'status', '--dir', dir], { etcd: db.etcd.url });
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/shop_web_\d+\s+UP\s+2\s/);
    const up = status.stdout.match(/^shop_web_\d+\s+s\d+\s+127\.0\.0\.1:\d+\s+shop\/(\S+)\s+UP/gm) ?? [];
    expect(up.map((line) => line.split(/\s+/)[3]).sort()).toEqual(servers.slice(4).map((s) => `shop/${s.name}`).sort());
  });

  it('a task killed (its process died, the agent reported it Failed) is gone from the backend at once', async () => {
    await createApp('crashy', { loadBalancer: {} });
    const tasks = [await addTask('crashy', {}), await addTask('crashy', {}), await addTask('crashy', {})];
    const port = await servicePort('crashy');
    await until(async () => (await spread(port, 9).catch(() => new Set())).size === 3, { what: 'three tasks routed' });
    const victim = tasks[1]!;
    victim.server.close();
    victim.server.closeAllConnections();
    const task = await db.store.mustGet('Task', { namespace: NS, name: victim.name });
    await db.store.updateStatus({ ...task, status: { phase: 'Failed', message: 'killed by signal 9' } });
    await until(async () => {
      const seen = await spread(port, 6).catch(() => undefined);
      return seen?.size === 2 && !seen.has(victim.name);
    }, { what: 'the killed task out of the backend' });
  });

  it('HAProxy killed with -9 is restarted, and routes to the tasks of now, including runtime changes since its last reload', async () => {
    await createApp('phoenix', { loadBalancer: {} });
    for (let i = 0; i < 2; i += 1) await addTask('phoenix', {});
    const port = await servicePort('phoenix');
    await until(async () => (await spread(port, 4).catch(() => new Set())).size === 2, { what: 'phoenix routed' });
    // A change that fits the slots: the runtime API, no reload; then the master dies.
    const reloads = lb!.balancer.stats.reloads;
    const third = await addTask('phoenix', {});
    await until(async () => (await spread(port, 6).catch(() => new Set())).has(third.name), { what: 'the third task routed' });
    expect(lb!.balancer.stats.reloads).toBe(reloads);
    const [master] = mastersOf(dir);
    process.kill(master!.pid, 'SIGKILL');
    await until(async () => (await spread(port, 9).catch(() => new Set())).size === 3, { timeoutMs: 10_000, what: 'all three routed after the restart' });
    expect(mastersOf(dir).map((p) => p.pid)).not.toContain(master!.pid);
    expect(mastersOf(dir)).toHaveLength(1);
  });

  it('capstan lb killed with -9 and started again: HAProxy serves throughout, and one master is left', async () => {
    // Its own group, directory and ports, so the in-process load balancer of the other tests stays out of it.
    await createApp('relay', {}, { HAPROXY_GROUP: 'inner' });
    for (let i = 0; i < 2; i += 1) await addTask('relay', {});
    const port = await servicePort('relay');
    const innerDir = mkdtempSync(join(tmpdir(), 'capstan-lb-inner-'));
    const args = ['lb', '--name', 'inner', '--group', 'inner', '--dir', innerDir, '--bind-address', '127.0.0.1', '--http-port', String(await freePort()), '--stats-port', String(await freePort())];
    const masters = () => mastersOf(innerDir);
    const first = startLbProcess(args, db.etcd.url);
    try {
      await until(() => first.stdout().includes('serving groups inner'), { timeoutMs: 15_000, what: `the first capstan lb to serve (stderr: ${first.stderr()})` });
      await until(async () => (await spread(port, 4).catch(() => new Set())).size === 2, { what: 'relay routed' });
      const load = runLoad({ url: `http://127.0.0.1:${port}/`, ratePerSecond: 200, durationMs: 3_000, timeoutMs: 5_000 });
      first.process.kill('SIGKILL');
      await first.exited;
      const second = startLbProcess(args, db.etcd.url);
      try {
        await until(() => second.stdout().includes('serving groups inner'), { timeoutMs: 15_000, what: `the second capstan lb to serve (stderr: ${second.stderr()})` });
        const result = await load;
        expect(result.failures).toEqual([]);
        await until(() => masters().length === 1, { what: 'exactly one HAProxy master' });
        second.process.kill('SIGINT');
        await second.exited;
        expect(findHAProxyProcesses(innerDir)).toEqual([]);
      } finally {
        second.process.kill('SIGKILL');
      }
    } finally {
      first.process.kill('SIGKILL');
      for (const p of findHAProxyProcesses(innerDir)) process.kill(p.pid, 'SIGKILL');
      rmSync(innerDir, { recursive: true, force: true });
    }
  });

  it('drains a removed task: its open request finishes, and the drain is acknowledged only after it', async () => {
    await createApp('api', {}, { HAPROXY_GROUP: 'external' });
    const a = await addTask('api', {});
    const b = await addTask('api', {});
    const port = await servicePort('api');
    await until(async () => (await spread(port, 6).catch(() => new Set())).size === 2, { what: 'both tasks routed' });
    // b now holds every request it gets until released.
    let release: (() => void) | undefined;
    b.server.removeAllListeners('request');
    b.server.on('request', (_req, res) => (release = () => res.end('late')));
    const answers = [get(port, { timeoutMs: 20_000 }), get(port, { timeoutMs: 20_000 })];
    await until(() => release !== undefined, { what: 'a request held by b' });

    await removeTask(b.name);
    const endpoints = await until(async () => {
      const ep = await db.store.get('Endpoints', { namespace: NS, name: 'api' });
      return (ep?.spec as { ports: { addresses: unknown[] }[] }).ports[0]!.addresses.length === 1 && ep;
    }, { what: 'b out of Endpoints' });
    const without = BigInt(endpoints.metadata.resourceVersion!);
    const acknowledged = async () => BigInt((await db.client.get(drainedKey('edge', NS, 'api')).string()) ?? '0') >= without;
    const stat = async () => parseShowStat(await sendCommand(join(dir, 'admin.sock'), 'show stat')).find((r) => r.addr === `127.0.0.1:${b.port}`);
    await until(async () => (await stat())?.status === 'DRAIN', { what: 'b in DRAIN in HAProxy' });
    expect((await stat())?.scur).toBe(1);
    // b is draining in HAProxy: no new request reaches it, the held one is still open, nothing acknowledged.
    expect(await spread(port, 4)).toEqual(new Set([a.name]));
    expect(await acknowledged()).toBe(false);
    release!();
    expect((await Promise.all(answers)).map((r) => r.status)).toEqual([200, 200]);
    await until(acknowledged, { what: 'drain acknowledged once the request finished' });
  });

  it('leaves out an App whose part haproxy -c refuses, says why on it, and keeps serving the rest', async () => {
    await createApp('good', { loadBalancer: {} });
    await addTask('good', {});
    await createApp('bad', { loadBalancer: {} }, { HAPROXY_0_BIND_ADDR: 'fe80::1%nosuchif' });
    await addTask('bad', {});
    const port = await servicePort('good');
    await until(async () => (await get(port).catch(() => undefined))?.status === 200, { what: 'good served' });
    const condition = await until(async () => {
      const bad = (await db.store.get('App', { namespace: NS, name: 'bad' })) as AnyObject | undefined;
      return getCondition((bad?.status as { conditions?: Condition[] } | undefined)?.conditions, LOAD_BALANCED_CONDITION);
    }, { what: 'LoadBalanced condition on bad' });
    expect(condition).toMatchObject({ status: 'False', reason: 'ConfigRejected' });
    expect(condition.message).toContain('nosuchif');

    // Fixed (a label is metadata: no new generation, but a new fingerprint): routed again, and said so.
    const bad = await db.store.mustGet('App', { namespace: NS, name: 'bad' });
    await db.store.update({ ...bad, metadata: { ...bad.metadata, labels: {} } });
    const accepted = await until(async () => {
      const app = (await db.store.get('App', { namespace: NS, name: 'bad' })) as AnyObject | undefined;
      const c = getCondition((app?.status as { conditions?: Condition[] } | undefined)?.conditions, LOAD_BALANCED_CONDITION);
      return c?.status === 'True' && c;
    }, { what: 'LoadBalanced True again' });
    expect(accepted.reason).toBe('Accepted');
    const badPort = await servicePort('bad');
    await until(async () => (await get(badPort).catch(() => undefined))?.status === 200, { what: 'bad served once fixed' });
  });

  it('a steady load through HAProxy loses nothing while the configuration reloads', async () => {
    await createApp('steady', { loadBalancer: {} });
    for (let i = 0; i < 2; i += 1) await addTask('steady', {});
    const port = await servicePort('steady');
    await until(async () => (await spread(port, 4).catch(() => new Set())).size === 2, { what: 'steady routed' });
    const load = runLoad({ url: `http://127.0.0.1:${port}/`, ratePerSecond: 200, durationMs: 2_500, timeoutMs: 2_000 });
    const reloads = lb!.balancer.stats.reloads;
    // Each new App is a new shape: a reload while the load runs.
    for (let i = 0; i < 3; i += 1) await createApp(`other-${i}`, { loadBalancer: {} });
    await until(() => lb!.balancer.stats.reloads >= reloads + 1, { what: 'a reload' });
    const result = await load;
    expect(result.failures).toEqual([]);
    expect(result.ok).toBe(result.sent);
  });
});
