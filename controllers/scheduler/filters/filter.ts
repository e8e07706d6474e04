import type { NodeView, Snapshot, TaskDemand } from '../snapshot.ts';

/**
 * A filter says why a node cannot take a task, or null when it can. Reasons are short and
 * countable ("insufficient mem", "hostname:UNIQUE") because the scheduler sums them across nodes
 * into the message a user reads: "0/5 nodes fit: 3 insufficient mem, 2 hostname:UNIQUE".
 */
export type Filter = (task: TaskDemand, node: NodeView, snapshot: Snapshot) => string | null;
