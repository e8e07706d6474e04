import type { Filter } from './filter.ts';

export const driverAvailable: Filter = (task, node) =>
  node.drivers.includes(task.driver) ? null : `no ${task.driver} driver`;
