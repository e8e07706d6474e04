// The whole contract between a controller and the runtime (DESIGN.md "Informers and the controller
// runtime"). A controller is a name, what it watches, and one function from a key to a Result. The
// runtime queues keys, never events: reconcile re-reads what it needs from the caches, so a key that
// changed five times while queued is reconciled once, against the latest state.
import type { Logger } from 'pino';
import type { EventRecorder } from '../api/events.ts';
import type { InformerEvent } from '../api/informer.ts';
import type { AnyObject, CapstanObject, DeepReadonly } from '../api/object.ts';
import { refKey } from '../api/object.ts';
import type { Store } from '../api/store.ts';

/** What a reconcile concluded. Exactly one spelling per outcome. */
export type Result =
  /** Converged; nothing to do until something it watches changes. */
  | { kind: 'done' }
  /** Converged for now; look again after `ms` (a schedule, a timeout, polling something external). */
  | { kind: 'requeueAfter'; ms: number }
  /** Could not converge yet; try again with per-key exponential backoff. */
  | { kind: 'retry'; error: unknown }
  /**
   * The primary object's spec cannot be acted on. The runtime writes an `Invalid` condition to its
   * status and does not reconcile the key again until its metadata.generation changes.
   */
  | { kind: 'invalid'; field: string; message: string };

export const done = (): Result => ({ kind: 'done' });
export const requeueAfter = (ms: number): Result => ({ kind: 'requeueAfter', ms });
export const retry = (error: unknown): Result => ({ kind: 'retry', error });
export const invalid = (field: string, message: string): Result => ({ kind: 'invalid', field, message });

/** The condition `invalid` writes: type Invalid, status True, this reason, message `field: message`. */
export const INVALID_CONDITION = 'Invalid';
export const INVALID_REASON = 'InvalidSpec';

/**
 * A kind as a controller names it: its name ("App", or an alias), or a kind object — one made by
 * defineKind (sdk/define-kind.ts) also carries its spec and status types, so the objects read
 * through it are typed.
 */
export type KindRef = string | { readonly kind: string };

/** The objects a kind reference stands for: typed for a defineKind kind, AnyObject for a name. */
export type ObjectOfKind<K> = K extends { readonly __types?: { spec: infer Spec; status: infer Status } } ? CapstanObject<Spec, Status> : AnyObject;

export const kindName = (kind: KindRef): string => (typeof kind === 'string' ? kind : kind.kind);

/** Synchronous, read-only view of one kind's informer cache. Keys are `namespace/name` (or `name`). */
export interface Cache<T extends AnyObject = AnyObject> {
  get(key: string): DeepReadonly<T> | undefined;
  list(filter?: (object: DeepReadonly<T>) => boolean): DeepReadonly<T>[];
  keys(): string[];
  /**
   * The cached objects filed under `value` in an index the cache keeps as it changes, ordered by key
   * (a fresh array): `owner` by each ownerReference's uid, `app` by `namespace/app` (a Task's,
   * Revision's or Endpoints' spec.app; an App's own key), `node` by spec.nodeName. Ask this rather
   * than filtering `list()`, which reads every object of the kind.
   */
  byIndex(index: 'owner' | 'app' | 'node', value: string): DeepReadonly<T>[];
}

export type Caches = <K extends KindRef>(kind: K) => Cache<ObjectOfKind<K>>;

/**
 * A kind to watch and which keys of the controller's queue a change to it concerns. The default map
 * is the object's own key. `caches` lets a map look at other kinds (the gc finds dependents by uid).
 */
export interface Watch {
  kind: KindRef;
  map?: (event: InformerEvent, caches: Caches) => string[];
}

/** Maps a dependent to the key of its controller owner of `ownerKind` (same namespace). */
export function toOwner(ownerKind: string): (event: InformerEvent) => string[] {
  return (event) => {
    const owner = event.object.metadata.ownerReferences?.find((ref) => ref.controller && ref.kind === ownerKind);
    return owner ? [refKey({ namespace: event.object.metadata.namespace, name: owner.name })] : [];
  };
}

/** The recorder lives with the store (api/events.ts): node-local components record events too. */
export type { EventRecorder };

export interface ReconcileContext {
  /** Fenced with this controller's leadership when running under election: a deposed leader's write fails with `Fenced`. */
  store: Store;
  /** The shared informer cache of a kind; objects are read-only, change a copy. */
  informer<K extends KindRef>(kind: K): Cache<ObjectOfKind<K>>;
  /**
   * Writes `status` as the object's status, conditioned on the object as read (a cached, read-only
   * object will do): a Conflict when it changed since. Writes nothing and returns false when the
   * status is already that — your own write would otherwise wake your watch again, forever.
   */
  updateStatus<T extends AnyObject>(object: T | DeepReadonly<T>, status: NonNullable<T['status']> | DeepReadonly<NonNullable<T['status']>>): Promise<boolean>;
  events: EventRecorder;
  log: Logger;
  now(): Date;
  /** Aborted on shutdown and the moment leadership is lost: pass it to anything slow. */
  signal: AbortSignal;
}

export interface ControllerDefinition {
  /** Unique per cluster: names the leader key, metrics and logs. */
  name: string;
  watches: Watch[];
  /** The kind whose status gets the Invalid condition; defaults to the first watch's kind. */
  primaryKind?: KindRef;
  reconcile(key: string, ctx: ReconcileContext): Promise<Result>;
  /** Keys reconciled at once; one key is never reconciled concurrently with itself. Default 1. */
  concurrency?: number;
  /** Every this many ms, every cached object of every watch is mapped to keys and queued again. */
  resyncMs?: number;
}

export function primaryKindOf(definition: ControllerDefinition): string {
  const kind = definition.primaryKind ?? definition.watches[0]?.kind;
  if (!kind) throw new Error(`controller ${definition.name}: watches is empty; watch at least the primary kind`);
  return kindName(kind);
}
