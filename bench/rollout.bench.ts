// npm run bench:rollout — a rolling upgrade of 100 process-driver instances (busybox httpd, HTTP
// health checks) over 3 real agents with upgradeStrategy 0.9 / 0.1, beside a baseline in the same run
// on the same cluster: the same 100 tasks replaced all at once (0 / 0). For each: wall time from the
// template change to 100 healthy tasks on the new revision, the minimum healthy count and the
// maximum live count an informer on Tasks observed. Each wait has a deadline that ends the run with
// what the tasks say (deadline.ts); Ctrl-C or SIGTERM stops the agents, their workloads and etcd
// (interrupt.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { connectEtcd } from '../api/etcd.ts';
import { Informer } from '../api/informer.ts';
import type { AppSpec, AppStatus } from '../api/kinds/app.ts';
import type { TaskSpec } from '../api/kinds/task.ts';
import type { CapstanObject } from '../api/object.ts';
import type { Store } from '../api/store.ts';
import { runControllers } from '../controllers/builtin.ts';
import { countTasks } from '../controllers/replicas/index.ts';
import { startAgentProcess, type AgentProcess } from '../test/helpers/agent-process.ts';
import { until } from '../test/helpers/poll.ts';
import { killProcessesUnder } from './cluster.ts';
import { untilRolledOut } from './deadline.ts';
import { onInterrupt } from './interrupt.ts';
import { startBenchEtcd } from './local-etcd.ts';
import { printTable } from './report.ts';

type App = CapstanObject<AppSpec, AppStatus>;
const INSTANCES = 100;
const NODES = ['b1', 'b2', 'b3'];
/** Task port ranges below the kernel's ephemeral range (32768-60999), where the agents' own connections take theirs. */
const portsOf = (i: number) => `${22_000 + i * 200}-${22_000 + i * 200 + 199}`;
/** Each start and upgrade normally takes a few seconds (README); well past that, something is stuck. */
const ROLLOUT_TIMEOUT_SECONDS = 120;
const httpd = (page: string) => `echo ${page} > index.html && exec busybox httpd -f -p $PORT0`;

interface Figures {
  seconds: number;
  minHealthy: number;
  maxLive: number;
  states: number;
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'capstan-bench-rollout-'));
  const etcd = await startBenchEtcd();
  const { client, store } = etcd;
  const controllers = await runControllers({ store, leaderElection: false, logger: pino({ level: 'silent' }), handleSignals: false });
  const agents: AgentProcess[] = [];
  // Process workloads outlive their agent by design: they are found by their sandbox under `dir`.
  const stopAgents = async () => {
    await Promise.all(agents.map((a) => a.kill()));
    killProcessesUnder(dir);
    rmSync(dir, { recursive: true, force: true });
  };
  const undoAgents = onInterrupt('agents and their workloads', stopAgents);
  for (const [i, node] of NODES.entries()) {
    agents.push(startAgentProcess({ etcd: etcd.url, node, stateDir: join(dir, node), dockerSocket: '/nonexistent', extraArgs: ['--drivers', 'process', '--ports', portsOf(i)] }));
  }
  try {
    await Promise.all(agents.map((a) => a.started));
    const rows = [['scenario', 'strategy', 'wall time', 'min healthy', 'max live', 'states seen']];
    const initial = await startApp(store, 'rolling', { minimumHealthCapacity: 0.9, maximumOverCapacity: 0.1 });
    rows.push([`first start of ${INSTANCES}`, '-', `${initial.toFixed(1)} s`, '-', '-', '-']);
    const rolling = await upgrade(client, store, 'rolling', 2);
    rows.push([`rolling upgrade of ${INSTANCES}`, '0.9 / 0.1', `${rolling.seconds.toFixed(1)} s`, String(rolling.minHealthy), String(rolling.maxLive), String(rolling.states)]);
    await deleteApp(store, 'rolling');
    await startApp(store, 'atonce', { minimumHealthCapacity: 0, maximumOverCapacity: 0 });
    const atOnce = await upgrade(client, store, 'atonce', 2);
    rows.push([`baseline: replace all ${INSTANCES} at once`, '0 / 0', `${atOnce.seconds.toFixed(1)} s`, String(atOnce.minHealthy), String(atOnce.maxLive), String(atOnce.states)]);
    printTable(rows);
  } finally {
    await controllers.stop();
    await stopAgents();
    undoAgents();
    await etcd.stop();
  }
}

const settled = (store: Store, name: string, revision: number) =>
  untilRolledOut({ store, namespace: 'default', app: name, revision, instances: INSTANCES, timeoutSeconds: ROLLOUT_TIMEOUT_SECONDS });

/** Seconds until all instances are healthy on revision 1. */
async function startApp(store: Store, name: string, upgradeStrategy: AppSpec['upgradeStrategy']): Promise<number> {
  const start = performance.now();
  await store.create({
    apiVersion: 'capstan/v1',
    kind: 'App',
    metadata: { name, namespace: 'default' },
    spec: {
      instances: INSTANCES,
      driver: 'process',
      containers: [{ cmd: httpd('v1'), resources: { cpus: 0.01, mem: 4 } }],
      ports: [{ name: 'http' }],
      healthChecks: [{ protocol: 'HTTP', portIndex: 0, path: '/', gracePeriodSeconds: 5, intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 3, delaySeconds: 0 }],
      upgradeStrategy,
      progressDeadlineSeconds: 120,
    },
  });
  await settled(store, name, 1);
  return (performance.now() - start) / 1000;
}

async function upgrade(client: ReturnType<typeof connectEtcd>, store: Store, name: string, revision: number): Promise<Figures> {
  const informer = new Informer(client, store.kind('Task'));
  let minHealthy = Infinity;
  let maxLive = 0;
  let states = 0;
  const record = () => {
    const counts = countTasks(informer.list((t) => (t.spec as TaskSpec).app === name));
    minHealthy = Math.min(minHealthy, counts.healthy);
    maxLive = Math.max(maxLive, counts.tasks);
    states += 1;
  };
  const subscription = informer.events$.subscribe(record);
  await informer.start();
  record();
  const start = performance.now();
  const app = await store.mustGet<App>('App', { namespace: 'default', name });
  await store.update({ ...app, spec: { ...app.spec, containers: [{ ...app.spec.containers[0]!, cmd: httpd(`v${revision}`) }] } });
  await settled(store, name, revision);
  const seconds = (performance.now() - start) / 1000;
  subscription.unsubscribe();
  await informer.stop();
  return { seconds, minHealthy, maxLive, states };
}

async function deleteApp(store: Store, name: string) {
  await store.delete('App', { namespace: 'default', name });
  await until(async () => (await store.list('Task', { namespace: 'default' })).items.length === 0, { timeoutMs: 120_000, what: `${name}'s tasks gone` });
}

await main();
