// What a node offers the scheduler, from what the machine has: memory as it is, cpus times an
// overcommit factor.
//
// Apps are placed on what they ask for, not on what they use: an instance without `resources` asks
// for Marathon's default of 1 cpu, so on a 2-core laptop the demo and two such Apps fill the node and
// the third stays Pending while the cores sit idle. Kubernetes users know the split between requests
// and allocatable, and Mesos had oversubscription for the same gap. Capstan's answer is a cpu
// overcommit factor on the node: cpu is compressible (tasks sharing a core slow down, nothing is
// killed), so offering more cpus than cores is safe for a development machine. Memory is not
// compressible (a node that runs out kills something), so it is never multiplied. `capstan agent`
// offers the cores as they are unless told otherwise (production nodes decide their own policy);
// `capstan up`, a one-machine development cluster, offers LOCAL_CPU_OVERCOMMIT times its cores.
import { usageError } from '../errors.ts';

/** `capstan up`'s factor: a 2-core machine offers 8 cpus, room for the demo and about seven Apps at 1 cpu. */
export const LOCAL_CPU_OVERCOMMIT = 4;

const say = {
  factor: (flag: string, value: string) => `${flag}: expected a number of at least 1 (the cpus offered per core), found "${value}"`,
  offer: (cpus: number, base: number, factor: number, mem: number) =>
    factor === 1
      ? `offers ${cpus} cpus and ${mem} MiB memory`
      : `offers ${cpus} cpus (${base} × cpu overcommit ${factor}: cpu is shared, not reserved; see --cpu-overcommit) and ${mem} MiB memory`,
};

/** The option parser of `--cpu-overcommit`: a factor of at least 1. */
export function overcommitFactor(flag: string): (value: string) => number {
  return (value) => {
    const factor = Number(value);
    if (value.trim() === '' || !Number.isFinite(factor) || factor < 1) throw usageError(say.factor(flag, value));
    return factor;
  };
}

/** The cpus a node offers: `cpus` (the machine's cores unless given) times the factor, to a thousandth. */
export function offeredCpus(cpus: number, overcommit: number): number {
  return Math.round(cpus * overcommit * 1000) / 1000;
}

/** The sentence the agent and `up` print at start-up, so nobody wonders where 8 cpus came from. */
export function describeOffer(options: { cpus: number; overcommit: number; mem: number }): string {
  return say.offer(offeredCpus(options.cpus, options.overcommit), options.cpus, options.overcommit, options.mem);
}
