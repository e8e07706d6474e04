import type { NodeView, Snapshot, TaskDemand } from '../snapshot.ts';
import type { Filter } from './filter.ts';

const say = {
  inUse: (port: number) => `port ${port} in use`,
  inUseOutside: (port: number) => `port ${port} in use outside Capstan`,
  noFreePorts: 'no free ports',
};

const NONE: ReadonlySet<number> = new Set();

/**
 * Host ports: a fixed port must be free on the node; each 0 takes the lowest free port of the
 * node's range. Two tasks on one node never share a port, including tasks of the same batch,
 * because placements are assumed into the snapshot as they are made. A port the node's agent
 * reports held outside Capstan (etcd, another agent's listener) is handed to no task: a workload
 * given it would only crash-loop on "address already in use".
 */
export function choosePorts(task: TaskDemand, node: NodeView, snapshot: Snapshot): number[] | string {
  const taken = snapshot.portsOn(node.name);
  const outside = node.portsInUse ?? NONE;
  const fixed = task.ports.filter((port) => port !== 0);
  const chosen = new Set<number>();
  for (const port of fixed) {
    if (taken.has(port) || chosen.has(port)) return say.inUse(port);
    if (outside.has(port)) return say.inUseOutside(port);
    chosen.add(port);
  }
  const result: number[] = [];
  let candidate = node.portRange.from;
  for (const port of task.ports) {
    if (port !== 0) {
      result.push(port);
      continue;
    }
    while (candidate <= node.portRange.to && (taken.has(candidate) || chosen.has(candidate) || outside.has(candidate))) candidate += 1;
    if (candidate > node.portRange.to) return say.noFreePorts;
    chosen.add(candidate);
    result.push(candidate);
  }
  return result;
}

/**
 * The filter answers what choosePorts would, without choosing: it runs for every node a placement
 * looks at, and choosing (two arrays and a set per node) is only needed for the one that wins.
 * Fixed ports must be free and distinct; the 0s need that many free ports left in the range.
 */
export const portsFree: Filter = (task, node, snapshot) => {
  const taken = snapshot.portsOn(node.name);
  const outside = node.portsInUse ?? NONE;
  let dynamic = 0;
  let fixedInRange = 0;
  for (let i = 0; i < task.ports.length; i += 1) {
    const port = task.ports[i]!;
    if (port === 0) {
      dynamic += 1;
      continue;
    }
    if (taken.has(port) || task.ports.indexOf(port) !== i) return say.inUse(port);
    if (outside.has(port)) return say.inUseOutside(port);
    if (port >= node.portRange.from && port <= node.portRange.to) fixedInRange += 1;
  }
  if (dynamic === 0) return null;
  let takenInRange = 0;
  for (const port of taken) if (port >= node.portRange.from && port <= node.portRange.to) takenInRange += 1;
  // A port both a task and an outside process hold (a bound task whose workload has not bound yet) counts once.
  for (const port of outside) if (port >= node.portRange.from && port <= node.portRange.to && !taken.has(port)) takenInRange += 1;
  const free = node.portRange.to - node.portRange.from + 1 - takenInRange - fixedInRange;
  return free >= dynamic ? null : say.noFreePorts;
};
