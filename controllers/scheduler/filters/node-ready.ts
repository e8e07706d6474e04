import type { Filter } from './filter.ts';

export const nodeReady: Filter = (_task, node) => {
  if (!node.ready) return 'node not ready';
  if (node.unschedulable) return 'node unschedulable';
  return null;
};
