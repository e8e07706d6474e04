import type { Filter } from './filter.ts';

const KINDS = ['cpus', 'mem', 'disk', 'gpus'] as const;

/** Capacity minus what bound tasks (and this batch's assumed placements) already take. */
export const resourcesFit: Filter = (task, node, snapshot) => {
  const used = snapshot.usedOn(node.name);
  for (const kind of KINDS) {
    // A small epsilon: 0.1 + 0.2 cpus must fit into 0.3.
    if (used[kind] + task.resources[kind] > node.capacity[kind] + 1e-9) return `insufficient ${kind}`;
  }
  return null;
};
