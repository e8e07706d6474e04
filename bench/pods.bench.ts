// npm run bench:pods — pods (several containers per instance, each under its own runtime) and resident
// Apps (a local persistent volume per instance slot) on a real one-machine cluster: etcd, a private
// dockerd, the controllers in this process, one `capstan agent` process. Beside plain starts and
// plain Apps in the same run:
//   (a) pod start-up: an App of 30 two-container pods, a Docker busybox httpd and a process busybox
//       httpd per instance; per task, creationTimestamp → the moment this process's watch sees phase
//       Running (both containers started). Baseline: the same 60 containers without Capstan, 30 pairs
//       at once, each pair a plain `docker run -d` (dockerode createContainer + start, host network)
//       and a plain spawn started together, measured until both are up. Beside it, the same App
//       without its process container (one Docker container per task) through Capstan.
//   (b) a rolling upgrade of a resident App of 20 process instances, each appending a line to its
//       persistent volume when it starts: wall time from the template change until the rollout is
//       Complete, and whether every slot's file still holds its first line (and the new task's line,
//       so the new task ran on the same data). Baseline: the same App without the volume, with the
//       same strategy (0.5 / 0, the resident default), on the same cluster.
// Each wait has a deadline that ends the run with what the tasks say (deadline.ts); Ctrl-C or SIGTERM
// stops the agent, its workloads, dockerd and etcd (interrupt.ts).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AppSpec } from '../api/kinds/app.ts';
import type { TaskStatus } from '../api/kinds/task.ts';
import type { VolumeSpec, VolumeStatus } from '../api/kinds/volume.ts';
import { APP_LABEL } from '../api/kinds/wellknown.ts';
import type { CapstanObject } from '../api/object.ts';
import { until } from '../test/helpers/poll.ts';
import { BenchCluster, NAMESPACE } from './cluster.ts';
import { untilRolledOut } from './deadline.ts';
import { onInterrupt } from './interrupt.ts';
import { percentile, printTable } from './report.ts';

type Volume = CapstanObject<VolumeSpec, VolumeStatus>;

const PODS = 30;
const RESIDENT_INSTANCES = 20;
const NODE = { name: 'bench-p1', ports: '23000-23199' };
/** The baselines' ports: beside the node's range, below the kernel's ephemeral range (32768-60999). */
const BASELINE_PORTS = 23200;
/** Each start and upgrade normally takes a few seconds (README); well past that, something is stuck. */
const TIMEOUT_SECONDS = 120;
/** The file each resident instance appends a line to when it starts, in its volume. */
const STARTS_FILE = 'starts.txt';

const say = {
  header: (etcd: string) => `capstan bench:pods — etcd ${etcd}, private dockerd, 1 agent process, node ${process.version}\n`,
  dataKept: (kept: number, slots: number) => `data kept: ${kept} of ${slots} slots`,
  slotLost: (slot: number, before: string, after: string[]) =>
    `  slot ${slot}: expected its first line "${before}" and a line of revision 2, found ${after.length ? after.map((l) => `"${l}"`).join(', ') : 'an empty file'}`,
  noHostPath: (volume: string) => `  volume ${volume}: no status.hostPath (the agent has not provisioned it)`,
};

const p50p99 = (values: number[]) => `${percentile(values, 0.5).toFixed(0)} / ${percentile(values, 0.99).toFixed(0)}`;

/** Creates the App and resolves with each task's creation → Running latency (ms). */
async function podLatencies(cluster: BenchCluster, name: string, spec: Record<string, unknown>): Promise<number[]> {
  const latencies = new Map<string, number>();
  const subscription = cluster.onTask(name, (event, seenAt) => {
    const phase = (event.object.status as TaskStatus | undefined)?.phase;
    if (phase !== 'Running' || latencies.has(event.key)) return;
    latencies.set(event.key, seenAt - Date.parse(event.object.metadata.creationTimestamp!));
  });
  await cluster.createApp(name, spec);
  await until(() => latencies.size >= PODS, { timeoutMs: TIMEOUT_SECONDS * 1000, intervalMs: 50, what: `${PODS} pods of ${name} Running (${latencies.size} so far)` });
  subscription.unsubscribe();
  return [...latencies.values()];
}

interface PlainPair {
  docker: number;
  spawn: number;
  both: number;
}

