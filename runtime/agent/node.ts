// Registers the agent's Node: created on first start; on later starts the agent's facts (address,
// attributes, capacity, ports, drivers) replace what is stored, while `unschedulable` (a person's
// cordon) is kept. Status fields the agent owns are merged into the stored status, leaving the nodes
// controller's conditions and the scheduler's allocation alone.
import { isStoreError } from '../../api/errors.ts';
import type { NodeSpec, NodeStatus } from '../../api/kinds/node.ts';
import { API_VERSION, type CapstanObject } from '../../api/object.ts';
import type { Store } from '../../api/store.ts';

type NodeObject = CapstanObject<NodeSpec, NodeStatus>;
export type AgentNodeStatus = Required<Pick<NodeStatus, 'agentVersion' | 'availableDrivers' | 'leaseTTLSeconds' | 'agentEndpoint'>>;

const ATTEMPTS = 10;

export async function registerNode(store: Store, name: string, spec: Omit<NodeSpec, 'unschedulable'>, status: AgentNodeStatus): Promise<NodeObject> {
  await retryRaces(async () => {
    const current = await store.get<NodeObject>('Node', { name });
    if (current) await store.update<NodeObject>({ ...current, spec: { ...spec, unschedulable: current.spec.unschedulable } });
    else await store.create<NodeObject>({ apiVersion: API_VERSION, kind: 'Node', metadata: { name }, spec: { ...spec, unschedulable: false } });
  });
  // Status on a fresh read, so that a condition written meanwhile by the nodes controller is kept.
  return retryRaces(async () => {
    const current = await store.mustGet<NodeObject>('Node', { name });
    return store.updateStatus<NodeObject>({ ...current, status: { ...(current.status ?? {}), ...status } });
  });
}

/** Someone else wrote the Node between our read and write (the nodes controller, a cordon): read again. */
async function retryRaces<T>(write: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await write();
    } catch (error) {
      const raced = isStoreError(error, 'Conflict') || isStoreError(error, 'AlreadyExists');
      if (!raced || attempt >= ATTEMPTS) throw error;
    }
  }
}
