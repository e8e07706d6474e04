// Fault domains and GROUP_BY-aware scale-down end to end (issue 13), on real parts: a real etcd, the
// built-in controllers in this process and four `capstan agent` OS processes (process driver). Three
// agents are started with --region eu and a --zone each, the fourth without a fault domain; racks
// are plain attributes (--attr rack=...). Running is checked where it happens: each workload answers
// HTTP on its host port.
import { describe, expect, it } from 'vitest';
import type { NodeSpec } from '../api/kinds/node.ts';
import type { CapstanObject } from '../api/object.ts';
import { getCondition } from '../api/object.ts';
import { readModifyWrite } from '../api/read-modify-write.ts';
import { capstan } from './helpers/cli.ts';
import { answersHttp, countBy, HTTPD, useCluster, type Task } from './helpers/cluster.ts';
import { until } from './helpers/poll.ts';

// Node names and port ranges (27310-27349) of this file's own: vitest runs test files in parallel.
const NODES = [
  { name: 'fd-a', ports: '27310-27319', attributes: { rack: 'r1' }, extraArgs: ['--region', 'eu', '--zone', 'eu-1a'] },
  { name: 'fd-b', ports: '27320-27329', attributes: { rack: 'r2' }, extraArgs: ['--region', 'eu', '--zone', 'eu-1b'] },
  { name: 'fd-c', ports: '27330-27339', attributes: { rack: 'r1' }, extraArgs: ['--region', 'eu', '--zone', 'eu-1c'] },
  { name: 'fd-d', ports: '27340-27349', attributes: { rack: 'r2' } },
];
const ZONES: Record<string, string> = { 'fd-a': 'eu-1a', 'fd-b': 'eu-1b', 'fd-c': 'eu-1c' };
const RACKS: Record<string, string> = { 'fd-a': 'r1', 'fd-b': 'r2', 'fd-c': 'r1', 'fd-d': 'r2' };

const WEB = { driver: 'process', containers: [{ cmd: HTTPD('www'), resources: { cpus: 0.01, mem: 8 } }], ports: [{ name: 'http' }] };

const cluster = useCluster({ suite: `fault-domains-${process.pid}`, nodes: NODES, leaseTtlSeconds: 1 });
const run = (...args: string[]) => capstan(args, { etcd: cluster.etcd.url });
const zoneOf = (task: Task) => ZONES[task.spec.nodeName!] ?? 'none';
const rackOf = (task: Task) => RACKS[task.spec.nodeName!]!;

async function expectServing(tasks: readonly Task[]): Promise<void> {
  for (const task of tasks) {
    const body = await until(() => answersHttp(task.spec.hostPorts![0]!), { timeoutMs: 5_000, what: `${task.metadata.name} to answer HTTP` });
    expect(body).toBe(`hello-${task.metadata.name}\n`);
  }
}

async function setUnschedulable(names: readonly string[], unschedulable: boolean): Promise<void> {
  for (const name of names) {
    await readModifyWrite<CapstanObject<NodeSpec>>({
      store: cluster.store,
      kind: 'Node',
      ref: { name },
      write: 'update',
      change: (node) => ({ ...node, spec: { ...node.spec, unschedulable } }),
      attempts: 10,
    });
  }
}

