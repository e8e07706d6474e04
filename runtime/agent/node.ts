// Registers the agent's Node: created on first start; on later starts the agent's facts (address,
// attributes, fault domain, capacity, ports, drivers) replace what is stored — an agent restarted
// without --zone leaves a node without a fault domain — while `unschedulable` (a person's cordon) is
// kept. Status fields the agent owns are merged into the stored status, leaving the nodes
// controller's conditions and the scheduler's allocation alone.
import { notFound } from '../../api/errors.ts';
import { specKey } from '../../api/keys.ts';
import type { NodeSpec, NodeStatus } from '../../api/kinds/node.ts';
import { API_VERSION, type CapstanObject } from '../../api/object.ts';
import { readModifyWrite } from '../../api/read-modify-write.ts';
import type { Store } from '../../api/store.ts';

type NodeObject = CapstanObject<NodeSpec, NodeStatus>;
export type AgentNodeStatus = Required<Pick<NodeStatus, 'agentVersion' | 'availableDrivers' | 'leaseTTLSeconds' | 'agentEndpoint'>>;

/** Someone else writes the Node between our read and write (the nodes controller, a cordon): read again. */
const ATTEMPTS = 10;

export async function registerNode(store: Store, name: string, spec: Omit<NodeSpec, 'unschedulable'>, status: AgentNodeStatus): Promise<NodeObject> {
  await readModifyWrite<NodeObject>({
    store,
    kind: 'Node',
    ref: { name },
    write: 'createOrUpdate',
    change: (current) =>
      current
        ? { ...current, spec: { ...spec, unschedulable: current.spec.unschedulable } }
        : { apiVersion: API_VERSION, kind: 'Node', metadata: { name }, spec: { ...spec, unschedulable: false } },
    attempts: ATTEMPTS,
  });
  // Status on a fresh read, so that a condition written meanwhile by the nodes controller is kept.
  const written = await readModifyWrite<NodeObject>({
    store,
    kind: 'Node',
    ref: { name },
    write: 'updateStatus',
    change: (current) => ({ ...current, status: { ...(current.status ?? {}), ...status } }),
    attempts: ATTEMPTS,
  });
  if (written.outcome === 'gone') throw notFound(specKey(store.kind('Node'), undefined, name));
  return written.object;
}

/**
 * Sets status.portsInUse on a fresh read, leaving every other status field alone; writes nothing when
 * the stored list is the same. Returns whether it wrote.
 */
export async function writePortsInUse(store: Store, name: string, ports: readonly number[]): Promise<boolean> {
  const written = await readModifyWrite<NodeObject>({
    store,
    kind: 'Node',
    ref: { name },
    write: 'updateStatus',
    change: (current) => {
      const stored = current.status?.portsInUse ?? [];
      if (stored.length === ports.length && stored.every((port, i) => port === ports[i])) return undefined;
      return { ...current, status: { ...(current.status ?? {}), portsInUse: [...ports] } };
    },
    attempts: ATTEMPTS,
  });
  return written.outcome === 'updated';
}
