// Node: registered by its agent. Cluster-scoped. Liveness is the lease-bound key
// /capstan/leases/nodes/<name>, not a field here: the nodes controller turns the key's expiry into the
// Ready condition, so a stale timestamp can never claim a dead node is alive.
import { z } from 'zod';
import { API_VERSION, getCondition } from '../object.ts';
import type { AnyObject, CommonStatus } from '../object.ts';
import type { FieldProblem, KindDefinition } from './registry.ts';

export const nodeResourcesSchema = z.strictObject({
  cpus: z.number().min(0),
  mem: z.number().min(0),
  disk: z.number().min(0).default(0),
  gpus: z.number().int().min(0).default(0),
});
export type NodeResources = z.infer<typeof nodeResourcesSchema>;

/**
 * Where the node sits, as Mesos' DomainInfo: a zone lies within a region, so a node has both or
 * neither. Constraints read them as `@region` and `@zone`.
 */
export const faultDomainSchema = z.strictObject({
  region: z.string().min(1),
  zone: z.string().min(1),
});
export type FaultDomain = z.infer<typeof faultDomainSchema>;

export const nodeSpecSchema = z.strictObject({
  /** Where tasks on this node are reached (a loopback or LAN address). */
  address: z.string().min(1),
  /** Matched by constraints: `hostname` always, plus any others (rack, ...). */
  attributes: z.record(z.string(), z.string()).default({}),
  faultDomain: faultDomainSchema.optional(),
  capacity: nodeResourcesSchema,
  /** Host ports handed out for `hostPort: 0`; Mesos' default range. */
  portRange: z
    .strictObject({ from: z.number().int().min(1).max(65535), to: z.number().int().min(1).max(65535) })
    .default({ from: 31000, to: 32000 }),
  drivers: z.array(z.enum(['docker', 'process'])).min(1).default(['docker', 'process']),
  /** Cordoned: running tasks stay, no new task is placed here. */
  unschedulable: z.boolean().default(false),
});
export type NodeSpec = z.infer<typeof nodeSpecSchema>;

export interface NodeStatus extends CommonStatus {
  /**
   * What the tasks bound here hold (as the scheduler counts them: bound, not terminal, Lost ones
   * until their workload is known stopped), `ports` the number of host ports; kept by the nodes
   * controller (controllers/nodes-allocation.ts) for display, never read by placement.
   */
  allocated?: NodeResources & { ports: number };
  agentVersion?: string;
  /** Drivers that answered when the agent started (docker may be configured but down). */
  availableDrivers?: ('docker' | 'process')[];
  /**
   * TTL of the agent's lease on /capstan/leases/nodes/<name>: the key vanishes at most this long after
   * the agent's last heartbeat, so "vanished − TTL" bounds when the node was last seen.
   */
  leaseTTLSeconds?: number;
  /** Where the agent serves task logs: http://<address>:<port>. */
  agentEndpoint?: string;
  /**
   * Ports of spec.portRange that something outside Capstan holds on the node (a listening TCP or a
   * bound UDP socket that is not a task's), sorted; kept by the agent. The scheduler hands them to
   * no task.
   */
  portsInUse?: number[];
}

function checkNode(object: AnyObject): FieldProblem[] {
  const { portRange } = object.spec as NodeSpec;
  if (portRange.from <= portRange.to) return [];
  return [{ path: ['spec', 'portRange', 'to'], expected: `a port not below portRange.from (${portRange.from})`, found: String(portRange.to) }];
}

/** What a constraint field reads on a node: the scheduler's view of a Node and the Node itself both carry it. */
export interface ConstraintFields {
  name: string;
  /** `hostname` defaults to the node name. */
  attributes: Readonly<Record<string, string>>;
  faultDomain?: Readonly<FaultDomain> | undefined;
}

/**
 * The value of a constraint's field on a node, as Marathon reads it: `hostname` and `@hostname` the
 * node's hostname, `@region` and `@zone` its fault domain, anything else the attribute of that name.
 * Undefined when the node has none (only UNLIKE admits such a node). Raw, as the agent wrote it.
 */
export function nodeFieldValue(node: ConstraintFields, field: string): string | undefined {
  switch (field) {
    case 'hostname':
    case '@hostname':
      return node.attributes.hostname ?? node.name;
    case '@region':
      return node.faultDomain?.region;
    case '@zone':
      return node.faultDomain?.zone;
    default:
      return node.attributes[field];
  }
}

const specOf = (object: AnyObject) => object.spec as Partial<NodeSpec>;
const statusOf = (object: AnyObject) => object.status as Partial<NodeStatus> | undefined;

function nodeState(object: AnyObject): string {
  const ready = getCondition(statusOf(object)?.conditions, 'Ready')?.status;
  const state = ready === 'True' ? 'Ready' : ready === 'False' ? 'NotReady' : 'Unknown';
  return specOf(object).unschedulable ? `${state},SchedulingDisabled` : state;
}

/** `allocated/allocatable`, as kubectl's "Allocated resources"; sums of fractions rounded for people. */
const used = (allocated: number | undefined, capacity: number | undefined) => `${Math.round((allocated ?? 0) * 1000) / 1000}/${capacity ?? '-'}`;
const rangeSize = (range: { from: number; to: number }) => range.to - range.from + 1;

export const nodeKind: KindDefinition = {
  apiVersion: API_VERSION,
  kind: 'Node',
  plural: 'nodes',
  singular: 'node',
  shortNames: ['no'],
  namespaced: false,
  spec: nodeSpecSchema,
  check: checkNode,
  columns: [
    { header: 'STATUS', value: nodeState },
    { header: 'ADDRESS', value: (o) => specOf(o).address ?? '' },
    { header: 'CPUS', value: (o) => used(statusOf(o)?.allocated?.cpus, specOf(o).capacity?.cpus) },
    { header: 'MEM', value: (o) => used(statusOf(o)?.allocated?.mem, specOf(o).capacity?.mem) },
    { header: 'DRIVERS', wide: true, value: (o) => (specOf(o).drivers ?? []).join(',') },
    {
      header: 'PORTS',
      wide: true,
      value: (o) => (specOf(o).portRange ? `${used(statusOf(o)?.allocated?.ports, rangeSize(specOf(o).portRange!))} (${specOf(o).portRange!.from}-${specOf(o).portRange!.to})` : ''),
    },
    { header: 'REGION', wide: true, value: (o) => specOf(o).faultDomain?.region ?? '' },
    { header: 'ZONE', wide: true, value: (o) => specOf(o).faultDomain?.zone ?? '' },
    { header: 'ATTRIBUTES', wide: true, value: (o) => Object.entries(specOf(o).attributes ?? {}).map(([k, v]) => `${k}=${v}`).join(',') },
  ],
};