describe('fault domains: agents started with --region and --zone', () => {
  it('registers them on the Node and shows them in get nodes -o wide', async () => {
    const a = await cluster.store.get<CapstanObject<NodeSpec>>('Node', { name: 'fd-a' });
    const d = await cluster.store.get<CapstanObject<NodeSpec>>('Node', { name: 'fd-d' });
    expect(a!.spec.faultDomain).toEqual({ region: 'eu', zone: 'eu-1a' });
    expect(d!.spec.faultDomain).toBeUndefined();

    const table = await run('get', 'nodes', '-o', 'wide');
    expect(table.code, table.stderr).toBe(0);
    const [header, ...rows] = table.stdout.trim().split('\n').map((line) => line.trim().split(/\s{2,}/));
    const column = (node: string, name: string) => rows.find((row) => row[0] === node)![header!.indexOf(name)];
    expect([column('fd-a', 'REGION'), column('fd-a', 'ZONE')]).toEqual(['eu', 'eu-1a']);
    expect([column('fd-c', 'REGION'), column('fd-c', 'ZONE')]).toEqual(['eu', 'eu-1c']);
    expect([column('fd-d', 'REGION'), column('fd-d', 'ZONE')]).toEqual(['<none>', '<none>']);
  });

  it.each([
    ['--zone', ['--zone', 'eu-1a'], '--zone without --region'],
    ['--region', ['--region', 'eu'], '--region without --zone'],
  ])('refuses %s alone as a usage error (exit 2), before connecting', async (_flag, flags, message) => {
    const result = await run('agent', '--node', 'fd-x', ...flags);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
  });

  it('@zone:UNIQUE runs one instance per zone and explains the 4th it cannot place', async () => {
    await cluster.createApp('zones', { ...WEB, instances: 4, constraints: [['@zone', 'UNIQUE']] });
    const running = await cluster.untilRunning('zones', 3, { pending: 1, timeoutMs: 30_000 });
    expect(countBy(running, zoneOf)).toEqual({ 'eu-1a': 1, 'eu-1b': 1, 'eu-1c': 1 });
    await expectServing(running);

    // fd-d has no fault domain: it lacks @zone, which only UNLIKE admits.
    const reason = '0/4 nodes fit: 4 @zone:UNIQUE';
    const pending = await until(
      async () => {
        const [task] = (await cluster.liveTasksOf('zones')).filter((t) => !t.spec.nodeName);
        return getCondition(task?.status?.conditions, 'Scheduled')?.status === 'False' && task;
      },
      { what: 'the pending task to carry its reason' },
    );
    expect(pending.status).toMatchObject({ phase: 'Pending', message: reason });
  });

  it.each<[string, unknown[][], number, Record<string, number>]>([
    ['@region:CLUSTER:eu keeps to the nodes with a fault domain', [['@region', 'CLUSTER', 'eu']], 6, { 'eu-1a': 2, 'eu-1b': 2, 'eu-1c': 2 }],
    ['@zone:GROUP_BY spreads over the zones and leaves out the node without one', [['@zone', 'GROUP_BY']], 6, { 'eu-1a': 2, 'eu-1b': 2, 'eu-1c': 2 }],
    ['@zone:UNLIKE:eu-1a admits the node without a fault domain', [['@zone', 'UNLIKE', 'eu-1a'], ['@hostname', 'UNIQUE']], 3, { 'eu-1b': 1, 'eu-1c': 1, none: 1 }],
  ])('%s', async (_name, constraints, instances, zones) => {
    await cluster.createApp('placed', { ...WEB, instances, constraints });
    const running = await cluster.untilRunning('placed', instances, { timeoutMs: 30_000 });
    expect(countBy(running, zoneOf)).toEqual(zones);
  });
});

describe('scale-down under GROUP_BY', () => {
  it('GROUP_BY rack over 2 racks scaled 10 → 4 leaves 2 / 2, though the 6 youngest are on one rack', async () => {
    // The first 5 instances go to rack r1 alone (r2 cordoned), the next 5 to r2: YOUNGEST_FIRST
    // alone would kill the 5 on r2 and one on r1, leaving 4 / 0.
    await setUnschedulable(['fd-b', 'fd-d'], true);
    await cluster.createApp('racks', { ...WEB, instances: 5, constraints: [['rack', 'GROUP_BY']] });
    const first = await cluster.untilRunning('racks', 5, { timeoutMs: 30_000 });
    expect(countBy(first, rackOf)).toEqual({ r1: 5 });

    await setUnschedulable(['fd-b', 'fd-d'], false);
    expect((await run('scale', 'racks', '10')).code).toBe(0);
    const ten = await cluster.untilRunning('racks', 10, { timeoutMs: 30_000 });
    expect(countBy(ten, rackOf)).toEqual({ r1: 5, r2: 5 });
    const youngest = [...ten].sort((a, b) => b.metadata.creationTimestamp!.localeCompare(a.metadata.creationTimestamp!)).slice(0, 6);
    expect(countBy(youngest, rackOf)).toEqual({ r1: 1, r2: 5 });

    expect((await run('scale', 'racks', '4')).code).toBe(0);
    const four = await cluster.untilRunning('racks', 4, { timeoutMs: 30_000 });
    expect(countBy(four, rackOf)).toEqual({ r1: 2, r2: 2 });
    // Within a rack killSelection decides: no survivor is younger than a task killed on its rack.
    const survivors = new Set(four.map((t) => t.metadata.name));
    for (const rack of ['r1', 'r2']) {
      const onRack = ten.filter((t) => rackOf(t) === rack);
      const youngestKept = onRack.filter((t) => survivors.has(t.metadata.name)).map((t) => t.metadata.creationTimestamp!).sort().at(-1)!;
      const oldestKilled = onRack.filter((t) => !survivors.has(t.metadata.name)).map((t) => t.metadata.creationTimestamp!).sort()[0]!;
      expect(youngestKept <= oldestKilled).toBe(true);
    }
    await expectServing(four);
  });
});
