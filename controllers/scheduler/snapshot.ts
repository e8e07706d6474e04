// The scheduler works from an in-memory snapshot of the cluster, kept up to date from the informer
// caches (state.ts) and updated as placements are decided ("assumed"), so a burst of tasks is placed
// without a store round trip per task and without two tasks of one batch taking the same port.
import type { Constraint } from '../../api/kinds/app.ts';

export interface Resources {
  cpus: number;
  mem: number;
  disk: number;
  gpus: number;
}

export const NO_RESOURCES: Resources = { cpus: 0, mem: 0, disk: 0, gpus: 0 };

export interface NodeView {
  name: string;
  /** Always holds `hostname` (the node name unless the agent said otherwise). */
  attributes: Readonly<Record<string, string>>;
  capacity: Resources;
  portRange: { from: number; to: number };
  /** Ports held on the node outside Capstan (its agent's status.portsInUse): handed to no task. */
  portsInUse?: ReadonlySet<number>;
  drivers: readonly string[];
  ready: boolean;
  unschedulable: boolean;
}

/** What one task asks of a node. */
export interface TaskDemand {
  key: string;
  /** `namespace/app`: constraints count tasks of the same App. */
  app: string;
  driver: string;
  resources: Resources;
  /** Host ports by port index; 0 means "any free port in the node's range". */
  ports: readonly number[];
  constraints: readonly Constraint[];
  /** A persistent volume already lives on this node: the task may only go there. */
  pinnedNode?: string;
}

export interface Placement {
  node: string;
  hostPorts: number[];
}

/** What one App's tasks hold on one node: how many, and the sum of their resources. */
export interface Holding extends Resources {
  tasks: number;
}

/** A task already bound to a node (any revision, not terminal). */
export interface BoundTask {
  app: string;
  node: string;
  resources: Resources;
  hostPorts: readonly number[];
}

export class Snapshot {
  nodes: NodeView[] = [];
  private byName = new Map<string, NodeView>();
  private readonly used = new Map<string, Resources>();
  private readonly ports = new Map<string, Set<number>>();
  /** node → port → how many tasks hold it: a port is free again only when the last one goes. */
  private readonly portHolders = new Map<string, Map<number, number>>();
  /**
   * node → app → what its tasks hold there: only read to name the holders in the reason a task did
   * not fit, but kept up to date here because rebuilding it then would mean a pass over every bound
   * task. Updating it costs a map lookup and four additions per assume or release.
   */
  private readonly holdings = new Map<string, Map<string, Holding>>();
  /** app → node → task count */
  private readonly placements = new Map<string, Map<string, number>>();
  private readonly values = new Map<string, string[]>();
  private readonly patterns = new Map<string, RegExp>();
  /** app → field → value → task count; built on first use, then kept up to date by assume(). */
  private readonly valueCounts = new Map<string, Map<string, Map<string, number>>>();
  /** GROUP_BY's smallest group per `app field expected`, valid while `changes` is unchanged. */
  private readonly fewest = new Map<string, { changes: number; count: number }>();
  /** Counts every assume, release and node change: anything derived from the counts is stale once it moves. */
  private changes = 0;

  constructor(nodes: Iterable<NodeView>, bound: Iterable<BoundTask>) {
    this.setNodes(nodes);
    for (const task of bound) this.assume(task);
  }

