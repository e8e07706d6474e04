// The Kubernetes-style envelope every Capstan object wears. Shapes only: validation lives with the
// kinds (api/kinds/), persistence with the store (api/store.ts).

export const API_VERSION = 'capstan/v1';
export const DEFAULT_NAMESPACE = 'default';

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  /** The owner that manages this object (at most one per object). */
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name: string;
  /** Absent for cluster-scoped kinds (Node, KindDefinition). */
  namespace?: string;
  uid?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Increments on every spec change and only then. */
  generation?: number;
  /** Opaque: pass back what you read to make a conditional write. */
  resourceVersion?: string;
  creationTimestamp?: string;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  deletionTimestamp?: string;
}

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  type: string;
  status: ConditionStatus;
  // `| undefined` spelled out: a user's status schema in zod (`reason: z.string().optional()`)
  // produces it, and under exactOptionalPropertyTypes (`tsc --init`'s default) it must still fit here.
  reason?: string | undefined;
  message?: string | undefined;
  lastTransitionTime: string;
}

/** Status fields every controller-managed kind shares. */
export interface CommonStatus {
  observedGeneration?: number;
  conditions?: Condition[];
}

export interface CapstanObject<Spec = unknown, Status = unknown> {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec: Spec;
  status?: Status;
}

export type AnyObject = CapstanObject<unknown, unknown>;

export type DeepReadonly<T> = T extends (...args: never[]) => unknown
  ? T
  : T extends ReadonlyArray<infer U>
    ? ReadonlyArray<DeepReadonly<U>>
    : T extends object
      ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
      : T;

/** Identifies one object of one kind: what work queues hold and informers index by. */
export interface ObjectRef {
  kind: string;
  namespace?: string;
  name: string;
}

/** `namespace/name`, or `name` for cluster-scoped objects: the key a controller's queue holds. */
export function refKey(ref: { namespace?: string; name: string }): string {
  return ref.namespace ? `${ref.namespace}/${ref.name}` : ref.name;
}

export function parseRefKey(key: string): { namespace?: string; name: string } {
  const slash = key.indexOf('/');
  return slash < 0 ? { name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

export const DNS_LABEL = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
export const DNS_LABEL_MAX = 63;

/** null when `name` is a DNS label, otherwise what is wrong with it. */
export function checkDnsLabel(name: string): string | null {
  if (name.length === 0) return 'a DNS label must not be empty';
  if (name.length > DNS_LABEL_MAX) return `a DNS label has at most ${DNS_LABEL_MAX} characters, found ${name.length}`;
  if (!DNS_LABEL.test(name)) {
    return 'a DNS label: lowercase letters, digits and "-", starting and ending with a letter or digit';
  }
  return null;
}

export function setCondition(conditions: readonly Condition[] | undefined, next: Omit<Condition, 'lastTransitionTime'>, now = new Date()): Condition[] {
  const list = [...(conditions ?? [])];
  const index = list.findIndex((c) => c.type === next.type);
  const previous = index >= 0 ? list[index] : undefined;
  // lastTransitionTime moves only when the status flips, as in Kubernetes: a reason or message
  // update on an unchanged status keeps the time the condition last changed.
  const lastTransitionTime =
    previous && previous.status === next.status ? previous.lastTransitionTime : now.toISOString();
  const condition: Condition = { ...next, lastTransitionTime };
  if (index >= 0) list[index] = condition;
  else list.push(condition);
  return list;
}

export function getCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}
