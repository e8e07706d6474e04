// End to end on a real 3-node cluster (issue "Run workloads for real", item 7): placement
// constraints, host ports, both drivers and the launch backoff, with real etcd, a private real
// dockerd, the built-in controllers in this process and three `capstan agent` OS processes (n1, n2
// on rack r1, n3 on rack r2). "Running" is checked where it happens: the workload answers HTTP on
// its host port, and the processes are counted on the machine.
// Kill -9 of workloads and agents, adoption and returning nodes: test/cluster-failures.test.ts.
import { dump } from 'js-yaml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Informer } from '../api/informer.ts';
import { getCondition } from '../api/object.ts';
import { capstan } from './helpers/cli.ts';
import { answersHttp, countBy, HTTPD, portClashes, TestCluster, type Task } from './helpers/cluster.ts';
import { until } from './helpers/poll.ts';

// Port ranges and names are unique to this file: vitest runs test files in parallel on one machine.
const NODES = [
  { name: 'ca-n1', ports: '24110-24129', attributes: { rack: 'r1', zone: 'eu-west' } },
  { name: 'ca-n2', ports: '24130-24149', attributes: { rack: 'r1', zone: 'eu-east' } },
  { name: 'ca-n3', ports: '24150-24169', attributes: { rack: 'r2', zone: 'us-east' } },
];
const rackOf = (task: Task) => NODES.find((n) => n.name === task.spec.nodeName)!.attributes.rack;
const nodeOf = (task: Task) => task.spec.nodeName!;

const WEB = { driver: 'process', containers: [{ cmd: HTTPD('www'), resources: { cpus: 0.1, mem: 16 } }], ports: [{ name: 'http' }] };

let cluster: TestCluster;
const figures: string[] = [];

beforeAll(async () => {
  cluster = await TestCluster.start({ suite: `cluster-${process.pid}`, nodes: NODES, docker: true, leaseTtlSeconds: 1 });
});

afterEach(async () => {
  // An invariant of every test: no two Running tasks on one node ever hold the same host port.
  expect([...cluster.portClashesSeen]).toEqual([]);
  await cluster.reset();
});

afterAll(async () => {
  await cluster?.stop();
  console.log(figures.join('\n'));
});

/** Every task answers on its first host port with its own name: it really runs there. */
async function expectServing(tasks: readonly Task[]): Promise<void> {
  for (const task of tasks) {
    const body = await until(() => answersHttp(task.spec.hostPorts![0]!), { timeoutMs: 5_000, what: `${task.metadata.name} to answer HTTP` });
    expect(body).toBe(`hello-${task.metadata.name}\n`);
  }
}

