import type { NodeView, Snapshot, TaskDemand } from '../snapshot.ts';
import type { Filter } from './filter.ts';

/**
 * Host ports: a fixed port must be free on the node; each 0 takes the lowest free port of the
 * node's range. Two tasks on one node never share a port, including tasks of the same batch,
 * because placements are assumed into the snapshot as they are made.
 */
export function choosePorts(task: TaskDemand, node: NodeView, snapshot: Snapshot): number[] | string {
  const taken = snapshot.portsOn(node.name);
  const fixed = task.ports.filter((port) => port !== 0);
  const chosen = new Set<number>();
  for (const port of fixed) {
    if (taken.has(port) || chosen.has(port)) return `port ${port} in use`;
    chosen.add(port);
  }
  const result: number[] = [];
  let candidate = node.portRange.from;
  for (const port of task.ports) {
    if (port !== 0) {
      result.push(port);
      continue;
    }
    while (candidate <= node.portRange.to && (taken.has(candidate) || chosen.has(candidate))) candidate += 1;
    if (candidate > node.portRange.to) return 'no free ports';
    chosen.add(candidate);
    result.push(candidate);
  }
  return result;
}

export const portsFree: Filter = (task, node, snapshot) => {
  const ports = choosePorts(task, node, snapshot);
  return typeof ports === 'string' ? ports : null;
};
