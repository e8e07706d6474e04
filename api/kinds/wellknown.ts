// Labels and finalizers that several components agree on, named once.

/** On Revisions and Tasks: the App they belong to. */
export const APP_LABEL = 'capstan.io/app';
/** On Tasks: the Revision (object name) they were made from. */
export const REVISION_LABEL = 'capstan.io/revision';
/**
 * Added by the scheduler when it binds a Task to a node: the node's agent removes it once the
 * workload is stopped, so a deleted Task disappears only after its process or container is gone.
 * The nodes controller removes it for a node that stays unreachable past expungeAfterSeconds.
 */
export const AGENT_FINALIZER = 'capstan.io/agent';