describe('a 3-node cluster of real agents', () => {
  it('runs 6 hostname:UNIQUE instances as 3 serving processes, one per node, and explains the 3 it cannot place', async () => {
    const manifest = dump({
      apiVersion: 'capstan/v1',
      kind: 'App',
      metadata: { name: 'unique', namespace: cluster.namespace },
      spec: cluster.withMarker({ ...WEB, instances: 6, constraints: [['hostname', 'UNIQUE']] }),
    });
    const applied = await capstan(['apply', '-f', '-'], { etcd: cluster.etcd.url, stdin: manifest });
    expect(applied.code, applied.stderr).toBe(0);

    const running = await cluster.untilRunning('unique', 3, { pending: 3 });
    expect(countBy(running, nodeOf)).toEqual({ 'ca-n1': 1, 'ca-n2': 1, 'ca-n3': 1 });
    await expectServing(running);
    expect(cluster.workloadPids('unique')).toHaveLength(3);

    const reason = '0/3 nodes fit: 3 hostname:UNIQUE';
    const pending = await until(
      async () => {
        const unbound = (await cluster.liveTasksOf('unique')).filter((t) => !t.spec.nodeName);
        const explained = unbound.every((t) => getCondition(t.status?.conditions, 'Scheduled')?.status === 'False');
        return unbound.length === 3 && explained && unbound;
      },
      { what: 'the 3 pending tasks to carry their reason' },
    );
    for (const task of pending) {
      expect(task.status).toMatchObject({ phase: 'Pending', message: reason });
      expect(getCondition(task.status?.conditions, 'Scheduled')).toMatchObject({ reason: 'Unschedulable', message: reason });
    }
    // The scheduler records the Event right after it writes the status.
    const failed = await until(
      async () => {
        const events = Object.values(await cluster.client.getAll().prefix(`/capstan/events/${cluster.namespace}/`).strings()).map((e) => JSON.parse(e).spec);
        const found = events.filter((e) => e.reason === 'FailedScheduling');
        return found.length >= pending.length && found;
      },
      { what: 'a FailedScheduling event for each pending task' },
    );
    expect(failed.map((e) => e.involvedObject.name).sort()).toEqual(pending.map((t) => t.metadata.name).sort());
    expect(failed.every((e) => e.message === reason && e.type === 'Warning')).toBe(true);
  });

  it.each<[string, unknown[][], number, Record<string, number>, number]>([
    ['GROUP_BY rack splits evenly over the two racks (2 nodes on r1, 1 on r2)', [['rack', 'GROUP_BY']], 4, { r1: 2, r2: 2 }, 0],
    ['MAX_PER rack 1 runs one per rack and leaves the third Pending', [['rack', 'MAX_PER', '1']], 3, { r1: 1, r2: 1 }, 1],
    ['LIKE zone eu-.* keeps to the eu nodes', [['zone', 'LIKE', 'eu-.*']], 3, { r1: 3 }, 0],
    ['UNLIKE zone eu-.* keeps off them', [['zone', 'UNLIKE', 'eu-.*']], 2, { r2: 2 }, 0],
    ['IS rack r2 runs only on r2', [['rack', 'IS', 'r2']], 2, { r2: 2 }, 0],
    ['CLUSTER rack r1 runs only on r1', [['rack', 'CLUSTER', 'r1']], 3, { r1: 3 }, 0],
  ])('%s', async (_name, constraints, instances, racks, pending) => {
    await cluster.createApp('placed', { ...WEB, instances, constraints });
    const running = await cluster.untilRunning('placed', instances - pending, { pending });
    expect(countBy(running, rackOf)).toEqual(racks);
    await expectServing(running);
    expect(cluster.workloadPids('placed')).toHaveLength(instances - pending);
  });

  it('never gives two Running tasks on one node the same host port, and each process holds its own', async () => {
    const serveTwo = 'mkdir -p www && echo hello-$CAPSTAN_TASK_NAME > www/index.html && { busybox httpd -f -p $PORT1 -h www & exec busybox httpd -f -p $PORT0 -h www; }';
    const twoPorts = { ...WEB, containers: [{ cmd: serveTwo, resources: { cpus: 0.1, mem: 16 } }] };
    await cluster.createApp('ports-a', { ...twoPorts, instances: 6, ports: [{ name: 'http' }, { name: 'admin' }] });
    await cluster.createApp('ports-b', { ...WEB, instances: 6 });
    const all = [...(await cluster.untilRunning('ports-a', 6)), ...(await cluster.untilRunning('ports-b', 6))];
    expect(portClashes(all)).toEqual([]);
    const byNode = countBy(all.flatMap((t) => (t.spec.hostPorts ?? []).map(() => t)), nodeOf);
    expect(Object.values(byNode).reduce((a, b) => a + b, 0)).toBe(18);
    // Each node hands out its own range: every port is inside it.
    for (const task of all) {
      const [from, to] = NODES.find((n) => n.name === task.spec.nodeName)!.ports.split('-').map(Number);
      for (const port of task.spec.hostPorts!) expect(port >= from! && port <= to!).toBe(true);
    }
    await expectServing(all);
    // All 18 ports answer (the nodes share this machine's loopback, so a clash would have failed a bind).
    const second = all.filter((t) => t.spec.app === 'ports-a').map((t) => t.spec.hostPorts![1]!);
    for (const port of second) expect(await until(() => answersHttp(port), { timeoutMs: 5_000, what: `port ${port} to answer` })).toMatch(/^hello-/);
  });

  it('runs a docker App (local/busybox:1 httpd) that answers on its host port', async () => {
    const created = Date.now();
    await cluster.createApp('docked', {
      driver: 'docker',
      instances: 2,
      containers: [{ image: cluster.dockerd!.image, cmd: HTTPD('/tmp/www'), resources: { cpus: 0.1, mem: 32 } }],
      ports: [{ name: 'http' }],
      constraints: [['hostname', 'UNIQUE']],
    });
    const running = await cluster.untilRunning('docked', 2);
    figures.push(`docker App created → 2 Running: ${Date.now() - created} ms`);
    expect(running.every((t) => t.status?.runtime?.driver === 'docker')).toBe(true);
    await expectServing(running);
    const containers = await cluster.containers('docked');
    expect(containers.map((c) => c.State)).toEqual(['running', 'running']);
  });

  it('delays the launches of a crash-looping command by backoffSeconds × backoffFactor^n, up to maxLaunchDelaySeconds', async () => {
    const settings = { backoffSeconds: 0.2, backoffFactor: 2, maxLaunchDelaySeconds: 2 };
    const expected = [0.2, 0.4, 0.8, 1.6, 2, 2];
    // Every task as the store saw it, from a watch: old failed tasks are forgotten (deleted) as new ones come.
    const informer = new Informer(cluster.client, cluster.store.kind('Task'));
    const seen = new Map<string, { created: number; finished?: number; phase?: string }>();
    const subscription = informer.events$.subscribe(({ object }) => {
      const task = object as unknown as Task;
      if (task.spec.app !== 'crash') return;
      const entry = seen.get(task.metadata.name) ?? { created: Date.parse(task.metadata.creationTimestamp!) };
      if (task.status?.finishedAt) Object.assign(entry, { finished: Date.parse(task.status.finishedAt), phase: task.status.phase });
      seen.set(task.metadata.name, entry);
    });
    await informer.start();
    try {
      await cluster.createApp('crash', { driver: 'process', containers: [{ cmd: 'exit 1', resources: { cpus: 0.1, mem: 16 } }], ...settings });
      await until(() => seen.size > expected.length, { timeoutMs: 20_000, what: `${expected.length + 1} launches of the crash loop` });
    } finally {
      subscription.unsubscribe();
      await informer.stop();
    }
    const launches = [...seen.values()].sort((a, b) => a.created - b.created).slice(0, expected.length + 1);
    const delays = expected.map((_, n) => (launches[n + 1]!.created - launches[n]!.finished!) / 1000);
    const gaps = expected.map((_, n) => (launches[n + 1]!.created - launches[n]!.created) / 1000);
    figures.push(`crash loop: launch delay after failure n (expected ${expected.join(', ')} s): ${delays.map((d) => d.toFixed(3)).join(', ')} s`);
    figures.push(`crash loop: gaps between successive creations: ${gaps.map((d) => d.toFixed(3)).join(', ')} s`);
    expect(launches.slice(0, -1).every((l) => l.phase === 'Failed')).toBe(true);
    for (const [n, delay] of delays.entries()) {
      // Never early (a few ms for the ISO timestamps' rounding); late by no more than a reconcile round on a loaded machine.
      expect(delay).toBeGreaterThanOrEqual(expected[n]! - 0.005);
      expect(delay).toBeLessThanOrEqual(expected[n]! + 0.25);
      expect(gaps[n]).toBeGreaterThanOrEqual(expected[n]!);
    }
  });
});
