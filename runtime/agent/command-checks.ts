// COMMAND health checks of the tasks on this node: `/bin/sh -c command` inside the container the
// check names, the task's first by default (docker exec), or beside its process in the sandbox
// (Driver.exec), on the check's cadence.
// Results go into the Task's status the way the health controller writes its own checks
// (runtime/probes/): merged with the stored status, written only on transitions; a task past
// maxConsecutiveFailures is failed, and the agent's next pass stops it like any finished task.
import type { Logger } from 'pino';
import type { ProbeResults } from '../../api/metrics.ts';
import type { Store } from '../../api/store.ts';
import type { ExecResult } from '../driver.ts';
import { countedProbes } from '../probes/count.ts';
import { ProbeLoops } from '../probes/loops.ts';
import { commandProbes, isProbed } from '../probes/task-probes.ts';
import { writeHealth } from '../probes/write.ts';
import type { TaskObject } from './plan.ts';

export interface CommandChecksOptions {
  store: Store;
  exec(task: TaskObject, container: string, command: string, timeoutMs: number): Promise<ExecResult>;
  log: Logger;
  /** Where check results are counted (capstan_probe_results_total, protocol COMMAND). */
  results?: ProbeResults;
}

export class CommandChecks {
  private readonly loops: ProbeLoops;
  /** The latest cached object of each probed task, to write against. */
  private readonly tasks = new Map<string, TaskObject>();

  constructor(private readonly options: CommandChecksOptions) {
    this.loops = new ProbeLoops({
      write: (uid, update) => writeHealth({ store: options.store, cached: this.tasks.get(uid), uid, update }),
      concurrency: 32,
      log: options.log,
    });
  }

  /** Called with every task bound here on each agent pass: starts, keeps or stops their loops. */
  sync(tasks: readonly TaskObject[]): void {
    const seen = new Set<string>();
    for (const task of tasks) {
      const uid = task.metadata.uid;
      if (!uid || !isProbed(task) || !task.spec.template.healthChecks.some((c) => c.protocol === 'COMMAND')) continue;
      const probes = commandProbes(task, (command, timeoutMs, container) => this.options.exec(task, container, command, timeoutMs));
      const plan = probes && this.options.results ? countedProbes(probes, task, this.options.results) : probes;
      seen.add(uid);
      this.tasks.set(uid, task);
      this.loops.sync(uid, plan);
    }
    for (const uid of this.loops.uids()) {
      if (seen.has(uid)) continue;
      this.loops.sync(uid, undefined);
      this.tasks.delete(uid);
    }
  }

  stop(): void {
    this.loops.stopAll();
    this.tasks.clear();
  }
}
