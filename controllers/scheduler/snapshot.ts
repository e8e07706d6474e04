// The scheduler works from an in-memory snapshot of the cluster, built once per batch from the
// informer caches and updated as placements are decided ("assumed"), so a burst of tasks is placed
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

/** A task already bound to a node (any revision, not terminal). */
export interface BoundTask {
  app: string;
  node: string;
  resources: Resources;
  hostPorts: readonly number[];
}

export class Snapshot {
  readonly nodes: NodeView[];
  private readonly byName = new Map<string, NodeView>();
  private readonly used = new Map<string, Resources>();
  private readonly ports = new Map<string, Set<number>>();
  /** app → node → task count */
  private readonly placements = new Map<string, Map<string, number>>();
  private readonly values = new Map<string, string[]>();
  private readonly patterns = new Map<string, RegExp>();
  /** app → field → value → task count; built on first use, then kept up to date by assume(). */
  private readonly valueCounts = new Map<string, Map<string, Map<string, number>>>();

  constructor(nodes: Iterable<NodeView>, bound: Iterable<BoundTask>) {
    // Sorted by name: iteration order is part of the tie-break, and must not depend on the cache.
    this.nodes = [...nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const node of this.nodes) this.byName.set(node.name, node);
    for (const task of bound) this.assume(task);
  }

  node(name: string): NodeView | undefined {
    return this.byName.get(name);
  }

  usedOn(node: string): Resources {
    return this.used.get(node) ?? NO_RESOURCES;
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
    const used = this.usedOn(task.node);
    this.used.set(task.node, {
      cpus: used.cpus + task.resources.cpus,
      mem: used.mem + task.resources.mem,
      disk: used.disk + task.resources.disk,
      gpus: used.gpus + task.resources.gpus,
    });
    let ports = this.ports.get(task.node);
    if (!ports) this.ports.set(task.node, (ports = new Set()));
    for (const port of task.hostPorts) ports.add(port);
    let counts = this.placements.get(task.app);
    if (!counts) this.placements.set(task.app, (counts = new Map()));
    counts.set(task.node, (counts.get(task.node) ?? 0) + 1);
    const node = this.byName.get(task.node);
    for (const [field, byValue] of this.valueCounts.get(task.app) ?? []) {
      const value = node && attributeOf(node, field);
      if (value !== undefined) byValue.set(value, (byValue.get(value) ?? 0) + 1);
    }
  }
}

const EMPTY: ReadonlySet<number> = new Set();
const EMPTY_COUNTS: ReadonlyMap<string, number> = new Map();

/** The value a constraint field has on a node: `hostname` or any attribute. */
export function attributeOf(node: NodeView, field: string): string | undefined {
  if (field === 'hostname') return node.attributes.hostname ?? node.name;
  return node.attributes[field];
}
