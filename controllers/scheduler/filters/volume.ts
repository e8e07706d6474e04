import type { Filter } from './filter.ts';

/** A task whose slot's persistent volumes live on one node can only run there (resident.ts). */
export const volumeAffinity: Filter = (task, node) =>
  task.pinnedNode === undefined || task.pinnedNode === node.name ? null : 'persistent volume on another node';
