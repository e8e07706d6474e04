import { describe, expect, it } from 'vitest';
import type { Constraint } from '../../api/kinds/app.ts';
import { Snapshot, type BoundTask, type NodeView, type TaskDemand } from './snapshot.ts';
import { Stack, type Strategy } from './stack.ts';

function node(name: string, attributes: Record<string, string> = {}, extra: Partial<NodeView> = {}): NodeView {
  return {
    name,
    attributes: { hostname: name, ...attributes },
    capacity: { cpus: 4, mem: 4096, disk: 10_000, gpus: 0 },
    portRange: { from: 31000, to: 31009 },
    drivers: ['docker', 'process'],
    ready: true,
    unschedulable: false,
    ...extra,
  };
}

function task(constraints: Constraint[] = [], extra: Partial<TaskDemand> = {}): TaskDemand {
  return {
    key: 'default/web-x',
    app: 'default/web',
    revision: 1,
    runtimes: ['process'],
    resources: { cpus: 0.1, mem: 32, disk: 0, gpus: 0 },
    ports: [0],
    constraints,
    ...extra,
  };
}

/** Places `count` tasks one after the other, as a burst does, and returns the node of each. */
function placeMany(nodes: NodeView[], demand: TaskDemand, count: number, strategy: Strategy = 'spread', bound: BoundTask[] = []) {
  const snapshot = new Snapshot(nodes, bound);
  const stack = new Stack({ strategy });
  const placed: string[] = [];
  const unplaced: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const result = stack.place(demand, snapshot);
    if (result.kind === 'placed') {
      placed.push(result.placement.node);
      snapshot.assume({ app: demand.app, revision: demand.revision, node: result.placement.node, resources: demand.resources, hostPorts: result.placement.hostPorts });
    } else unplaced.push(result.message);
  }
  return { placed, unplaced };
}

const tally = (names: string[]) => names.reduce<Record<string, number>>((acc, n) => ({ ...acc, [n]: (acc[n] ?? 0) + 1 }), {});

const threeNodes = [node('n1', { rack: 'r1', zone: 'eu-west' }), node('n2', { rack: 'r1', zone: 'eu-east' }), node('n3', { rack: 'r2', zone: 'us-east' })];

describe('constraints, with Marathon semantics', () => {
  it.each<[string, Constraint[], number, Record<string, number>, number]>([
    ['UNIQUE hostname: one per node, the rest pending', [['hostname', 'UNIQUE']], 6, { n1: 1, n2: 1, n3: 1 }, 3],
    ['UNIQUE rack: one per rack', [['rack', 'UNIQUE']], 3, { n1: 1, n3: 1 }, 1],
    ['CLUSTER with a value: only that value', [['rack', 'CLUSTER', 'r2']], 2, { n3: 2 }, 0],
    ['IS: exact value', [['zone', 'IS', 'eu-east']], 2, { n2: 2 }, 0],
    ['LIKE: the whole value matches the regex', [['zone', 'LIKE', 'eu-.*']], 4, { n1: 2, n2: 2 }, 0],
    ['LIKE does not match a prefix only', [['zone', 'LIKE', 'eu']], 1, {}, 1],
    ['UNLIKE: anything but', [['zone', 'UNLIKE', 'eu-.*']], 2, { n3: 2 }, 0],
    ['MAX_PER: at most N per value', [['rack', 'MAX_PER', '2']], 5, { n1: 1, n2: 1, n3: 2 }, 1],
    ['GROUP_BY rack splits evenly over two racks', [['rack', 'GROUP_BY']], 6, { n3: 3 }, 0],
  ])('%s', (_name, constraints, count, expected, pending) => {
    const { placed, unplaced } = placeMany(threeNodes, task(constraints), count);
    const counts = tally(placed);
    for (const [nodeName, n] of Object.entries(expected)) expect(counts[nodeName]).toBe(n);
    expect(unplaced).toHaveLength(pending);
  });

  it('GROUP_BY puts equal numbers in each rack', () => {
    const nodes = [node('a1', { rack: 'a' }), node('a2', { rack: 'a' }), node('a3', { rack: 'a' }), node('b1', { rack: 'b' })];
    const { placed } = placeMany(nodes, task([['rack', 'GROUP_BY', '2']]), 6);
    const racks = tally(placed.map((n) => n[0]!));
    expect(racks).toEqual({ a: 3, b: 3 });
  });

  it('GROUP_BY n admits only values holding no task while fewer than n values hold tasks', () => {
    const nodes = [node('a1', { rack: 'a' }), node('b1', { rack: 'b' })];
    // Marathon waits for a third rack rather than doubling up on the two it knows.
    const { placed, unplaced } = placeMany(nodes, task([['rack', 'GROUP_BY', '3']]), 3);
    expect(placed.sort()).toEqual(['a1', 'b1']);
    expect(unplaced[0]).toContain('rack:GROUP_BY');
  });

  it('CLUSTER without a value keeps every instance on the first value chosen', () => {
    const { placed } = placeMany(threeNodes, task([['rack', 'CLUSTER']]), 4);
    const racks = new Set(placed.map((n) => threeNodes.find((x) => x.name === n)!.attributes.rack));
    expect(racks.size).toBe(1);
    expect(placed).toHaveLength(4);
  });

  it('UNLIKE is the only operator that accepts a node lacking the attribute', () => {
    const nodes = [node('bare'), node('tagged', { zone: 'eu-west' })];
    expect(tally(placeMany(nodes, task([['zone', 'UNLIKE', 'eu-.*']]), 2).placed)).toEqual({ bare: 2 });
    for (const constraint of [['zone', 'UNIQUE'], ['zone', 'CLUSTER', 'x'], ['zone', 'IS', 'x'], ['zone', 'GROUP_BY'], ['zone', 'MAX_PER', '5'], ['zone', 'LIKE', '.*']] as Constraint[]) {
      expect(placeMany([node('bare')], task([constraint]), 1).unplaced).toHaveLength(1);
    }
  });
});

