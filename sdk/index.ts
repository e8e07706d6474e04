// capstan/sdk: everything a controller outside this repository needs, and nothing that loads a
// Docker client or a bundler. See docs/writing-controllers.md.
//
// The contract: a controller is a name, what it watches, and reconcile(key, ctx) → Result.
export {
  done,
  requeueAfter,
  retry,
  invalid,
  toOwner,
  INVALID_CONDITION,
  INVALID_REASON,
  type Result,
  type ControllerDefinition,
  type ReconcileContext,
  type Watch,
  type Cache,
  type Caches,
  type KindRef,
  type ObjectOfKind,
} from '../controllers/contract.ts';
export type { InformerEvent, InformerEventType } from '../api/informer.ts';

// Kinds: one definition, typed, that the CLI learns as a CustomKind.
export { defineKind, DEFINED_BY_LABEL, type DefinedKind, type DefineKindOptions, type KindColumn, type KindObject } from './define-kind.ts';
export type { FieldProblem, KindDefinition } from '../api/kinds/registry.ts';
export { commonStatusSchema, conditionSchema } from './schemas.ts';

// Running controllers: the one-call runner, or the Manager itself.
export { runControllers, parseRunFlags, RunError, RUN_USAGE, type RunControllersOptions, type RunningControllers } from './run.ts';
export { Manager, installSignalHandlers, UnknownWatchedKindError, type ManagerOptions } from '../controllers/manager.ts';
export { serveMetrics, type MetricsServer } from '../controllers/metrics.ts';

// The store: reads, conditional writes, and the read-modify-write loop.
export { Store, type ObjectName } from '../api/store.ts';
export { openStore, type OpenStoreOptions, type OpenedStore } from './store.ts';
export { StoreError, isStoreError, type StoreErrorCode } from '../api/errors.ts';
export { readModifyWrite, type ReadModifyWriteOptions, type ReadModifyWriteResult } from '../api/read-modify-write.ts';
export { EtcdUnreachableError } from '../api/etcd-errors.ts';

// Objects, conditions, owners and finalizers, events.
export {
  API_VERSION,
  DEFAULT_NAMESPACE,
  refKey,
  parseRefKey,
  setCondition,
  getCondition,
  type CapstanObject,
  type AnyObject,
  type DeepReadonly,
  type ObjectMeta,
  type Condition,
  type ConditionStatus,
  type CommonStatus,
  type OwnerReference,
} from '../api/object.ts';
export { deepEqual } from '../api/merge.ts';
export { ownerReference, isControlledBy, hasFinalizer, addFinalizer, removeFinalizer, isDeleting } from './objects.ts';
export type { EventRecorder } from '../api/events.ts';