/** 30 pairs at once: `docker run -d` of busybox httpd and a spawn of busybox httpd, each pair started together. Removed afterwards. */
async function plainPairs(cluster: BenchCluster): Promise<PlainPair[]> {
  const docker = cluster.docker!.docker;
  const children: ReturnType<typeof spawn>[] = [];
  // Detached, so a Ctrl-C at the terminal does not reach them; the interruption step kills them.
  const undo = onInterrupt('the baseline httpd processes', () => children.forEach((child) => child.kill('SIGKILL')));
  const started = async (i: number) => {
    const begin = performance.now();
    const runContainer = (async () => {
      const container = await docker.createContainer({
        Image: 'local/busybox:1',
        Cmd: ['httpd', '-f', '-p', String(BASELINE_PORTS + 2 * i)],
        Labels: { 'capstan.bench': 'baseline' },
        HostConfig: { NetworkMode: 'host', Init: true },
      });
      await container.start();
      return { ms: performance.now() - begin, container };
    })();
    const child = spawn('/bin/sh', ['-c', `exec busybox httpd -f -p ${BASELINE_PORTS + 2 * i + 1}`], { detached: true, stdio: 'ignore' });
    children.push(child);
    const spawned = new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(performance.now() - begin));
      child.once('error', reject);
    });
    const [run, spawnMs] = await Promise.all([runContainer, spawned]);
    return { pair: { docker: run.ms, spawn: spawnMs, both: Math.max(run.ms, spawnMs) }, container: run.container };
  };
  try {
    const results = await Promise.all(Array.from({ length: PODS }, (_, i) => started(i)));
    await Promise.all(results.map(({ container }) => container.remove({ force: true })));
    return results.map((r) => r.pair);
  } finally {
    children.forEach((child) => child.kill('SIGKILL'));
    undo();
  }
}

/** A process container that appends "rev <REV> <task>" to the volume's file at each start, then waits. */
function residentSpec(volume: boolean, upgradeStrategy?: AppSpec['upgradeStrategy']): Record<string, unknown> {
  const dir = volume ? 'data' : '.';
  return {
    instances: RESIDENT_INSTANCES,
    containers: [
      {
        name: 'main',
        env: { REV: '1' },
        cmd: `echo "rev $REV $CAPSTAN_TASK_NAME" >> ${dir}/${STARTS_FILE} && exec sleep 3600`,
        resources: { cpus: 0.01, mem: 4 },
        ...(volume ? { volumeMounts: [{ name: 'data', mountPath: 'data' }] } : {}),
      },
    ],
    ...(volume ? { volumes: [{ name: 'data', persistent: { size: 1 } }] } : {}),
    ...(upgradeStrategy ? { upgradeStrategy } : {}),
    taskKillGracePeriodSeconds: 1,
    progressDeadlineSeconds: TIMEOUT_SECONDS,
  };
}

const rolledOut = (cluster: BenchCluster, app: string, revision: number) =>
  untilRolledOut({ store: cluster.store, namespace: NAMESPACE, app, revision, instances: RESIDENT_INSTANCES, timeoutSeconds: TIMEOUT_SECONDS });

/** Seconds from the App's creation until its first rollout is Complete. */
async function firstStart(cluster: BenchCluster, app: string, spec: Record<string, unknown>): Promise<number> {
  const begin = performance.now();
  await cluster.createApp(app, spec);
  await rolledOut(cluster, app, 1);
  return (performance.now() - begin) / 1000;
}

/** Seconds from the env change (REV=2) until the rollout to revision 2 is Complete. */
async function upgrade(cluster: BenchCluster, app: string): Promise<number> {
  const begin = performance.now();
  const object = await cluster.store.mustGet<CapstanObject<AppSpec>>('App', { namespace: NAMESPACE, name: app });
  const [main, ...rest] = object.spec.containers;
  await cluster.store.update({ ...object, spec: { ...object.spec, containers: [{ ...main!, env: { ...main!.env, REV: '2' } }, ...rest] } });
  await rolledOut(cluster, app, 2);
  return (performance.now() - begin) / 1000;
}

/** Each slot's file, by slot: its lines, as the agent's directory holds them now. */
async function slotFiles(cluster: BenchCluster, app: string): Promise<Map<number, string[]>> {
  const volumes = (await cluster.store.list<Volume>('Volume', { namespace: NAMESPACE, labelSelector: `${APP_LABEL}=${app}` })).items;
  const files = new Map<number, string[]>();
  for (const volume of volumes) {
    const hostPath = volume.status?.hostPath;
    if (!hostPath) {
      console.log(say.noHostPath(volume.metadata.name));
      continue;
    }
    let text = '';
    try {
      text = readFileSync(join(hostPath, STARTS_FILE), 'utf8');
    } catch {
      // not written yet
    }
    files.set(volume.spec.slot, text.split('\n').filter(Boolean));
  }
  return files;
}

