// The scheduler works from an in-memory snapshot of the cluster, kept up to date from the informer
// caches (state.ts) and updated as placements are decided ("assumed"), so a burst of tasks is placed
// without a store round trip per task and without two tasks of one batch taking the same port.
import type { Constraint } from '../../api/kinds/app.ts';
import { compileJavaRegex } from '../../api/constraints/java-regex.ts';
import { formatValue } from '../../api/constraints/format.ts';
import { ValueCounts } from './value-counts.ts';
import { nodeFieldValue, type FaultDomain } from '../../api/kinds/node.ts';

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
  /** `@region` and `@zone`; a node without one lacks both. */
  faultDomain?: Readonly<FaultDomain>;
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
  /** Its revision's number: constraints count only the App's tasks of this revision. */
  revision: number;
  /** The runtimes its containers need (app.ts runtimesOf): the node must offer every one. */
  runtimes: readonly string[];
  resources: Resources;
  /** Host ports by port index; 0 means "any free port in the node's range". */
  ports: readonly number[];
  constraints: readonly Constraint[];
  /** Its slot's persistent volumes live on this node: the task may only go there (resident.ts). */
  pinnedNode?: string;
}

export interface Placement {
  node: string;
  hostPorts: number[];
}

/** What one App's tasks and Volumes hold on one node: how many of each, and the sum of their resources. */
export interface Holding extends Resources {
  tasks: number;
  volumes: number;
}

/** A task already bound to a node (any revision, not terminal). */
export interface BoundTask {
  app: string;
  revision: number;
  node: string;
  resources: Resources;
  hostPorts: readonly number[];
  /** A resident App's instance slot: the slot is held while the task is. */
  slot?: number;
}

/** One Volume object (volume.ts): its size is taken from its node's disk for as long as it exists. */
export interface VolumeView {
  /** `namespace/name` of the Volume. */
  key: string;
  name: string;
  /** `namespace/app`. */
  app: string;
  /** The volume's name in the App's spec.volumes. */
  volume: string;
  slot: number;
  /** MiB. */
  size: number;
  node: string;
  /** Being wiped: its slot takes no task until it is gone. */
  deleting: boolean;
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
  /** app → slot → how many tasks hold it (one, unless a binding raced): a held slot is not free. */
  private readonly slotHolders = new Map<string, Map<number, number>>();
  /** app → slot → its Volumes. */
  private readonly slotVolumes = new Map<string, Map<number, VolumeView[]>>();
  /** app → node → task count, every revision: what spreading an App reads. */
  private readonly placements = new Map<string, Map<string, number>>();
  /**
   * app → revision → what its tasks hold: the tasks constraints count. Marathon counts only the
   * tasks launched since the App's last configuration change, so a rolling upgrade under
   * `hostname:UNIQUE` with no spare node places a new task beside an old one (host ports are still
   * checked against every task). Capstan's configuration is the revision: a scale makes none.
   */
  private readonly revisions = new Map<string, Map<number, Placed>>();
  /** LIKE/UNLIKE patterns (null: refused, see compileJavaRegex) and IS/CLUSTER values as Mesos prints them, once each. */
  private readonly patterns = new Map<string, RegExp | null>();
  private readonly formatted = new Map<string, string>();

  constructor(nodes: Iterable<NodeView>, bound: Iterable<BoundTask>) {
    this.setNodes(nodes);
    for (const task of bound) this.assume(task);
  }

