// The health controller (DESIGN.md "health (probes → Task health)"): probes the HTTP, HTTPS and TCP
// health checks and the readiness checks of every Running task over the network, and writes the
// results into the Task's status (healthResults, conditions Healthy and Ready) when they change. A
// task past maxConsecutiveFailures is failed (phase Failed, condition Healthy False, reason
// KilledUnhealthy): its agent stops the workload as it stops any workload of a finished task, and the
// replicas controller replaces it after the launch backoff, counting it as it counts a crash.
//
// Why fail rather than delete: a deleted task can leave the replicas controller's cache before that
// controller has seen it fail, and would then not count toward the backoff; a Failed task stays
// visible in `capstan get tasks` with the reason until the replicas controller forgets it.
//
// COMMAND checks run inside the container, so the task's node agent runs those (runtime/agent); both
// merge their own checks' results into the status as stored (runtime/probes/fold.ts).
//
// Reconcile only starts, keeps or stops the probe loops of one task; the loops themselves are
// long-lived and live for one leadership term (ctx.signal): a new leader resumes from the
// healthResults in the store.
//
// This file imports runtime/probes/: probing is runtime work (DESIGN.md's layout puts probes in
// runtime/), and that folder imports only api/ and node built-ins, so no cycle comes of it.
import type { ProbeSample } from '../../runtime/probes/loops.ts';
import { ProbeLoops } from '../../runtime/probes/loops.ts';
import { networkProber, type NetworkProber } from '../../runtime/probes/network.ts';
import { isProbed, networkProbes, type ProbedTask } from '../../runtime/probes/task-probes.ts';
import { writeHealth } from '../../runtime/probes/write.ts';
import { refKey, type AnyObject, type DeepReadonly } from '../../api/object.ts';
import { done, type Caches, type ControllerDefinition, type ReconcileContext } from '../contract.ts';
import type { ControllerMetrics } from '../../api/metrics.ts';
import { countedProbes } from '../../runtime/probes/count.ts';

export const HEALTH = 'health';

export interface HealthControllerOptions {
  /** Probes in flight at once. Default 256. */
  concurrency?: number;
  /** Status writes in flight at once. Default 8. */
  writeConcurrency?: number;
  /** Every probe's timing (the bench measures lateness with it). */
  observe?: (sample: ProbeSample) => void;
  /** Where probe results are counted (capstan_probe_results_total). */
  metrics?: ControllerMetrics;
}

interface Term {
  signal: AbortSignal;
  loops: ProbeLoops;
  prober: NetworkProber;
  /** Which task key each probed uid belongs to, to find its cached object when writing. */
  keys: Map<string, string>;
}

export function healthController(options: HealthControllerOptions = {}): ControllerDefinition {
  let term: Term | undefined;

  const termFor = (ctx: ReconcileContext): Term => {
    if (term?.signal === ctx.signal) return term;
    // The first reconcile of a new leadership term; the previous term's loops stopped with its signal.
    const keys = new Map<string, string>();
    const prober = networkProber();
    const loops = new ProbeLoops({
      write: (uid, update) => {
        const key = keys.get(uid);
        const cached = key ? (ctx.informer('Task').get(key) as ProbedTask | undefined) : undefined;
        return writeHealth({ store: ctx.store, cached, uid, update, now: ctx.now });
      },
      ...(options.concurrency ? { concurrency: options.concurrency } : {}),
      ...(options.writeConcurrency ? { writeConcurrency: options.writeConcurrency } : {}),
      ...(options.observe ? { observe: options.observe } : {}),
      log: ctx.log,
    });
    const next: Term = { signal: ctx.signal, loops, prober, keys };
    ctx.signal.addEventListener(
      'abort',
      () => {
        loops.stopAll();
        prober.close();
      },
      { once: true },
    );
    term = next;
    return next;
  };

  return {
    name: HEALTH,
    primaryKind: 'Task',
    watches: [{ kind: 'Task' }, { kind: 'Node', map: tasksOnNode }],
    concurrency: 4,
    reconcile: async (key, ctx) => {
      const { loops, prober, keys } = termFor(ctx);
      const task = ctx.informer('Task').get(key) as ProbedTask | undefined;
      // Whatever ran under this key before (the task is gone, or re-created under another uid).
      for (const [uid, owner] of keys) {
        if (owner === key && uid !== task?.metadata.uid) {
          loops.sync(uid, undefined);
          keys.delete(uid);
        }
      }
      if (!task?.metadata.uid) return done();
      const uid = task.metadata.uid;
      const address = isProbed(task) ? nodeAddress(ctx.informer, task.spec.nodeName!) : undefined;
      const probes = address ? networkProbes(task, address, prober) : undefined;
      const plan = probes && options.metrics ? countedProbes(probes, task, options.metrics.probes) : probes;
      loops.sync(uid, plan);
      if (plan) keys.set(uid, key);
      else keys.delete(uid);
      return done();
    },
  };
}

function nodeAddress(caches: Caches, nodeName: string): string | undefined {
  const node = caches('Node').get(nodeName) as DeepReadonly<AnyObject> | undefined;
  return (node?.spec as { address?: string } | undefined)?.address;
}

/** A node's address concerns the tasks bound to it. */
function tasksOnNode(event: { object: DeepReadonly<AnyObject> }, caches: Caches): string[] {
  const name = event.object.metadata.name;
  return caches('Task')
    .byIndex('node', name)
    .map((t) => refKey(t.metadata));
}