/** The first line of every slot, once all slots have written one. */
async function firstLines(cluster: BenchCluster, app: string): Promise<Map<number, string>> {
  let files = new Map<number, string[]>();
  await until(
    async () => {
      files = await slotFiles(cluster, app);
      return files.size === RESIDENT_INSTANCES && [...files.values()].every((lines) => lines.length >= 1);
    },
    { timeoutMs: 30_000, intervalMs: 200, what: `a line in each of the ${RESIDENT_INSTANCES} volumes of ${app}` },
  );
  return new Map([...files].map(([slot, lines]) => [slot, lines[0]!]));
}

/** How many slots kept their first line and got a line of revision 2 (waits a bounded while for the new tasks' lines). */
async function slotsKept(cluster: BenchCluster, app: string, before: Map<number, string>): Promise<number> {
  const kept = (files: Map<number, string[]>) =>
    [...before].filter(([slot, first]) => {
      const lines = files.get(slot) ?? [];
      return lines[0] === first && lines.some((line) => line.startsWith('rev 2 '));
    });
  let files = new Map<number, string[]>();
  await until(
    async () => {
      files = await slotFiles(cluster, app);
      return kept(files).length === before.size;
    },
    { timeoutMs: 15_000, intervalMs: 200, what: 'every slot' },
  ).catch(() => undefined); // the count below says how many did
  const good = new Set(kept(files).map(([slot]) => slot));
  for (const [slot, first] of before) if (!good.has(slot)) console.log(say.slotLost(slot, first, files.get(slot) ?? []));
  return good.size;
}

async function main() {
  const cluster = await BenchCluster.start({ nodes: [NODE], docker: true });
  try {
    console.log(say.header(cluster.etcd.url));

    // (a) pods: no driver, so each container's runtime follows its image (an image → Docker).
    const pods = await podLatencies(cluster, 'pods', {
      instances: PODS,
      containers: [
        { name: 'web', image: 'local/busybox:1', cmd: 'httpd -f -p $PORT_WEB', resources: { cpus: 0.01, mem: 16 } },
        { name: 'side', cmd: 'exec busybox httpd -f -p $PORT_SIDE', resources: { cpus: 0.01, mem: 4 } },
      ],
      ports: [{ name: 'web' }, { name: 'side' }],
      taskKillGracePeriodSeconds: 1,
    });
    await cluster.deleteApp('pods');
    // The pods' Docker containers alone, through Capstan: what the pod adds to a Docker task.
    const boxes = await podLatencies(cluster, 'boxes', {
      instances: PODS,
      containers: [{ name: 'web', image: 'local/busybox:1', cmd: 'httpd -f -p $PORT_WEB', resources: { cpus: 0.01, mem: 16 } }],
      ports: [{ name: 'web' }],
      taskKillGracePeriodSeconds: 1,
    });
    await cluster.deleteApp('boxes');
    const pairs = await plainPairs(cluster);

    // (b) a resident App's rolling upgrade, then the same App without its volume.
    const residentStart = await firstStart(cluster, 'resident', residentSpec(true));
    const before = await firstLines(cluster, 'resident');
    const residentUpgrade = await upgrade(cluster, 'resident');
    const kept = await slotsKept(cluster, 'resident', before);
    await cluster.deleteApp('resident');
    const plainStart = await firstStart(cluster, 'plain', residentSpec(false, { minimumHealthCapacity: 0.5, maximumOverCapacity: 0 }));
    const plainUpgrade = await upgrade(cluster, 'plain');
    await cluster.deleteApp('plain');

    console.log('');
    printTable([
      ['figure (creation → Running, ms)', 'capstan p50 / p99', 'baseline p50 / p99'],
      [`(a) ${PODS} pods (docker httpd + process httpd), 1 agent`, p50p99(pods), `${p50p99(pairs.map((p) => p.both))} docker run -d + spawn, both up`],
      [`    the same ${PODS} without the process container`, p50p99(boxes), `${p50p99(pairs.map((p) => p.docker))} docker run -d alone`],
      ['', '', `${p50p99(pairs.map((p) => p.spawn))} spawn alone`],
    ]);
    console.log('');
    printTable([
      [`(b) ${RESIDENT_INSTANCES} process instances, 1 agent, 0.5 / 0`, 'resident (persistent volume)', 'baseline: same App, no volume'],
      ['first start (creation → rollout Complete)', `${residentStart.toFixed(1)} s`, `${plainStart.toFixed(1)} s`],
      ['rolling upgrade (change → rollout Complete)', `${residentUpgrade.toFixed(1)} s`, `${plainUpgrade.toFixed(1)} s`],
    ]);
    console.log(say.dataKept(kept, RESIDENT_INSTANCES));
    if (kept < RESIDENT_INSTANCES) process.exitCode = 1;
  } finally {
    await cluster.stop();
  }
}

await main();
