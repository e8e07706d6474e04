// The key layout of DESIGN.md, in one place.

export const ROOT = '/capstan/';

export interface KindKeys {
  plural: string;
  namespaced: boolean;
  /** Present for a kind whose objects have a binding key (KindDefinition.binding). */
  binding?: unknown;
}

/** The keys one object is stored in: spec, status and, for a kind with bindings, binding. */
export type Part = 'spec' | 'status' | 'binding';

const SPEC_AND_STATUS: readonly Part[] = ['spec', 'status'];
const WITH_BINDING: readonly Part[] = ['spec', 'status', 'binding'];

/** The parts an object of this kind is stored in, spec first. */
export function partsOf(kind: KindKeys): readonly Part[] {
  return kind.binding ? WITH_BINDING : SPEC_AND_STATUS;
}

/** The key of one part of an object. */
export function partKey(part: Part, kind: KindKeys, namespace: string | undefined, name: string): string {
  return part === 'spec' ? specKey(kind, namespace, name) : part === 'status' ? statusKey(kind, namespace, name) : bindingKey(kind, namespace, name);
}

/** The prefix of one part of every object of a kind (in a namespace, when given). */
export function partPrefix(part: Part, kind: KindKeys, namespace?: string): string {
  return part === 'spec' ? specPrefix(kind, namespace) : part === 'status' ? statusPrefix(kind, namespace) : bindingPrefix(kind, namespace);
}

export function specPrefix(kind: KindKeys, namespace?: string): string {
  return kind.namespaced && namespace ? `${ROOT}spec/${kind.plural}/${namespace}/` : `${ROOT}spec/${kind.plural}/`;
}

export function statusPrefix(kind: KindKeys, namespace?: string): string {
  return kind.namespaced && namespace ? `${ROOT}status/${kind.plural}/${namespace}/` : `${ROOT}status/${kind.plural}/`;
}

export function specKey(kind: KindKeys, namespace: string | undefined, name: string): string {
  return kind.namespaced ? `${ROOT}spec/${kind.plural}/${namespace}/${name}` : `${ROOT}spec/${kind.plural}/${name}`;
}

export function statusKey(kind: KindKeys, namespace: string | undefined, name: string): string {
  return kind.namespaced ? `${ROOT}status/${kind.plural}/${namespace}/${name}` : `${ROOT}status/${kind.plural}/${name}`;
}

/**
 * A binding: the spec fields written once, when an object is placed (a Task's nodeName and
 * hostPorts), kept in a small key of their own beside spec and status. The store and the informers
 * join it into the spec; see api/README.md "Bindings" for why it is not a spec rewrite.
 */
export function bindingPrefix(kind: KindKeys, namespace?: string): string {
  return kind.namespaced && namespace ? `${ROOT}binding/${kind.plural}/${namespace}/` : `${ROOT}binding/${kind.plural}/`;
}

export function bindingKey(kind: KindKeys, namespace: string | undefined, name: string): string {
  return kind.namespaced ? `${ROOT}binding/${kind.plural}/${namespace}/${name}` : `${ROOT}binding/${kind.plural}/${name}`;
}

/** `namespace/name` (or `name`) from a spec, status or binding key of this kind. */
export function refKeyFromKey(kind: KindKeys, key: string): string {
  const marker = `/${kind.plural}/`;
  return key.slice(key.indexOf(marker) + marker.length);
}

export const leaderKey = (controller: string) => `${ROOT}leaders/${controller}`;
/** A node's liveness: a key bound to its agent's lease, which the nodes controller watches by this prefix. */
export const nodeLeasePrefix = `${ROOT}leases/nodes/`;
export const nodeLeaseKey = (node: string) => `${nodeLeasePrefix}${node}`;
/**
 * The secondary index of bindings: one key per Task bound to a node, its value the task's uid. The
 * scheduler writes it in the binding's transaction; the node's agent lists and watches its prefix.
 */
export const nodeTasksIndexPrefix = (node: string) => `${ROOT}index/nodes/${node}/tasks/`;
export const nodeTaskIndexKey = (node: string, namespace: string, name: string) => `${nodeTasksIndexPrefix(node)}${namespace}/${name}`;
export const eventPrefix = (namespace?: string) => (namespace ? `${ROOT}events/${namespace}/` : `${ROOT}events/`);
export const eventKey = (namespace: string, id: string) => `${eventPrefix(namespace)}${id}`;
export const inventoryKey = (namespace: string, name: string) => `${ROOT}inventories/${namespace}/${name}`;

/**
 * Service ports (marathon-lb's 10000–10100): one key per port in use, its value the App that holds
 * it. Created with a create-if-absent transaction, so two Apps can never be given the same port.
 */
export const servicePortPrefix = `${ROOT}serviceports/`;
export const servicePortKey = (port: number) => `${servicePortPrefix}${port}`;
/** A running load balancer (`capstan lb`): a key bound to its lease, so the agent knows whom to wait for when draining. */
export const loadBalancerLeasePrefix = `${ROOT}leases/loadbalancers/`;
export const loadBalancerLeaseKey = (name: string) => `${loadBalancerLeasePrefix}${name}`;
/**
 * What a load balancer has converged to: per App, the Endpoints resourceVersion whose removed
 * servers it has drained (their connections at zero, or its drain timeout passed). Bound to the load
 * balancer's lease. The agent stops a draining task once every live load balancer is at or past the
 * Endpoints revision that no longer lists it.
 */
export const drainedPrefix = (lb: string) => `${ROOT}drained/${lb}/`;
export const drainedKey = (lb: string, namespace: string, app: string) => `${drainedPrefix(lb)}${namespace}/${app}`;

/** The key range of everything under `prefix`. */
export function prefixRange(prefix: string): { key: Buffer; range_end: Buffer } {
  const end = Buffer.from(prefix);
  end[end.length - 1] = end[end.length - 1]! + 1;
  return { key: Buffer.from(prefix), range_end: end };
}
