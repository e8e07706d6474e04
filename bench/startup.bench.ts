// npm run bench:startup — how long from a Task's creation until it runs, on a real one-machine cluster
// (etcd, a private dockerd, the controllers in this process, 3 `capstan agent` processes with distinct
// names and port ranges), beside plain starts of the same workloads in the same run:
//   (a) an App of 100 process-driver instances (busybox httpd): per task, creationTimestamp → the
//       moment this process's watch sees phase Running; baseline: 100 plain spawns of the same command
//       (spawn → the 'spawn' event).
//   (b) an App of 30 docker instances of local/busybox:1 (httpd): the same; baseline: 30 plain
//       `docker run -d` (dockerode createContainer + start, host network), all at once, each from its
//       create call until start() resolves.
import { spawn, type ChildProcess } from 'node:child_process';
import type { TaskStatus } from '../api/kinds/task.ts';
import { until } from '../test/helpers/poll.ts';
import { BenchCluster } from './cluster.ts';
import { onInterrupt } from './interrupt.ts';
import { percentile, printTable } from './report.ts';

const PROCESS_INSTANCES = 100;
const DOCKER_INSTANCES = 30;
const NODES = [
  { name: 'bench-a1', ports: '21000-21199' },
  { name: 'bench-a2', ports: '21200-21399' },
  { name: 'bench-a3', ports: '21400-21599' },
];
/** The plain spawns' and docker runs' ports: beside the nodes' ranges, below the kernel's ephemeral range (32768-60999). */
const BASELINE_PORTS = 21600;

/** Creates the App and resolves with each task's creation → Running latency (ms). */
async function runApp(cluster: BenchCluster, name: string, instances: number, spec: Record<string, unknown>): Promise<number[]> {
  const latencies = new Map<string, number>();
  const subscription = cluster.onTask(name, (event, seenAt) => {
    const phase = (event.object.status as TaskStatus | undefined)?.phase;
    const key = event.key;
    if (phase !== 'Running' || latencies.has(key)) return;
    latencies.set(key, seenAt - Date.parse(event.object.metadata.creationTimestamp!));
  });
  await cluster.createApp(name, { instances, ...spec });
  await until(() => latencies.size >= instances, { timeoutMs: 120_000, intervalMs: 50, what: `${instances} tasks of ${name} Running (${latencies.size} so far)` });
  subscription.unsubscribe();
  const spread = new Map<string, number>();
  for (const task of cluster.tasksOf(name)) spread.set(task.spec.nodeName ?? '-', (spread.get(task.spec.nodeName ?? '-') ?? 0) + 1);
  console.log(`  ${name}: ${[...spread].map(([node, n]) => `${node} ${n}`).join(', ')}`);
  return [...latencies.values()];
}

/** Plain spawns of busybox httpd, all at once: spawn → 'spawn' event. Killed afterwards. */
async function plainSpawns(count: number): Promise<number[]> {
  const children: ChildProcess[] = [];
  // Detached, so a Ctrl-C at the terminal does not reach them.
  const undo = onInterrupt('the baseline httpd processes', () => children.forEach((child) => child.kill('SIGKILL')));
  const latencies = await Promise.all(
    Array.from({ length: count }, (_, i) => {
      const started = performance.now();
      const child = spawn('/bin/sh', ['-c', `exec busybox httpd -f -p ${BASELINE_PORTS + i}`], { detached: true, stdio: 'ignore' });
      children.push(child);
      return new Promise<{ ms: number; kill: () => void }>((resolve, reject) => {
        child.once('spawn', () => resolve({ ms: performance.now() - started, kill: () => child.kill('SIGKILL') }));
        child.once('error', reject);
      });
    }),
  );
  for (const { kill } of latencies) kill();
  undo();
  return latencies.map((l) => l.ms);
}

/** Plain `docker run -d --network host local/busybox:1 httpd -f -p PORT`, all at once. Removed afterwards. */
async function plainDockerRuns(cluster: BenchCluster, count: number): Promise<number[]> {
  const docker = cluster.docker!.docker;
  const runs = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const started = performance.now();
      const container = await docker.createContainer({
        Image: 'local/busybox:1',
        Cmd: ['httpd', '-f', '-p', String(BASELINE_PORTS + i)],
        Labels: { 'capstan.bench': 'baseline' },
        HostConfig: { NetworkMode: 'host', Init: true },
      });
      await container.start();
      return { ms: performance.now() - started, container };
    }),
  );
  await Promise.all(runs.map(({ container }) => container.remove({ force: true })));
  return runs.map((r) => r.ms);
}

const row = (label: string, values: number[], baseline: number[], baselineLabel: string, target: string) => [
  label,
  `${percentile(values, 0.5).toFixed(0)} / ${percentile(values, 0.99).toFixed(0)}`,
  `${percentile(baseline, 0.5).toFixed(0)} / ${percentile(baseline, 0.99).toFixed(0)} ${baselineLabel}`,
  target,
];

async function main() {
  const cluster = await BenchCluster.start({ nodes: NODES, docker: true });
  try {
    console.log(`capstan bench:startup — etcd ${cluster.etcd.url}, private dockerd, ${NODES.length} agent processes, node ${process.version}\n`);
    const processes = await runApp(cluster, 'procs', PROCESS_INSTANCES, {
      driver: 'process',
      containers: [{ cmd: 'exec busybox httpd -f -p $PORT0', resources: { cpus: 0.01, mem: 8 } }],
      ports: [{ name: 'http' }],
    });
    await cluster.deleteApp('procs');
    const spawns = await plainSpawns(PROCESS_INSTANCES);

    const containers = await runApp(cluster, 'boxes', DOCKER_INSTANCES, {
      driver: 'docker',
      containers: [{ image: 'local/busybox:1', cmd: 'httpd -f -p $PORT0', resources: { cpus: 0.01, mem: 16 } }],
      ports: [{ name: 'http' }],
      taskKillGracePeriodSeconds: 1,
    });
    await cluster.deleteApp('boxes');
    const runs = await plainDockerRuns(cluster, DOCKER_INSTANCES);

    console.log('');
    printTable([
      ['figure (creation → Running, ms)', 'capstan p50 / p99', 'baseline p50 / p99', 'target'],
      row(`(a) ${PROCESS_INSTANCES} process instances over ${NODES.length} agents`, processes, spawns, 'plain spawn', 'p99 ≤ 1000 ms'),
      row(`(b) ${DOCKER_INSTANCES} docker instances over ${NODES.length} agents`, containers, runs, 'plain docker run -d', 'p99 ≤ 3000 ms'),
    ]);
  } finally {
    await cluster.stop();
  }
}

await main();
