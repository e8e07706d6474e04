// npm run bench:traffic — traffic through a real HAProxy driven by `capstan lb`'s Balancer, on a real
// etcd, the built-in controllers in this process and 3 `capstan agent` processes (process driver), with
// every figure beside a baseline measured in the same run. Requests go to 127.0.0.1 only.
//
// 1. Routing latency (an App scaled 2 → 32 and back to 2 in steps of 5-6, a trickle of requests through
//    HAProxy; each task reports every request it gets, as it arrives, over UDP: traffic-backend.ts):
//    healthy → routed: the Healthy condition's lastTransitionTime (the health controller's status write)
//    → the task's first request from HAProxy. Baseline: Healthy → the Endpoints update listing the task,
//    as this process's watch sees it — what any load balancer could do at best. Also shown: → the end of
//    the balancer sync that put the task in a slot (runtime API commands sent).
//    removed → no longer routed: the Task's deletionTimestamp → its last request. Baseline: deletion →
//    the Endpoints update without it, seen by the watch.
// 2. Requests failed under a steady 200 requests/s (one connection each, 5 s timeout) through HAProxy
//    to the fixture server (test/fixtures/traffic/server.mjs, DELAY_MS=50, exits on SIGTERM at once):
//    (a) a rolling upgrade of 20 at 0.85 / 0.15, (c) a revision whose health check fails, rolled back
//    after progressDeadlineSeconds 10, (b) a scale-down 10 → 2. With drain (drainTimeoutSeconds
//    default) beside the same runs without (drainTimeoutSeconds: 0), in the same run.
// 3. DNS: bench/dns.bench.ts benchDns(), after the cluster is stopped.
// 4. HAProxy reloads during 100 scale events (2 ↔ 7 instances, within the backend's 8 slots), beside
//    the runtime API commands and syncs the balancer used instead.
//
// Progress goes to stderr, the table to stdout.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { destination, pino } from 'pino';
import { isStoreError } from '../api/errors.ts';
import type { AppSpec, AppStatus } from '../api/kinds/app.ts';
import { isTerminal, type TaskStatus } from '../api/kinds/task.ts';
import { getCondition, type CapstanObject, type DeepReadonly } from '../api/object.ts';
import { LB_DEFAULTS, startLoadBalancer, type RunningLoadBalancer } from '../cli/lb.ts';
import { until } from '../test/helpers/poll.ts';
import { freePort } from '../test/helpers/ports.ts';
import { BenchCluster, NAMESPACE } from './cluster.ts';
import { onInterrupt } from './interrupt.ts';
import { benchDns } from './dns.bench.ts';
import { collectArrivals, writeReportingServer, type Arrivals } from './traffic-backend.ts';
import { startSteadyLoad } from './traffic-load.ts';
import { Watchers } from './traffic-watchers.ts';
import { LOAD, report, ROLLING_INSTANCES, ROUTING_DOWN, ROUTING_UP, SCALE_BETWEEN, SCALE_EVENTS, TRICKLE_PER_SECOND, type FailureFigures, type ReloadFigures, type RoutingFigures, type Scenario } from './traffic-figures.ts';

type App = CapstanObject<AppSpec, AppStatus>;

// Host and service ports below Linux's ephemeral range (32768-60999): at 200 requests/s on fresh
// connections, a task told to listen on a port some client socket holds as its local port would fail
// with EADDRINUSE and crash-loop.
const NODES = [
  { name: 'traffic-a1', ports: '30000-30199' },
  { name: 'traffic-a2', ports: '30200-30399' },
  { name: 'traffic-a3', ports: '30400-30599' },
];
const SERVICE_PORTS_FROM = 29_000;
const FIXTURE = fileURLToPath(new URL('../test/fixtures/traffic/server.mjs', import.meta.url));

const benchStart = performance.now();
const failedTasks: string[] = [];
const progress = (message: string) => process.stderr.write(`[${((performance.now() - benchStart) / 1000).toFixed(1)} s] ${message}\n`);

