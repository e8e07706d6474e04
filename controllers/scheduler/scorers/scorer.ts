import type { NodeView, Snapshot, TaskDemand } from '../snapshot.ts';

/** A number in [0, 1], higher is better, weighted against the other scorers. */
export interface Scorer {
  name: string;
  weight: number;
  score(task: TaskDemand, node: NodeView, snapshot: Snapshot): number;
}

/** Fraction of a node's capacity in use after placing the task, averaged over cpus and mem. */
export function utilisationAfter(task: TaskDemand, node: NodeView, snapshot: Snapshot): number {
  const used = snapshot.usedOn(node.name);
  return (share(used.cpus, task.resources.cpus, node.capacity.cpus) + share(used.mem, task.resources.mem, node.capacity.mem)) / 2;
}

// Module-level rather than a closure inside utilisationAfter: it runs for every candidate of every
// placement, and a closure per call is garbage (and, under tsx, a name-keeping wrapper) each time.
function share(used: number, wanted: number, capacity: number): number {
  return capacity > 0 ? Math.min(1, (used + wanted) / capacity) : 1;
}
