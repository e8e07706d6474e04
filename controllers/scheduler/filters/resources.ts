import type { Filter } from './filter.ts';

// A small epsilon: 0.1 + 0.2 cpus must fit into 0.3.
const EPSILON = 1e-9;

/**
 * Capacity minus what bound tasks (and this batch's assumed placements) already take. The four
 * kinds are spelled out rather than looped over by name: this runs for every node a placement
 * looks at, and the literal property reads are several times faster than `used[kind]`.
 */
export const resourcesFit: Filter = (task, node, snapshot) => {
  const used = snapshot.usedOn(node.name);
  const wanted = task.resources;
  const capacity = node.capacity;
  if (used.cpus + wanted.cpus > capacity.cpus + EPSILON) return 'insufficient cpus';
  if (used.mem + wanted.mem > capacity.mem + EPSILON) return 'insufficient mem';
  if (used.disk + wanted.disk > capacity.disk + EPSILON) return 'insufficient disk';
  if (used.gpus + wanted.gpus > capacity.gpus + EPSILON) return 'insufficient gpus';
  return null;
};
