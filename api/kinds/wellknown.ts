// Labels and finalizers that several components agree on, named once.

/** On Revisions, Tasks and Volumes: the App they belong to. */
export const APP_LABEL = 'capstan.io/app';
/** On Tasks: the Revision (object name) they were made from. */
export const REVISION_LABEL = 'capstan.io/revision';
/**
 * On every Task from its creation (the store adds it, KindDefinition.binding): once the Task is
 * bound, the node's agent removes it when the workload is stopped, so a deleted Task disappears only
 * after its process or container is gone. The nodes controller removes it for a node that stays
 * unreachable past expungeAfterSeconds, the task gc for a node that was deleted, and `capstan delete
 * --force` when asked to. A Task deleted before it was bound loses it at once.
 */
export const AGENT_FINALIZER = 'capstan.io/agent';

/**
 * On every Volume from its creation: deleting one (`capstan delete volume`, a wipe) first has the
 * agent of its node remove the directory and release the disk, and only then is the object gone, so
 * a slot is never freed while its data still takes room.
 */
export const VOLUME_FINALIZER = 'capstan.io/volume';

/**
 * On Apps: condition a load balancer (`capstan lb`) sets False, reason ConfigRejected, when
 * `haproxy -c` refused the App's part of its configuration and it left the App out, and True once
 * it routes the App again.
 */
export const LOAD_BALANCED_CONDITION = 'LoadBalanced';

/**
 * On Apps: `"true"` holds the rollout where it is (`capstan rollout pause`); the rollout controller
 * reads it. An annotation, so it needs no schema change and reads the same in a manifest.
 */
export const PAUSED_ANNOTATION = 'capstan.io/paused';
/**
 * On Apps and Revisions: a restart stamp (`capstan rollout restart`), part of a revision's identity,
 * so a new stamp makes a new revision of the same template and every task is replaced.
 */
export const RESTARTED_AT_ANNOTATION = 'capstan.io/restartedAt';

/**
 * On any object deleted with `propagationPolicy: 'Foreground'` (Kubernetes' `foregroundDeletion`):
 * the store adds it with the deletionTimestamp, and the gc controller removes it once every
 * dependent (by ownerReferences) is gone, so the object outlives its Revisions and Tasks.
 */
export const FOREGROUND_FINALIZER = 'foregroundDeletion';
/**
 * On Apps: a stamp (`capstan app reset-delay`, Marathon's `DELETE /v2/queue/{id}/delay`). The replicas
 * controller honours each new value once: the current revision's launch delay and failure count go
 * back to zero, so the next launch is immediate. Metadata, so it makes no new revision.
 */
export const LAUNCH_DELAY_RESET_ANNOTATION = 'capstan.io/launchDelayResetAt';

/**
 * On GitRepositories and Syncs: a request stamp (`capstan sync now`, Flux's
 * `reconcile.fluxcd.io/requestedAt`). A new value makes the repository fetch now and the Sync apply
 * now, whatever their interval; each records the value it handled in `status.lastHandledRequestedAt`.
 */
export const REQUESTED_AT_ANNOTATION = 'capstan.io/requestedAt';

/**
 * On any object applied by `capstan apply` or a Sync: `disabled` keeps it out of prune's reach (Flux's
 * `kustomize.toolkit.fluxcd.io/prune: disabled`). It is dropped from the inventory instead of being
 * deleted, and the prune outcome says so; deleting a pruning Sync leaves it too.
 */
export const PRUNE_ANNOTATION = 'capstan.io/prune';
export const PRUNE_DISABLED = 'disabled';

/**
 * On Syncs with `spec.prune` (added by the Sync controller while prune is on, like Flux's
 * Kustomization finalizer): deleting the Sync first deletes what its inventory holds (opt-outs
 * excepted, PRUNE_ANNOTATION), then the controller removes this and the Sync is gone.
 */
export const SYNC_PRUNE_FINALIZER = 'capstan.io/sync-prune';
