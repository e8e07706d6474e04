import type { Filter } from './filter.ts';

/** A task whose persistent volume lives on one node can only run there. */
export const volumeAffinity: Filter = (task, node) =>
  task.pinnedNode === undefined || task.pinnedNode === node.name ? null : 'persistent volume on another node';
