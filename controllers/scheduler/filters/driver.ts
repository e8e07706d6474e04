import type { Filter } from './filter.ts';

/** A pod may mix runtimes (a Docker container beside a process): its node must offer each of them. */
export const driverAvailable: Filter = (task, node) => {
  for (const runtime of task.runtimes) if (!node.drivers.includes(runtime)) return `no ${runtime} driver`;
  return null;
};
