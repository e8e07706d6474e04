// Marathon's own placement expectations (its v1.10.26 ConstraintsTest and ResourceMatcherTest, as
// transcribed in ../shared/reference/constraints), each written in Capstan's model: agents are Node
// objects (name, hostname, attributes as the agent would register them, fault domain), the App's
// placed tasks are tasks bound to nodes carrying the attributes the test gives them, and "a task of
// an older configuration" is a task of an older revision. Every check asks the scheduler's filter
// about the agents Marathon's test asserts, with the nodes built by nodeView (demand.ts) and the
// counts kept by the Snapshot, so value formatting and counting are the real ones.
import { describe, expect, it } from 'vitest';
import type { Constraint } from '../../api/kinds/app.ts';
import type { AnyObject } from '../../api/object.ts';
import { nodeView } from './demand.ts';
import { constraintsMet } from './filters/constraints.ts';
import { Snapshot, type BoundTask, type NodeView, type TaskDemand } from './snapshot.ts';
import { Stack } from './stack.ts';

/** `name host=h attr=v … @region=r @zone=z`, a node as an agent registers it. */
function nodeObject(spec: string): AnyObject {
  const [name, ...pairs] = spec.split(' ');
  const attributes: Record<string, string> = {};
  let region: string | undefined;
  let zone: string | undefined;
  for (const pair of pairs) {
    const [key, value] = pair.split('=') as [string, string];
    if (key === 'host') attributes.hostname = value;
    else if (key === '@region') region = value;
    else if (key === '@zone') zone = value;
    else attributes[key] = value;
  }
  return {
    apiVersion: 'capstan/v1',
    kind: 'Node',
    metadata: { name: name! },
    spec: {
      address: '127.0.0.1',
      attributes,
      ...(region && zone ? { faultDomain: { region, zone } } : {}),
      capacity: { cpus: 8, mem: 8192 },
      portRange: { from: 31000, to: 31999 },
      drivers: ['process'],
      unschedulable: false,
    },
    status: { conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

const CURRENT = 2;
const OLD = 1;

interface Check {
  /** The App's tasks already placed: `host=h attr=v …`, `old` for a task of an older revision. */
  placed: string[];
  accepted: string[];
  rejected: string[];
  constraints?: Constraint[];
}

interface Case {
  name: string;
  constraints: Constraint[];
  agents: string[];
  checks: Check[];
}

/** The snapshot a check describes: the agents, plus a node for each distinct place a task sits on. */
function snapshotFor(agents: readonly string[], placed: readonly string[]): { snapshot: Snapshot; nodes: Map<string, NodeView> } {
  const views = agents.map((agent) => nodeView(nodeObject(agent)));
  const tasks: BoundTask[] = [];
  const where = new Map<string, string>();
  for (const entry of placed) {
    const old = entry.split(' ').includes('old');
    const place = entry
      .split(' ')
      .filter((token) => token !== 'old')
      .join(' ');
    let nodeName = where.get(place);
    if (!nodeName) {
      // A task on an agent of the pool sits on that node (same hostname, nothing else said).
      const hostname = /host=(\S+)/.exec(place)?.[1];
      const agent = views.find((view) => view.attributes.hostname === hostname && place === `host=${hostname}`);
      nodeName = agent?.name ?? `placed-${where.size}`;
      if (!agent) views.push(nodeView(nodeObject(`${nodeName} ${place}`)));
      where.set(place, nodeName);
    }
    tasks.push({ app: 'ns/app', revision: old ? OLD : CURRENT, node: nodeName, resources: { cpus: 0.1, mem: 1, disk: 0, gpus: 0 }, hostPorts: [] });
  }
  return { snapshot: new Snapshot(views, tasks), nodes: new Map(views.map((view) => [view.name, view])) };
}

const demand = (constraints: Constraint[]): TaskDemand => ({
  key: 'ns/app-2-x',
  app: 'ns/app',
  revision: CURRENT,
  runtimes: ['process'],
  resources: { cpus: 0.1, mem: 1, disk: 0, gpus: 0 },
  ports: [],
  constraints,
});

const rack = (n: number | string) => `rack${n} host=foohost foo=bar rackid=rack-${n}`;
const racks = (...values: (number | string)[]) => values.map((v) => `host=host rackid=rack-${v}`);
const scalarRacks = (...values: string[]) => values.map((v) => `host=host rackid=${v}`);
const hosts = (...names: string[]) => names.map((n) => `host=${n}`);
const typed = ['host=host foo=bar', 'host=host jdk=7', 'host=host jdk=[6-7]', 'host=host gpu={0,1}'];

const CASES: Case[] = [
  {
    name: 'UNIQUE on @hostname: one task per host',
    constraints: [['@hostname', 'UNIQUE']],
    agents: ['host2 host=host2', 'host4 host=host4'],
    checks: [
      { placed: [], accepted: ['host2'], rejected: [] },
      { placed: hosts('host1', 'host2', 'host3'), accepted: ['host4'], rejected: ['host2'] },
    ],
  },
  {
    name: 'CLUSTER on @hostname: any host first; with a value, that host only',
    constraints: [['@hostname', 'CLUSTER']],
    agents: ['foohost host=foohost', 'wrong.com host=wrong.com'],
    checks: [
      { placed: [], accepted: ['foohost'], rejected: [] },
      { placed: [], accepted: [], rejected: ['wrong.com'], constraints: [['@hostname', 'CLUSTER', 'right.com']] },
    ],
  },
  {
    name: 'CLUSTER on an attribute without a value: the first task fixes it',
    constraints: [['rackid', 'CLUSTER']],
    agents: [rack(1), rack(2), 'noattr host=foohost'],
    checks: [
      { placed: [], accepted: ['rack1'], rejected: ['noattr'] },
      { placed: racks(1, 1), accepted: ['rack1'], rejected: ['rack2'] },
    ],
  },
  {
    name: 'UNIQUE on an attribute: one task per value; a node lacking it is refused',
    constraints: [['rackid', 'UNIQUE']],
    agents: [rack(1), rack(3), 'noattr host=foohost'],
    checks: [
      { placed: [], accepted: ['rack1'], rejected: ['noattr'] },
      { placed: racks(1, 2), accepted: ['rack3'], rejected: ['rack1'] },
    ],
  },
  {
    name: 'LIKE matches the whole value; a node lacking the attribute is refused',
    constraints: [['jdk', 'LIKE', '7']],
    agents: ['jdk6 host=foohost jdk=6', 'jdk7 host=foohost jdk=7', 'noattr host=foohost'],
    checks: [{ placed: [], accepted: ['jdk7'], rejected: ['jdk6', 'noattr'] }],
  },
  {
    name: 'UNLIKE, the one operator admitting a node that lacks the attribute',
    constraints: [['jdk', 'UNLIKE', '7']],
    agents: ['jdk6 host=foohost jdk=6', 'jdk7 host=foohost jdk=7', 'noattr host=foohost'],
    checks: [{ placed: [], accepted: ['jdk6', 'noattr'], rejected: ['jdk7'] }],
  },
  {
    name: 'GROUP_BY 2 over racks: new values first, then the least loaded',
    constraints: [['rackid', 'GROUP_BY', '2']],
    agents: [rack(1), rack(2), 'noattr host=foohost'],
    checks: [
      { placed: [], accepted: ['rack1'], rejected: ['noattr'] },
      { placed: racks(1), accepted: ['rack2'], rejected: ['rack1'] },
      { placed: racks(1, 2), accepted: ['rack1'], rejected: [] },
      { placed: racks(1, 1, 2), accepted: [], rejected: ['rack1'] },
    ],
  },
  {
    name: 'GROUP_BY 3 over three racks: round robin',
    constraints: [['rackid', 'GROUP_BY', '3']],
    agents: [rack(1), rack(2), rack(3)],
    checks: [
      { placed: [], accepted: ['rack1'], rejected: [] },
      { placed: racks(1), accepted: ['rack2'], rejected: [] },
      { placed: racks(1, 2), accepted: ['rack3'], rejected: [] },
      { placed: racks(1, 2, 3), accepted: ['rack1'], rejected: [] },
      { placed: racks(1, 2, 3, 1), accepted: ['rack2'], rejected: [] },
      { placed: racks(1, 2, 3, 1, 2), accepted: [], rejected: ['rack2'] },
    ],
  },
  {
    name: 'GROUP_BY 3 over scalar values: a task on 1.0 counts with a node of 1',
    constraints: [['rackid', 'GROUP_BY', '3']],
    agents: ['rack1 host=foohost foo=bar rackid=1', 'rack2 host=foohost foo=bar rackid=2', 'rack3 host=foohost foo=bar rackid=3'],
    checks: [
      { placed: [], accepted: ['rack1'], rejected: [] },
      { placed: scalarRacks('1.0'), accepted: ['rack2'], rejected: [] },
      { placed: scalarRacks('1.0', '2.0'), accepted: ['rack3'], rejected: [] },
      { placed: scalarRacks('1.0', '2.0', '3.0'), accepted: ['rack1'], rejected: [] },
      { placed: scalarRacks('1.0', '2.0', '3.0', '1.0'), accepted: ['rack2'], rejected: [] },
      { placed: scalarRacks('1.0', '2.0', '3.0', '1.0', '2.0'), accepted: [], rejected: ['rack2'] },
    ],
  },
  {
    name: 'GROUP_BY 2 over hostnames: n is a least number of values, not a cap',
    constraints: [['@hostname', 'GROUP_BY', '2']],
    agents: ['host1 host=host1', 'host2 host=host2', 'host3 host=host3'],
    checks: [
      { placed: [], accepted: ['host1'], rejected: [] },
      { placed: hosts('host1'), accepted: ['host2'], rejected: ['host1'] },
      { placed: hosts('host1', 'host2'), accepted: ['host1'], rejected: [] },
      { placed: hosts('host1', 'host2', 'host1'), accepted: ['host3'], rejected: ['host1'] },
      { placed: hosts('host1', 'host2', 'host1', 'host3'), accepted: ['host3', 'host2'], rejected: ['host1'] },
    ],
  },
  {
    name: 'MAX_PER 2 on @hostname',
    constraints: [['@hostname', 'MAX_PER', '2']],
    agents: ['host1 host=host1', 'host2 host=host2', 'host3 host=host3'],
    checks: [
      { placed: [], accepted: ['host1'], rejected: [] },
      { placed: hosts('host1'), accepted: ['host1'], rejected: [] },
      { placed: hosts('host1', 'host1'), accepted: ['host2'], rejected: [] },
      { placed: hosts('host1', 'host1', 'host2'), accepted: [], rejected: ['host1'] },
      { placed: hosts('host1', 'host1', 'host2', 'host1'), accepted: ['host3'], rejected: [] },
    ],
  },
  {
    name: 'MAX_PER 2 over scalar values: 1.0 and 1 are one value',
    constraints: [['rackid', 'MAX_PER', '2']],
    agents: ['rack1 host=foohost foo=bar rackid=1', 'rack2 host=foohost foo=bar rackid=2'],
    checks: [
      { placed: [], accepted: ['rack1'], rejected: [] },
      { placed: scalarRacks('1.0'), accepted: ['rack2'], rejected: [] },
      { placed: scalarRacks('1.0', '2.0'), accepted: ['rack1'], rejected: [] },
      { placed: scalarRacks('1.0', '2.0', '1.0'), accepted: [], rejected: ['rack1'] },
    ],
  },
  {
    name: 'LIKE on a range attribute: its formatted text, brackets escaped',
    constraints: [['jdk', 'LIKE', '\\[6-7\\]']],
    agents: ['jdk5to7 host=foohost jdk=[5-7]', 'jdk6to7 host=foohost jdk=[6-7]', 'noattr host=foohost'],
    checks: [{ placed: typed, accepted: ['jdk6to7'], rejected: ['jdk5to7', 'noattr'] }],
  },
  {
    name: 'CLUSTER with a range, set or text value: equality of formatted values',
    constraints: [['jdk', 'CLUSTER', '[6-7]']],
    agents: ['jdk5to7 host=foohost jdk=[5-7]', 'jdk6to7 host=foohost jdk=[6-7]', 'jdkset21 host=foohost jdk={2,1}', 'gpu01 host=foohost gpu={0,1}', 'jdk6 host=foohost jdk=6', 'jdk7 host=foohost jdk=7'],
    checks: [
      { placed: ['host=host jdk=[6-7]'], accepted: ['jdk6to7'], rejected: ['jdk5to7'] },
      { placed: ['host=host gpu={0,1}'], accepted: [], rejected: ['jdkset21'], constraints: [['gpu', 'CLUSTER', '{0,1}']] },
      { placed: ['host=host gpu={0,1}'], accepted: ['gpu01'], rejected: [], constraints: [['gpu', 'CLUSTER', '{0,1}']] },
      { placed: ['host=host jdk=7'], accepted: ['jdk7'], rejected: ['jdk6'], constraints: [['jdk', 'CLUSTER', '7']] },
    ],
  },
  {
    name: 'LIKE and UNLIKE on a set attribute: items sorted, so {1,0} reads {0,1}',
    constraints: [['gpu', 'LIKE', '\\{0,1\\}']],
    agents: ['gpu21 host=foohost gpu={2,1}', 'gpu10 host=foohost gpu={1,0}', 'gpu01 host=foohost gpu={0,1}', 'gpu12 host=foohost gpu={1,2}', 'noattr host=foohost'],
    checks: [
      { placed: typed, accepted: ['gpu10'], rejected: ['gpu21', 'noattr'] },
      { placed: typed, accepted: ['gpu12', 'noattr'], rejected: ['gpu01'], constraints: [['gpu', 'UNLIKE', '\\{0,1\\}']] },
    ],
  },
  {
    name: 'UNIQUE on @region and @zone: the fault domain, not attributes',
    constraints: [['@region', 'UNIQUE']],
    agents: ['r1 host=@hostname @region=region1 @zone=zone', 'r2 host=@hostname @region=region2 @zone=zone', 'z1 host=@hostname @region=region @zone=zone1', 'z2 host=@hostname @region=region @zone=zone2'],
    checks: [
      { placed: ['host=@hostname @region=region1 @zone=zone1'], accepted: ['r2'], rejected: ['r1'] },
      { placed: ['host=@hostname @region=region @zone=zone1'], accepted: ['z2'], rejected: ['z1'], constraints: [['@zone', 'UNIQUE']] },
    ],
  },
  {
    name: 'IS: exact equality, a scalar value formatted first (1.0005 is 1, 1.00051 is not)',
    constraints: [['@hostname', 'IS', 'righthost.com']],
    agents: ['righthost.com host=righthost.com', 'wronghost.com host=wronghost.com', 'num1 host=host number=1', 'num1.0 host=host number=1.0'],
    checks: [
      { placed: [], accepted: ['righthost.com'], rejected: [] },
      { placed: [], accepted: ['wronghost.com'], rejected: [], constraints: [['@hostname', 'IS', 'wronghost.com']] },
      { placed: [], accepted: ['num1'], rejected: [], constraints: [['number', 'IS', '1.0']] },
      { placed: [], accepted: ['num1.0'], rejected: [], constraints: [['number', 'IS', '1']] },
      { placed: [], accepted: ['num1.0'], rejected: [], constraints: [['number', 'IS', '1.0001']] },
      { placed: [], accepted: ['num1.0'], rejected: [], constraints: [['number', 'IS', '1.0005']] },
      { placed: [], accepted: [], rejected: ['num1.0'], constraints: [['number', 'IS', '1.00051']] },
      { placed: [], accepted: [], rejected: ['num1.0'], constraints: [['number', 'IS', '1.001']] },
    ],
  },
  {
    name: "tasks of an older revision are not counted (Marathon's last configuration change)",
    constraints: [
      ['region', 'GROUP_BY', '2'],
      ['zone', 'GROUP_BY', '4'],
    ],
    agents: ['east-1b host=foohost region=pl-east zone=pl-east-1b'],
    checks: [
      {
        placed: ['region=pl-east zone=pl-east-1a old', 'region=pl-east zone=pl-east-1a old', 'region=pl-east zone=pl-east-1a old', 'region=pl-west zone=pl-west-1a old', 'region=pl-west zone=pl-west-1b old'].map((p) => `host=host ${p}`),
        accepted: ['east-1b'],
        rejected: [],
      },
      {
        placed: ['region=pl-east zone=pl-east-1a', 'region=pl-east zone=pl-east-1a', 'region=pl-east zone=pl-east-1a', 'region=pl-west zone=pl-west-1a', 'region=pl-west zone=pl-west-1b'].map((p) => `host=host ${p}`),
        accepted: [],
        rejected: ['east-1b'],
      },
    ],
  },
];

const rows = CASES.flatMap((c) => c.checks.map((check, i) => ({ name: `${c.name} (${i + 1})`, constraints: check.constraints ?? c.constraints, agents: c.agents, check })));

describe("Marathon's placement cases, in Capstan's model", () => {
  it('cover the 18 cases and 59 checks of the reference', () => {
    expect(CASES).toHaveLength(18);
    expect(rows).toHaveLength(59);
  });

  it.each(rows)('$name', ({ constraints, agents, check }) => {
    const { snapshot, nodes } = snapshotFor(agents, check.placed);
    const admitted = (agent: string) => constraintsMet(demand(constraints), nodes.get(agent)!, snapshot) === null;
    for (const agent of check.accepted) expect(admitted(agent), `${agent} accepted`).toBe(true);
    for (const agent of check.rejected) expect(admitted(agent), `${agent} rejected`).toBe(false);
  });
});

describe('constraints while placing, with the stack', () => {
  const node = (name: string, attributes: Record<string, string> = {}, cpus = 4): NodeView => ({
    ...nodeView(nodeObject(`${name} ${Object.entries(attributes).map(([k, v]) => `${k}=${v}`).join(' ')}`.trim())),
    capacity: { cpus, mem: 4096, disk: 0, gpus: 0 },
  });
  const bound = (nodeName: string, revision: number, hostPorts: number[] = []): BoundTask => ({ app: 'ns/app', revision, node: nodeName, resources: { cpus: 1, mem: 1, disk: 0, gpus: 0 }, hostPorts });
  const next = (constraints: Constraint[], extra: Partial<TaskDemand> = {}): TaskDemand => ({ ...demand(constraints), resources: { cpus: 1, mem: 1, disk: 0, gpus: 0 }, ...extra });

  function placeAll(snapshot: Snapshot, task: TaskDemand, count: number) {
    const stack = new Stack();
    const placed: string[] = [];
    const unplaced: string[] = [];
    for (let i = 0; i < count; i += 1) {
      const result = stack.place(task, snapshot);
      if (result.kind === 'unplaced') {
        unplaced.push(result.message);
        continue;
      }
      placed.push(result.placement.node);
      snapshot.assume({ app: task.app, revision: task.revision, node: result.placement.node, resources: task.resources, hostPorts: result.placement.hostPorts });
    }
    return { placed, unplaced };
  }

  it('places a new revision of a hostname:UNIQUE App beside its old tasks when no node is spare', () => {
    const nodes = [node('n1'), node('n2'), node('n3')];
    const snapshot = new Snapshot(nodes, [bound('n1', 1), bound('n2', 1), bound('n3', 1)]);
    const { placed, unplaced } = placeAll(snapshot, next([['hostname', 'UNIQUE']]), 4);
    expect(placed.sort()).toEqual(['n1', 'n2', 'n3']);
    // Among its own revision's tasks UNIQUE holds as ever.
    expect(unplaced).toEqual(['0/3 nodes fit: 3 hostname:UNIQUE']);
  });

  it('still never double-books a fixed host port held by an old revision', () => {
    const nodes = [node('n1'), node('n2')];
    const snapshot = new Snapshot(nodes, [bound('n1', 1, [8080]), bound('n2', 1, [8080])]);
    const { unplaced } = placeAll(snapshot, next([['hostname', 'UNIQUE']], { ports: [8080] }), 1);
    expect(unplaced).toEqual(['0/2 nodes fit: 2 port 8080 in use']);
  });

  it('counts a scale-up against every task of the same revision', () => {
    const snapshot = new Snapshot([node('n1'), node('n2')], [bound('n1', 2)]);
    expect(placeAll(snapshot, next([['hostname', 'UNIQUE']]), 2)).toEqual({ placed: ['n2'], unplaced: ['0/2 nodes fit: 2 hostname:UNIQUE'] });
  });

  it('keeps filling the other values under GROUP_BY when one value has no room', () => {
    // Rack a's only node is full: it holds no task, and must not hold up racks b and c.
    const nodes = [node('a1', { rack: 'a' }, 0), node('b1', { rack: 'b' }), node('b2', { rack: 'b' }), node('c1', { rack: 'c' })];
    const { placed, unplaced } = placeAll(new Snapshot(nodes, []), next([['rack', 'GROUP_BY']]), 6);
    expect(unplaced).toEqual([]);
    const byRack = placed.reduce<Record<string, number>>((acc, n) => ({ ...acc, [n[0]!]: (acc[n[0]!] ?? 0) + 1 }), {});
    expect(byRack).toEqual({ b: 3, c: 3 });
  });

  it('names each reason a node was refused for', () => {
    const nodes = [node('n1', { rack: 'r1' }), node('n2', { rack: 'r2' }), node('n3', { rack: 'r3' }, 0)];
    const { placed, unplaced } = placeAll(new Snapshot(nodes, []), next([['rack', 'GROUP_BY', '3']]), 3);
    expect(placed.sort()).toEqual(['n1', 'n2']);
    expect(unplaced).toEqual(['0/3 nodes fit: 2 rack:GROUP_BY, 1 insufficient cpus; node n3: insufficient cpus (wants 1, 0 of 0 allocated)']);
  });

  it('counts the tasks on nodes lacking a GROUP_BY field as one group of their own', () => {
    // Two groups (no rack, and r1): GROUP_BY 2 is met, and r1 holds no more than the smallest.
    const nodes = [node('bare'), node('n1', { rack: 'r1' })];
    const snapshot = new Snapshot(nodes, [bound('bare', 2), bound('n1', 2)]);
    expect(constraintsMet(next([['rack', 'GROUP_BY', '2']]), nodes[1]!, snapshot)).toBeNull();
    expect(constraintsMet(next([['rack', 'GROUP_BY', '3']]), nodes[1]!, snapshot)).toBe('rack:GROUP_BY');
  });

  it("admits one task per value under MAX_PER 0, as Marathon's filter does (it refuses only a value holding tasks)", () => {
    const nodes = [node('n1', { rack: 'r1' }), node('n2', { rack: 'r2' })];
    expect(placeAll(new Snapshot(nodes, []), next([['rack', 'MAX_PER', '0']]), 3)).toEqual({ placed: ['n1', 'n2'], unplaced: ['0/2 nodes fit: 2 rack:MAX_PER'] });
  });

  it('keeps its counts when nodes change, and forgets a revision whose last task went', () => {
    const nodes = [node('n1', { rack: 'r1' }), node('n2', { rack: 'r2' })];
    const snapshot = new Snapshot(nodes, [bound('n1', 2)]);
    expect(snapshot.valueCounts('ns/app', 2, 'rack').of('r1')).toBe(1);
    // The node moves to another rack: counted by its new value.
    snapshot.setNodes([node('n1', { rack: 'r2' }), nodes[1]!]);
    expect(snapshot.valueCounts('ns/app', 2, 'rack').of('r2')).toBe(1);
    snapshot.release(bound('n1', 2));
    expect(snapshot.valueCounts('ns/app', 2, 'rack').total).toBe(0);
  });
});