  /** Replaces the nodes; what tasks hold on them is kept. */
  setNodes(nodes: Iterable<NodeView>): void {
    // Sorted by name: iteration order is part of the tie-break, and must not depend on the cache.
    this.nodes = [...nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.byName = new Map(this.nodes.map((node) => [node.name, node]));
    // Attribute values may have changed: counts by value and groups are rebuilt on next use.
    this.values.clear();
    this.valueCounts.clear();
    this.changes += 1;
  }

  node(name: string): NodeView | undefined {
    return this.byName.get(name);
  }

  usedOn(node: string): Resources {
    return this.used.get(node) ?? NO_RESOURCES;
  }

  /** What each App's tasks hold on `node`, by `namespace/app`. */
  holdingsOn(node: string): ReadonlyMap<string, Readonly<Holding>> {
    return this.holdings.get(node) ?? EMPTY_HOLDINGS;
  }

  portsOn(node: string): ReadonlySet<number> {
    return this.ports.get(node) ?? EMPTY;
  }

  /** How many tasks of `app` each node holds. */
  appCounts(app: string): ReadonlyMap<string, number> {
    return this.placements.get(app) ?? EMPTY_COUNTS;
  }

  /** A constraint's pattern, compiled once per batch; Marathon matches the whole value. */
  pattern(source: string): RegExp {
    let compiled = this.patterns.get(source);
    if (!compiled) this.patterns.set(source, (compiled = new RegExp(`^(?:${source})$`)));
    return compiled;
  }

  /** How many tasks of `app` sit on nodes whose `field` has each value. */
  appValueCounts(app: string, field: string): ReadonlyMap<string, number> {
    let byField = this.valueCounts.get(app);
    if (!byField) this.valueCounts.set(app, (byField = new Map()));
    let counts = byField.get(field);
    if (!counts) {
      counts = new Map();
      for (const [nodeName, count] of this.appCounts(app)) {
        const node = this.byName.get(nodeName);
        const value = node && attributeOf(node, field);
        if (value !== undefined) counts.set(value, (counts.get(value) ?? 0) + count);
      }
      byField.set(field, counts);
    }
    return counts;
  }

  /**
   * The fewest instances of `app` any group of `field` holds: the groups are the values of the
   * schedulable nodes and those already holding instances, and at least `expected` of them (unseen
   * ones count as empty). GROUP_BY asks this for every node it looks at with the same answer until
   * the next placement, so it is computed once per placement, not once per node.
   */
  fewestInGroups(app: string, field: string, expected: number): number {
    const key = `${app}\u0000${field}\u0000${expected}`;
    const memo = this.fewest.get(key);
    if (memo && memo.changes === this.changes) return memo.count;
    const counts = this.appValueCounts(app, field);
    const groups = new Set([...this.valuesOf(field), ...counts.keys()]);
    let count = Infinity;
    for (const group of groups) count = Math.min(count, counts.get(group) ?? 0);
    if (groups.size < expected) count = 0;
    this.fewest.set(key, { changes: this.changes, count });
    return count;
  }

  /**
   * The distinct values of a constraint field over the nodes that can take work: the groups
   * GROUP_BY spreads over. Cached per batch (nodes do not change within one).
   */
  valuesOf(field: string): readonly string[] {
    let values = this.values.get(field);
    if (!values) {
      const set = new Set<string>();
      for (const node of this.nodes) {
        const value = node.ready && !node.unschedulable ? attributeOf(node, field) : undefined;
        if (value !== undefined) set.add(value);
      }
      this.values.set(field, (values = [...set].sort()));
    }
    return values;
  }

  /** Records a task as running on a node: its resources, ports and constraint counts. */
  assume(task: BoundTask): void {
    this.count(task, 1);
  }

  /** Undoes `assume` for a task that no longer holds its node (finished, gone, or not bound after all). */
  release(task: BoundTask): void {
    this.count(task, -1);
  }

  private count(task: BoundTask, sign: 1 | -1): void {
    this.changes += 1;
    const used = this.usedOn(task.node);
    this.used.set(task.node, {
      cpus: used.cpus + sign * task.resources.cpus,
      mem: used.mem + sign * task.resources.mem,
      disk: used.disk + sign * task.resources.disk,
      gpus: used.gpus + sign * task.resources.gpus,
    });
    let holders = this.portHolders.get(task.node);
    if (!holders) this.portHolders.set(task.node, (holders = new Map()));
    let ports = this.ports.get(task.node);
    if (!ports) this.ports.set(task.node, (ports = new Set()));
    for (const port of task.hostPorts) {
      const held = (holders.get(port) ?? 0) + sign;
      if (held > 0) {
        holders.set(port, held);
        ports.add(port);
      } else {
        holders.delete(port);
        ports.delete(port);
      }
    }
    let counts = this.placements.get(task.app);
    if (!counts) this.placements.set(task.app, (counts = new Map()));
    adjust(counts, task.node, sign);
    this.hold(task, sign);
    const node = this.byName.get(task.node);
    for (const [field, byValue] of this.valueCounts.get(task.app) ?? []) {
      const value = node && attributeOf(node, field);
      if (value !== undefined) adjust(byValue, value, sign);
    }
  }

  private hold(task: BoundTask, sign: 1 | -1): void {
    let apps = this.holdings.get(task.node);
    if (!apps) this.holdings.set(task.node, (apps = new Map()));
    let holding = apps.get(task.app);
    if (!holding) apps.set(task.app, (holding = { tasks: 0, cpus: 0, mem: 0, disk: 0, gpus: 0 }));
    holding.tasks += sign;
    holding.cpus += sign * task.resources.cpus;
    holding.mem += sign * task.resources.mem;
    holding.disk += sign * task.resources.disk;
    holding.gpus += sign * task.resources.gpus;
    if (holding.tasks <= 0) apps.delete(task.app);
  }
}

/** Adds `by` to a count, dropping it at zero: CLUSTER and GROUP_BY read which keys are present. */
function adjust(counts: Map<string, number>, key: string, by: number): void {
  const next = (counts.get(key) ?? 0) + by;
  if (next > 0) counts.set(key, next);
  else counts.delete(key);
}

const EMPTY: ReadonlySet<number> = new Set();
const EMPTY_COUNTS: ReadonlyMap<string, number> = new Map();
const EMPTY_HOLDINGS: ReadonlyMap<string, Holding> = new Map();

/** The value a constraint field has on a node: `hostname` or any attribute. */
export function attributeOf(node: NodeView, field: string): string | undefined {
  if (field === 'hostname') return node.attributes.hostname ?? node.name;
  return node.attributes[field];
}