describe('resources, ports and scoring', () => {
  it('explains an unplaceable task with counted reasons', () => {
    const nodes = [
      node('small1', {}, { capacity: { cpus: 4, mem: 16, disk: 0, gpus: 0 } }),
      node('small2', {}, { capacity: { cpus: 4, mem: 16, disk: 0, gpus: 0 } }),
      node('small3', {}, { capacity: { cpus: 4, mem: 16, disk: 0, gpus: 0 } }),
      node('down', {}, { ready: false }),
      node('nodock', {}, { drivers: ['process'] }),
    ];
    const result = placeMany(nodes, task([], { runtimes: ['docker'] }), 1);
    expect(result.unplaced[0]).toBe(
      '0/5 nodes fit: 3 insufficient mem, 1 no docker driver, 1 node not ready; node small1: insufficient mem (wants 32 MiB, 0 of 16 MiB allocated)',
    );
  });

  it.each<[string, string[], string[], string | null]>([
    ['a pod mixing Docker and a process goes to a node with both', ['docker', 'process'], ['docker', 'process'], null],
    ['a pod mixing Docker and a process: a node without Docker cannot take it', ['docker', 'process'], ['process'], 'no docker driver'],
    ['a pod mixing Docker and a process: a node without processes cannot take it', ['docker', 'process'], ['docker'], 'no process driver'],
    ['a process-only pod needs no Docker', ['process'], ['process'], null],
  ])('%s', (_name, runtimes, drivers, reason) => {
    const result = placeMany([node('n1', {}, { drivers })], task([], { runtimes }), 1);
    expect(result.unplaced[0] ?? null).toBe(reason === null ? null : `0/1 nodes fit: 1 ${reason}`);
  });

  it('explains an unplaceable task from the placing scan, running the filters once per node', () => {
    // Resources are checked once per node a scan looks at (resourcesFit reads usedOn); scorers read
    // it too, but only for candidates, and an unplaceable task has none.
    class CountingSnapshot extends Snapshot {
      usedOnCalls = 0;
      override usedOn(name: string) {
        this.usedOnCalls += 1;
        return super.usedOn(name);
      }
    }
    const nodes = [
      ...Array.from({ length: 19 }, (_, i) => node(`small${String(i).padStart(2, '0')}`, {}, { capacity: { cpus: 4, mem: 16, disk: 0, gpus: 0 } })),
      node('big'),
    ];
    const snapshot = new CountingSnapshot(nodes, []);
    const stack = new Stack({ candidateLimit: 8 });
    // Placing one task moves the scan's starting point off the first node.
    expect(stack.place(task(), snapshot)).toMatchObject({ kind: 'placed', placement: { node: 'big' } });
    snapshot.usedOnCalls = 0;
    const result = stack.place(task([], { resources: { cpus: 0.1, mem: 5000, disk: 0, gpus: 0 } }), snapshot);
    expect(result).toMatchObject({ kind: 'unplaced', message: '0/20 nodes fit: 20 insufficient mem; node big: insufficient mem (wants 5000 MiB, 0 of 4096 MiB allocated)' });
    // Once more for the one node the message details.
    expect(snapshot.usedOnCalls).toBe(nodes.length + 1);
  });

  it('never gives two tasks on one node the same port, and honours fixed ports', () => {
    const snapshot = new Snapshot([node('n1')], [{ app: 'default/other', revision: 1, node: 'n1', resources: task().resources, hostPorts: [31000, 31002] }]);
    const stack = new Stack();
    const ports: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      const result = stack.place(task([], { ports: [0, 0] }), snapshot);
      if (result.kind !== 'placed') throw new Error(result.message);
      ports.push(...result.placement.hostPorts);
      snapshot.assume({ app: 'default/web', revision: 1, node: 'n1', resources: task().resources, hostPorts: result.placement.hostPorts });
    }
    expect(ports).toEqual([31001, 31003, 31004, 31005, 31006, 31007]);
    expect(new Set(ports).size).toBe(ports.length);
    const fixed = stack.place(task([], { ports: [31001] }), snapshot);
    expect(fixed).toMatchObject({ kind: 'unplaced', message: '0/1 nodes fit: 1 port 31001 in use' });
    const exhausted = stack.place(task([], { ports: [0, 0, 0] }), snapshot);
    expect(exhausted).toMatchObject({ kind: 'unplaced', message: '0/1 nodes fit: 1 no free ports' });
  });

  it('spreads by default and bin-packs on request', () => {
    expect(tally(placeMany(threeNodes, task(), 6).placed)).toEqual({ n1: 2, n2: 2, n3: 2 });
    const packed = placeMany(threeNodes, task([], { resources: { cpus: 1, mem: 32, disk: 0, gpus: 0 } }), 6, 'binpack').placed;
    expect(tally(packed)).toEqual({ n1: 4, n2: 2 });
  });

  it('counts fractional cpus exactly enough to fill a node', () => {
    const { placed, unplaced } = placeMany([node('n1', {}, { capacity: { cpus: 0.3, mem: 1000, disk: 0, gpus: 0 } })], task(), 4);
    expect(placed).toHaveLength(3);
    expect(unplaced[0]).toBe('0/1 nodes fit: node n1: insufficient cpus (wants 0.1, 0.3 of 0.3 allocated: default/web 0.3)');
  });

  const holder = (app: string, nodeName: string, cpus: number, mem = 0): BoundTask => ({ app, revision: 1, node: nodeName, resources: { cpus, mem, disk: 0, gpus: 0 }, hostPorts: [] });
  const twoCpus = { capacity: { cpus: 2, mem: 1024, disk: 0, gpus: 0 } };

  it.each<[string, NodeView[], BoundTask[], Partial<TaskDemand['resources']>, string]>([
    [
      'the resource trap: two Apps take a 2-cpu node',
      [node('local', {}, twoCpus)],
      [holder('default/web', 'local', 1), holder('default/echo', 'local', 1)],
      { cpus: 1 },
      '0/1 nodes fit: node local: insufficient cpus (wants 1, 2 of 2 allocated: default/echo 1, default/web 1)',
    ],
    [
      'the biggest holders first, at most three named',
      [node('local', {}, twoCpus)],
      [holder('a/one', 'local', 0.2), holder('a/two', 'local', 0.9), holder('a/three', 'local', 0.3), holder('a/four', 'local', 0.3), holder('a/five', 'local', 0.2), holder('a/two', 'local', 0.05)],
      { cpus: 1 },
      '0/1 nodes fit: node local: insufficient cpus (wants 1, 1.95 of 2 allocated: a/two 0.95, a/four 0.3, a/three 0.3, 2 more)',
    ],
    [
      'memory in MiB, holders of other resources left out',
      [node('local', {}, twoCpus)],
      [holder('default/web', 'local', 1, 1000), holder('default/idle', 'local', 0.5)],
      { cpus: 0.1, mem: 100 },
      '0/1 nodes fit: node local: insufficient mem (wants 100 MiB, 1000 of 1024 MiB allocated: default/web 1000)',
    ],
    [
      'many nodes: counted, and the first by name detailed',
      [node('b', {}, twoCpus), node('a', {}, twoCpus), node('c', {}, { ready: false })],
      [holder('default/web', 'a', 2), holder('default/web', 'b', 1.5)],
      { cpus: 1 },
      '0/3 nodes fit: 2 insufficient cpus, 1 node not ready; node a: insufficient cpus (wants 1, 2 of 2 allocated: default/web 2)',
    ],
    ['no detail when resources were not the reason', [node('c', {}, { ready: false })], [], { cpus: 1 }, '0/1 nodes fit: 1 node not ready'],
  ])('names what holds the resources: %s', (_name, nodes, bound, resources, expected) => {
    const demand = task([], { resources: { cpus: 0, mem: 0, disk: 0, gpus: 0, ...resources } });
    expect(placeMany(nodes, demand, 1, 'spread', bound).unplaced).toEqual([expected]);
  });

  it('a released task no longer counts among the holders', () => {
    const web = holder('default/web', 'local', 2);
    const snapshot = new Snapshot([node('local', {}, twoCpus)], [web, holder('default/echo', 'local', 0)]);
    snapshot.release(web);
    expect([...snapshot.holdingsOn('local').keys()]).toEqual(['default/echo']);
  });

  it('pins a task with a persistent volume to its node', () => {
    expect(tally(placeMany(threeNodes, task([], { pinnedNode: 'n2' }), 2).placed)).toEqual({ n2: 2 });
  });
});