  /** Replaces the nodes; what tasks hold on them is kept. */
  setNodes(nodes: Iterable<NodeView>): void {
    // Sorted by name: iteration order is part of the tie-break, and must not depend on the cache.
    this.nodes = [...nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.byName = new Map(this.nodes.map((node) => [node.name, node]));
    // Attribute values may have changed: counts by value are rebuilt on next use.
    for (const byRevision of this.revisions.values()) for (const placed of byRevision.values()) placed.fields.clear();
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

  /** The slots of `app` that a bound (or assumed) task holds, with how many tasks hold each. */
  heldSlots(app: string): ReadonlyMap<number, number> {
    return this.slotHolders.get(app) ?? EMPTY_COUNTS_BY_SLOT;
  }

  /** The Volumes of `app`, by slot. */
  slotsOf(app: string): ReadonlyMap<number, readonly VolumeView[]> {
    return this.slotVolumes.get(app) ?? EMPTY_SLOTS;
  }

  /** How many tasks of `app` each node holds. */
  appCounts(app: string): ReadonlyMap<string, number> {
    return this.placements.get(app) ?? EMPTY_COUNTS;
  }

  /**
   * A LIKE/UNLIKE pattern as a RegExp matching the whole value, compiled once; null for a pattern
   * validation refuses (an App stored before the rule), which then admits no node.
   */
  pattern(source: string): RegExp | null {
    let compiled = this.patterns.get(source);
    if (compiled === undefined) {
      const result = compileJavaRegex(source);
      this.patterns.set(source, (compiled = result.kind === 'regex' ? result.regex : null));
    }
    return compiled;
  }

  /** An IS or CLUSTER value as Mesos prints it (`1.0` → `1`), as node attributes are. */
  formattedValue(value: string): string {
    let text = this.formatted.get(value);
    if (text === undefined) this.formatted.set(value, (text = formatValue(value)));
    return text;
  }

  /**
   * How the tasks of `app` at `revision` spread over the values of `field`: built on first use,
   * then kept up to date by assume() and release(). Tasks on a node the snapshot does not know (a
   * node deleted under them, whose tasks task-gc is about to release) are not counted.
   */
  valueCounts(app: string, revision: number, field: string): Readonly<ValueCounts> {
    const placed = this.revisions.get(app)?.get(revision);
    if (!placed) return NO_TASKS;
    let counts = placed.fields.get(field);
    if (!counts) {
      counts = new ValueCounts();
      for (const [nodeName, tasks] of placed.nodes) {
        const node = this.byName.get(nodeName);
        if (node) counts.add(attributeOf(node, field), tasks);
      }
      placed.fields.set(field, counts);
    }
    return counts;
  }

  private placed(app: string, revision: number): Placed {
    let byRevision = this.revisions.get(app);
    if (!byRevision) this.revisions.set(app, (byRevision = new Map()));
    let placed = byRevision.get(revision);
    if (!placed) byRevision.set(revision, (placed = { nodes: new Map(), fields: new Map() }));
    return placed;
  }

  /** Records a task as running on a node: its resources, ports and constraint counts. */
  assume(task: BoundTask): void {
    this.count(task, 1);
  }

  /** Undoes `assume` for a task that no longer holds its node (finished, gone, or not bound after all). */
  release(task: BoundTask): void {
    this.count(task, -1);
  }

  /** Records a Volume: its size is taken from its node's disk, and its slot exists. */
  assumeVolume(volume: VolumeView): void {
    this.countVolume(volume, 1);
  }

  /** Undoes `assumeVolume` for a Volume that is gone (or changed: it is assumed again as it is now). */
  releaseVolume(volume: VolumeView): void {
    this.countVolume(volume, -1);
  }

  private countVolume(volume: VolumeView, sign: 1 | -1): void {
    const used = this.usedOn(volume.node);
    this.used.set(volume.node, { ...used, disk: used.disk + sign * volume.size });
    const holding = this.holding(volume.node, volume.app);
    holding.volumes += sign;
    holding.disk += sign * volume.size;
    this.dropIfEmpty(volume.node, volume.app, holding);
    let slots = this.slotVolumes.get(volume.app);
    if (!slots) this.slotVolumes.set(volume.app, (slots = new Map()));
    const others = (slots.get(volume.slot) ?? []).filter((v) => v.key !== volume.key);
    const next = sign > 0 ? [...others, volume] : others;
    if (next.length > 0) slots.set(volume.slot, next);
    else slots.delete(volume.slot);
    if (slots.size === 0) this.slotVolumes.delete(volume.app);
  }

  private count(task: BoundTask, sign: 1 | -1): void {
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
    if (task.slot !== undefined) {
      let held = this.slotHolders.get(task.app);
      if (!held) this.slotHolders.set(task.app, (held = new Map()));
      adjust(held, task.slot, sign);
      if (held.size === 0) this.slotHolders.delete(task.app);
    }
    this.hold(task, sign);
    this.countForConstraints(task, sign);
  }

  private countForConstraints(task: BoundTask, sign: 1 | -1): void {
    const placed = this.placed(task.app, task.revision);
    adjust(placed.nodes, task.node, sign);
    const node = this.byName.get(task.node);
    if (node) for (const [field, counts] of placed.fields) counts.add(attributeOf(node, field), sign);
    // A revision whose last task went holds nothing: dropped, so old revisions do not pile up.
    if (placed.nodes.size === 0) {
      const byRevision = this.revisions.get(task.app)!;
      byRevision.delete(task.revision);
      if (byRevision.size === 0) this.revisions.delete(task.app);
    }
  }

  private hold(task: BoundTask, sign: 1 | -1): void {
    const holding = this.holding(task.node, task.app);
    holding.tasks += sign;
    holding.cpus += sign * task.resources.cpus;
    holding.mem += sign * task.resources.mem;
    holding.disk += sign * task.resources.disk;
    holding.gpus += sign * task.resources.gpus;
    this.dropIfEmpty(task.node, task.app, holding);
  }

  private holding(node: string, app: string): Holding {
    let apps = this.holdings.get(node);
    if (!apps) this.holdings.set(node, (apps = new Map()));
    let holding = apps.get(app);
    if (!holding) apps.set(app, (holding = { tasks: 0, volumes: 0, cpus: 0, mem: 0, disk: 0, gpus: 0 }));
    return holding;
  }

  private dropIfEmpty(node: string, app: string, holding: Holding): void {
    if (holding.tasks <= 0 && holding.volumes <= 0) this.holdings.get(node)!.delete(app);
  }
}

/** The tasks of one App's revision: how many on each node, and by the values of each constraint field asked about. */
interface Placed {
  nodes: Map<string, number>;
  fields: Map<string, ValueCounts>;
}

/** Adds `by` to a count, dropping it at zero. */
function adjust<K>(counts: Map<K, number>, key: K, by: number): void {
  const next = (counts.get(key) ?? 0) + by;
  if (next > 0) counts.set(key, next);
  else counts.delete(key);
}

const EMPTY: ReadonlySet<number> = new Set();
const NO_TASKS: Readonly<ValueCounts> = new ValueCounts();
const EMPTY_COUNTS: ReadonlyMap<string, number> = new Map();
const EMPTY_HOLDINGS: ReadonlyMap<string, Holding> = new Map();
const EMPTY_COUNTS_BY_SLOT: ReadonlyMap<number, number> = new Map();
const EMPTY_SLOTS: ReadonlyMap<number, readonly VolumeView[]> = new Map();

/** The value a constraint field has on a node: `hostname`/`@hostname`, `@region`, `@zone` or any attribute. */
export function attributeOf(node: NodeView, field: string): string | undefined {
  return nodeFieldValue(node, field);
}
