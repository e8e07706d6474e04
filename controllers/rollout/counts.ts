// How many instances each Revision of an App gets right now: Marathon's rolling upgrade
// (DESIGN.md "Rollout"), written level-based so that one step can be computed again at any time.
//
//   minHealthy  = ceil(instances × minimumHealthCapacity)
//   maxCapacity = floor(instances × (1 + maximumOverCapacity)), one more when it equals minHealthy
//                 (otherwise nothing could move: no old task may go, no new one may start)
//
// One step: old revisions lose their tasks that are not healthy and ready (that lowers no healthy
// count), then healthy old tasks while the App keeps more than minHealthy healthy; the current
// revision grows while the App has fewer than maxCapacity live tasks. Each new task that becomes
// healthy and ready raises the healthy count, so the next step lets one more old task go.
//
// The counts come from Revision status, which the replicas controller writes from its cache, and lag
// behind: a step must be safe when they are stale. So
//   - healthy is counted as min(ready, spec.instances) per revision: tasks above a revision's target
//     are about to be killed (not-running and unhealthy ones first), so they count for nothing;
//   - live is counted as max(tasks, spec.instances) per revision: what exists or is about to;
//   - old revisions go down by at most the healthy surplus observed, and the current revision goes up
//     by at most maxCapacity − live, computed before this step's kills: a new task starts only once
//     the old task it replaces is seen gone.
//
// A resident App (persistent volumes) replaces its tasks in place: a new task can only take an
// instance slot, with its volumes, once the slot's old task is gone (the scheduler keeps it Pending
// until then). So, as Marathon's computeRestartStrategy does for resident apps, minHealthy is at most
// instances − 1 (an old task may always go first: with 1 instance at 0.5, ceil would ask for 1
// healthy and nothing could ever move) and maxCapacity gets no extra room for a surge.
import type { UpgradeStrategy } from '../../api/kinds/app.ts';

/** What the rollout reads of one Revision. */
export interface RevisionCounts {
  name: string;
  number: number;
  /** spec.instances: what the rollout last asked for. */
  instances: number;
  /** Live tasks (not terminal, not being deleted), as the replicas controller last counted them. */
  tasks: number;
  /** Tasks healthy and ready (ready implies healthy). */
  ready: number;
  /** Consecutive task failures not yet followed by a stable run (the replicas controller's backoff). */
  failures?: number;
}

export interface Bounds {
  minHealthy: number;
  maxCapacity: number;
}

// 20 × 1.15 is 22.999999999999996 in floating point: round what is within a hair of an integer.
const EPSILON = 1e-9;

export function bounds(instances: number, strategy: UpgradeStrategy, resident = false): Bounds {
  const minHealthy = Math.max(0, Math.ceil(instances * strategy.minimumHealthCapacity - EPSILON));
  const maxCapacity = Math.floor(instances * (1 + strategy.maximumOverCapacity) + EPSILON);
  if (resident) return { minHealthy: Math.min(minHealthy, Math.max(0, instances - 1)), maxCapacity };
  return { minHealthy, maxCapacity: instances > 0 && maxCapacity <= minHealthy ? minHealthy + 1 : maxCapacity };
}

/** Healthy and ready tasks that stay once the revision is at its target. */
export const available = (r: RevisionCounts) => Math.min(r.ready, r.instances);
/** Tasks that exist, or are about to. */
export const live = (r: RevisionCounts) => Math.max(r.tasks, r.instances);

export interface CountDecision {
  current: number;
  /** By revision name; every old revision given. */
  old: Record<string, number>;
}

export function decideCounts(input: {
  instances: number;
  strategy: UpgradeStrategy;
  current: RevisionCounts;
  /** Every other revision, in any order. */
  old: readonly RevisionCounts[];
  /** The App has persistent volumes (app.ts isResident): its tasks are replaced in place. */
  resident?: boolean;
}): CountDecision {
  const { instances, current } = input;
  const { minHealthy, maxCapacity } = bounds(instances, input.strategy, input.resident);
  const old = [...input.old].sort((a, b) => a.number - b.number);

  const healthy = available(current) + old.reduce((n, r) => n + available(r), 0);
  const liveNow = live(current) + old.reduce((n, r) => n + live(r), 0);

  // Old revisions: first what is not healthy and ready, then healthy tasks down to minHealthy,
  // oldest revision first.
  let surplus = Math.max(0, healthy - minHealthy);
  const targets: Record<string, number> = {};
  for (const revision of old) {
    const keep = available(revision);
    const kill = Math.min(surplus, keep);
    surplus -= kill;
    targets[revision.name] = keep - kill;
  }

  // The current revision: up to maxCapacity live, never beyond the App's instances.
  const room = Math.max(0, maxCapacity - liveNow);
  const next = current.instances > instances ? instances : Math.min(instances, current.instances + room);
  return { current: next, old: targets };
}