const healthCheck = { protocol: 'HTTP', path: '/health', portIndex: 0, gracePeriodSeconds: 10, intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 3, delaySeconds: 0 };

let nextServicePort = SERVICE_PORTS_FROM;
/** A port HAProxy can listen on for an App: below the ephemeral range, free now. */
async function servicePortFree(): Promise<number> {
  for (;;) {
    const port = nextServicePort++;
    const free = await new Promise<boolean>((resolve) => {
      const probe = createServer().once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) return port;
  }
}


async function updateApp(cluster: BenchCluster, name: string, change: (spec: AppSpec) => AppSpec): Promise<void> {
  for (;;) {
    const app = await cluster.store.mustGet<App>('App', { namespace: NAMESPACE, name });
    try {
      await cluster.store.update({ ...app, spec: change(app.spec) });
      return;
    } catch (error) {
      if (!isStoreError(error, 'Conflict')) throw error;
    }
  }
}

/** A new template: the one container's environment with `env` added. */
const withEnv = (spec: AppSpec, env: Record<string, string>): AppSpec => ({ ...spec, containers: spec.containers.map((c) => ({ ...c, env: { ...c.env, ...env } })) });

const scale = (cluster: BenchCluster, name: string, instances: number) => updateApp(cluster, name, (spec) => ({ ...spec, instances }));

/** The App's tasks that are not finished: a Failed one stays listed until the replicas controller forgets it. */
const liveTasks = (cluster: BenchCluster, app: string) => cluster.tasksOf(app).filter((t) => !isTerminal(t.status?.phase) && !t.metadata.deletionTimestamp);

/**
 * Until the App has exactly `instances` tasks, none being deleted (an agent deletes a task only after
 * the load balancers drained it, or its drain timeout passed), all in Endpoints and in serving slots.
 */
async function converged(cluster: BenchCluster, watchers: Watchers, app: string, servicePort: number, instances: number, timeoutMs = 60_000): Promise<void> {
  const state = () => {
    const tasks = cluster.tasksOf(app);
    const slots = watchers.slotsOf(app, servicePort);
    return { tasks: liveTasks(cluster, app).length, deleting: tasks.filter((t) => t.metadata.deletionTimestamp).length, endpoints: watchers.endpointsOf(app).length, ...slots };
  };
  try {
    await until(
      () => {
        const now = state();
        return now.tasks === instances && now.deleting === 0 && now.endpoints === instances && now.serving === instances;
      },
      { timeoutMs, intervalMs: 10 },
    );
  } catch {
    const phases = cluster.tasksOf(app).map((t) => `${t.metadata.name} ${t.status?.phase ?? 'Pending'}${t.metadata.deletionTimestamp ? ' (deleting)' : ''}`);
    throw new Error(`${app} did not converge to ${instances} routed tasks within ${timeoutMs} ms: ${JSON.stringify(state())}; tasks: ${phases.join(', ')}`);
  }
}

// ---------------------------------------------------------------------------------------------
// 1. healthy → routed, removed → no longer routed


async function benchRouting(cluster: BenchCluster, lb: RunningLoadBalancer, watchers: Watchers, dir: string): Promise<RoutingFigures> {
  const app = 'routed';
  const arrivals = await collectArrivals();
  const servicePort = await servicePortFree();
  const healthyAt = new Map<string, number>();
  const deletedAt = new Map<string, number>();
  const tasks = cluster.onTask(app, (event) => {
    const name = event.object.metadata.name;
    const healthy = getCondition((event.object.status as DeepReadonly<TaskStatus> | undefined)?.conditions, 'Healthy');
    if (healthy?.status === 'True' && !healthyAt.has(name)) healthyAt.set(name, Date.parse(healthy.lastTransitionTime));
    const deletion = event.object.metadata.deletionTimestamp;
    if (deletion && !deletedAt.has(name)) deletedAt.set(name, Date.parse(deletion));
  });
  watchers.follow(app, servicePort);
  const server = writeReportingServer(dir);
  await cluster.createApp(app, {
    instances: 2,
    driver: 'process',
    containers: [{ cmd: `exec node ${server}`, env: { COLLECTOR_PORT: String(arrivals.port) }, resources: { cpus: 0.01, mem: 4 } }],
    ports: [{ name: 'http', servicePort }],
    healthChecks: [healthCheck],
    loadBalancer: {},
  });
  await converged(cluster, watchers, app, servicePort, 2);
  const first = new Set(liveTasks(cluster, app).map((t) => t.metadata.name));
  const trickle = startSteadyLoad({ url: `http://127.0.0.1:${servicePort}/`, ratePerSecond: TRICKLE_PER_SECOND, timeoutMs: 5_000, maxDurationMs: 120_000 });
  const reloads = lb.balancer.stats.reloads;
  let reloadsDuringUp = 0;
  try {
    for (const instances of ROUTING_UP) {
      progress(`  routing: scale ${app} to ${instances}`);
      await scale(cluster, app, instances);
      await converged(cluster, watchers, app, servicePort, instances);
      await until(() => liveTasks(cluster, app).every((t) => arrivals.tasks.has(t.metadata.name)), { timeoutMs: 20_000, intervalMs: 10, what: 'a request at every task' });
    }
    reloadsDuringUp = lb.balancer.stats.reloads - reloads;
    const before = new Set(liveTasks(cluster, app).map((t) => t.metadata.name));
    for (const instances of ROUTING_DOWN) {
      progress(`  routing: scale ${app} to ${instances}`);
      await scale(cluster, app, instances);
      await converged(cluster, watchers, app, servicePort, instances);
    }
    const gone = [...before].filter((name) => !liveTasks(cluster, app).some((t) => t.metadata.name === name));
    const added = [...healthyAt.keys()].filter((name) => !first.has(name));
    const trickled = await trickle.stop();
    progress(`  routing: trickle ${trickled.ok}/${trickled.sent} ok`);
    const since = (from: Map<string, number>, to: (name: string) => number | undefined, names: string[]) =>
      names.flatMap((name) => {
        const [a, b] = [from.get(name), to(name)];
        return a === undefined || b === undefined ? [] : [b - a];
      });
    const lastRequest = since(deletedAt, (name) => arrivals.tasks.get(name)?.last, gone);
    return {
      up: {
        endpoints: since(healthyAt, (name) => watchers.listed.get(name), added),
        synced: since(healthyAt, (name) => watchers.routed.get(name), added),
        firstRequest: since(healthyAt, (name) => arrivals.tasks.get(name)?.first, added),
        byRuntimeApi: since(healthyAt, (name) => arrivals.tasks.get(name)?.first, added.filter((name) => !watchers.routedByReload.has(name))),
        byReload: since(healthyAt, (name) => arrivals.tasks.get(name)?.first, added.filter((name) => watchers.routedByReload.has(name))),
      },
      down: {
        endpoints: since(deletedAt, (name) => watchers.unlisted.get(name), gone),
        synced: since(deletedAt, (name) => watchers.drained.get(name), gone),
        lastRequest,
        afterDeletion: lastRequest.filter((ms) => ms >= 0).length,
      },
      reloadsDuringUp,
    };
  } finally {
    await trickle.stop();
    tasks.unsubscribe();
    await cluster.deleteApp(app);
    await arrivals.close();
  }
}

// ---------------------------------------------------------------------------------------------
// 4. reloads per 100 scale events


async function benchReloads(cluster: BenchCluster, lb: RunningLoadBalancer, watchers: Watchers): Promise<ReloadFigures> {
  const app = 'scaled';
  const servicePort = await servicePortFree();
  watchers.follow(app, servicePort);
  await cluster.createApp(app, {
    instances: SCALE_BETWEEN[0],
    driver: 'process',
    containers: [{ cmd: 'exec busybox httpd -f -p $PORT0', resources: { cpus: 0.01, mem: 4 } }],
    ports: [{ name: 'http', servicePort }],
    loadBalancer: {},
  });
  await converged(cluster, watchers, app, servicePort, SCALE_BETWEEN[0]);
  const before = { ...lb.balancer.stats };
  const started = performance.now();
  for (let event = 0; event < SCALE_EVENTS; event += 1) {
    const instances = SCALE_BETWEEN[(event + 1) % 2]!;
    if (event % 20 === 0) progress(`  reloads: scale event ${event + 1}/${SCALE_EVENTS}`);
    await scale(cluster, app, instances);
    await converged(cluster, watchers, app, servicePort, instances);
  }
  const seconds = (performance.now() - started) / 1000;
  const after = lb.balancer.stats;
  const drainingAfter = watchers.slotsOf(app, servicePort).draining;
  await cluster.deleteApp(app);
  return { events: SCALE_EVENTS, reloads: after.reloads - before.reloads, runtimeCommands: after.runtimeCommands - before.runtimeCommands, syncs: after.syncs - before.syncs, seconds, drainingAfter };
}

// ---------------------------------------------------------------------------------------------
// 2. requests failed during a rolling upgrade, a rollback and a scale-down



/** Runs `change` under the steady load, until `done`; the load stops once it is. */
async function underLoad(servicePort: number, what: string, change: () => Promise<void>, done: () => Promise<void>): Promise<Scenario> {
  const load = startSteadyLoad({ url: `http://127.0.0.1:${servicePort}/`, ...LOAD });
  const started = performance.now();
  // The load is stopped (its requests finished) whatever happens, so that a failure leaves none behind.
  const error = await change().then(done).then(() => undefined, (e: unknown) => e ?? new Error(`${what} failed`));
  const result = await load.stop();
  if (error) throw error;
  const seconds = (performance.now() - started) / 1000;
  progress(`    ${what}: ${result.failed} failed of ${result.sent} in ${seconds.toFixed(1)} s${result.failed ? ` (${[...result.reasons].map(([r, n]) => `${n}× ${r}`).join(', ')})` : ''}`);
  return { result, seconds };
}

async function benchFailures(cluster: BenchCluster, lb: RunningLoadBalancer, watchers: Watchers, drain: boolean): Promise<FailureFigures> {
  const app = drain ? 'rolling-drain' : 'rolling-nodrain';
  const servicePort = await servicePortFree();
  watchers.follow(app, servicePort);
  await cluster.createApp(app, {
    instances: ROLLING_INSTANCES,
    driver: 'process',
    containers: [{ cmd: `exec node ${FIXTURE}`, env: { DELAY_MS: '50', VERSION: 'v1' }, resources: { cpus: 0.01, mem: 4 } }],
    ports: [{ name: 'http', servicePort }],
    healthChecks: [healthCheck],
    upgradeStrategy: { minimumHealthCapacity: 0.85, maximumOverCapacity: 0.15 },
    progressDeadlineSeconds: 10,
    loadBalancer: {},
    ...(drain ? {} : { drainTimeoutSeconds: 0 }),
  });
  const status = async () => (await cluster.store.mustGet<App>('App', { namespace: NAMESPACE, name: app })).status;
  const settledOn = (revision: number) =>
    until(
      async () => {
        const s = await status();
        return s?.currentRevision === revision && s.rollout?.phase === 'Complete' && Boolean(s.rollout.completedAt);
      },
      { timeoutMs: 90_000, intervalMs: 20, what: `${app} complete on revision ${revision}` },
    );
  progress(`  ${app}: starting ${ROLLING_INSTANCES}`);
  await settledOn(1);
  await converged(cluster, watchers, app, servicePort, ROLLING_INSTANCES);
  const drainTimeouts = lb.balancer.stats.drainTimeouts;

  const upgrade = await underLoad(
    servicePort,
    `${app} (a) rolling upgrade`,
    () => updateApp(cluster, app, (spec) => withEnv(spec, { VERSION: 'v2' })),
    async () => {
      await settledOn(2);
      await converged(cluster, watchers, app, servicePort, ROLLING_INSTANCES);
    },
  );
  const rollback = await underLoad(
    servicePort,
    `${app} (c) rollback of a failing revision`,
    () => updateApp(cluster, app, (spec) => withEnv(spec, { VERSION: 'v3', UNHEALTHY: '1' })),
    async () => {
      await until(
        async () => {
          const s = await status();
          const stable = s?.rollout?.phase === 'RolledBack' ? s.rollout.revision : undefined;
          const tasks = liveTasks(cluster, app);
          return stable !== undefined && s!.healthy === ROLLING_INSTANCES && tasks.length === ROLLING_INSTANCES && tasks.every((t) => t.spec.revision === stable);
        },
        { timeoutMs: 90_000, intervalMs: 20, what: `${app} rolled back with ${ROLLING_INSTANCES} healthy` },
      );
      await converged(cluster, watchers, app, servicePort, ROLLING_INSTANCES);
    },
  );
  await scale(cluster, app, 10);
  await converged(cluster, watchers, app, servicePort, 10);
  const scaleDown = await underLoad(
    servicePort,
    `${app} (b) scale-down 10 → 2`,
    () => scale(cluster, app, 2),
    () => converged(cluster, watchers, app, servicePort, 2),
  );
  const timeouts = lb.balancer.stats.drainTimeouts - drainTimeouts;
  await cluster.deleteApp(app);
  return { upgrade, rollback, scaleDown, drainTimeouts: timeouts };
}

async function main(): Promise<void> {
  progress(`bench:traffic — etcd, controllers in this process, ${NODES.length} agent processes (process driver), HAProxy; node ${process.version}`);
  const dir = mkdtempSync(join(tmpdir(), 'capstan-bench-traffic-'));
  const cluster = await BenchCluster.start({ nodes: NODES, docker: false });
  // HAProxy's alerts ("no server available" as an App is deleted) go to stderr with the progress.
  const log = pino({ level: 'error' }, destination(2));
  let lb: RunningLoadBalancer | undefined;
  let watchers: Watchers | undefined;
  let clusterUp = true;
  // Runs before the cluster's own steps (newest first): haproxy goes before the agents and etcd.
  const undoLb = onInterrupt('the load balancer and its haproxy', () => lb?.stop());
  try {
    lb = await startLoadBalancer({
      name: 'bench-lb',
      groups: ['external'],
      dir: join(dir, 'lb'),
      bindAddress: '127.0.0.1',
      httpPort: await freePort(),
      statsAddress: '127.0.0.1',
      statsPort: await freePort(),
      drainTimeoutSeconds: LB_DEFAULTS.drainTimeoutSeconds,
      hardStopAfterSeconds: 5,
      store: cluster.store,
      log,
    });
    // A task that fails is not part of any scenario: say so as it happens, and count them.
    cluster.tasks.events$.subscribe((event) => {
      const status = event.object.status as DeepReadonly<TaskStatus> | undefined;
      if (status?.phase !== 'Failed' || (event.old?.status as DeepReadonly<TaskStatus> | undefined)?.phase === 'Failed') return;
      failedTasks.push(`${event.object.metadata.name}: ${status.message ?? ''}`);
      progress(`  task ${event.object.metadata.name} Failed: ${status.message ?? ''}`);
    });
    watchers = new Watchers(cluster, lb);
    await watchers.start();
    progress('1. healthy → routed, removed → no longer routed');
    const routing = await benchRouting(cluster, lb, watchers, dir);
    progress('4. reloads per 100 scale events');
    const reloads = await benchReloads(cluster, lb, watchers);
    progress('2. failed requests with drain');
    const withDrain = await benchFailures(cluster, lb, watchers, true);
    progress('2. failed requests without drain (drainTimeoutSeconds: 0)');
    const without = await benchFailures(cluster, lb, watchers, false);
    await watchers.stop();
    watchers = undefined;
    await lb.stop();
    lb = undefined;
    await cluster.stop();
    clusterUp = false;
    progress('3. DNS');
    const dns = await benchDns();
    report(routing, reloads, withDrain, without, dns, { failedTasks: failedTasks.length, seconds: (performance.now() - benchStart) / 1000 });
  } finally {
    await watchers?.stop();
    await lb?.stop();
    undoLb();
    if (clusterUp) await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
