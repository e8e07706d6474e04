// Where an App's rollout stands, from plain objects: its phase, the Progressing condition, when the
// progress deadline runs out, and whether it has run out so the App goes back to its stable revision.
//
// Progress means one more task of the current revision became healthy and ready while its tasks are
// not failing. The deadline clock (lastProgressAt) restarts with each of those, and whenever the
// rollout starts moving again after being complete, paused or waiting: time spent held does not
// count against it. A crash-looping revision makes no progress however often its tasks come up, so
// its deadline runs out and it is rolled back, as Kubernetes does with a Deployment whose pods crash.
//
// Complete means every instance healthy and ready on the current revision, nothing else left, no
// failure since a task last ran stably, and all of that held for `settleMs`. Without health or
// readiness checks a task counts healthy as soon as it runs (Marathon's rule), so a command that
// exits at once may be seen Running before it is seen Failed: those revisions settle for
// COMPLETE_AFTER_MS, by which time the failure has been reported, so a crash loop is never announced
// as complete. A checked task is healthy only after a check passed, which a task that exits at once
// never does: those complete without the hold (settleMs 0), so rollouts are not slower for it.
import type { RolloutStatus } from '../../api/kinds/app.ts';
import type { Condition } from '../../api/object.ts';
import type { RevisionCounts } from './counts.ts';

export type ProgressCondition = Omit<Condition, 'lastTransitionTime'>;

export interface ProgressInput {
  now: Date;
  /** The App's metadata.generation. */
  generation: number;
  instances: number;
  progressDeadlineSeconds: number;
  previous: Readonly<RolloutStatus> | undefined;
  /** The revision the App moves to, as observed (undefined before its first). */
  current: RevisionCounts | undefined;
  others: readonly RevisionCounts[];
  /** The newest fully healthy revision. */
  stable: number | undefined;
  paused: boolean;
  /** Why dependencies hold the App, or null when they do not. */
  waiting: string | null;
  /** The App's template has no revision yet (held): whatever runs, the rollout is not complete. */
  templatePending?: boolean;
  /** How long settled must hold before Complete (see the header); COMPLETE_AFTER_MS when not given. */
  settleMs?: number;
}

export interface Progress {
  rollout: RolloutStatus;
  condition: ProgressCondition;
  /** The deadline ran out: the App's template goes back to revision `to`. */
  rollback?: { to: number; from: number };
  /** When to look again if nothing else changes: the deadline. */
  recheckAfterMs?: number;
}

/** How long a rollout of unchecked tasks stays settled before it is Complete. */
export const COMPLETE_AFTER_MS = 2_000;

/** The hold before Complete for a template: none when a check must pass before a task counts healthy. */
export function settleMsFor(template: { healthChecks: readonly unknown[]; readinessChecks: readonly unknown[] }): number {
  return template.healthChecks.length > 0 || template.readinessChecks.length > 0 ? 0 : COMPLETE_AFTER_MS;
}

export const say = {
  progressing: (r: number, ready: number, instances: number, old: number) =>
    `revision ${r}: ${ready} of ${instances} healthy and ready, ${old} old task(s) left`,
  complete: (r: number, instances: number) => `revision ${r} has ${instances} of ${instances} instances healthy and ready`,
  failing: (failures: number) => `its tasks keep failing (${failures} in a row)`,
  settling: (r: number, instances: number) => `revision ${r} has ${instances} of ${instances} instances healthy and ready; complete once that holds ${COMPLETE_AFTER_MS / 1000} s`,
  paused: 'paused (annotation capstan.io/paused: "true"); `capstan rollout resume` continues',
  stalled: (r: number, seconds: number) => `revision ${r} made no progress for ${seconds} s (progressDeadlineSeconds)`,
  noStable: 'there is no fully healthy revision to roll back to; the rollout keeps trying',
  rolledBack: (from: number, to: number, seconds: number) =>
    `${say.stalled(from, seconds)}: rolled back to revision ${to}, its last fully healthy revision`,
} as const;

/** Every wanted instance of the revision healthy and ready, none failing, and nothing else left. */
export function isSettled(current: RevisionCounts, others: readonly RevisionCounts[], instances: number): boolean {
  const failing = (current.failures ?? 0) > 0;
  return !failing && current.instances === instances && current.ready >= instances && others.every((r) => r.instances === 0 && r.tasks === 0);
}

export function nextProgress(input: ProgressInput): Progress {
  const { now, previous, current, instances } = input;
  const stamp = now.toISOString();
  if (!current) {
    const message = input.waiting ?? 'no revision yet';
    return {
      rollout: { phase: 'Waiting', startedAt: previous?.startedAt ?? stamp, lastProgressAt: stamp, message },
      condition: { type: 'Progressing', status: 'Unknown', reason: 'WaitingForDependencies', message },
    };
  }
  const settled = !input.templatePending && isSettled(current, input.others, instances);
  const completedAt = settled ? (previous?.completedAt ?? stamp) : undefined;
  const old = input.others.reduce((n, r) => n + Math.max(r.tasks, r.instances), 0);

  // After a rollback the App stays "rolled back" (and says why) until its template changes again.
  if (previous?.phase === 'RolledBack' && previous.revision === current.number) {
    const rollout: RolloutStatus = { ...previous, ...(completedAt ? { completedAt } : {}) };
    if (!completedAt) delete rollout.completedAt;
    return { rollout, condition: { type: 'Progressing', status: 'False', reason: 'RolledBack', message: previous.message ?? '' } };
  }

  const fresh = previous?.revision !== current.number;
  const base: RolloutStatus = fresh
    ? { phase: 'Progressing', revision: current.number, startedAt: stamp, lastProgressAt: stamp, ready: current.ready }
    : { phase: previous!.phase, revision: current.number, startedAt: previous!.startedAt, lastProgressAt: previous!.lastProgressAt, ready: previous!.ready ?? 0 };

  // Moving again after being held or complete: the clock starts now.
  const resumed = !fresh && previous!.phase !== 'Progressing' && previous!.phase !== 'Failed';
  const failures = current.failures ?? 0;
  const advanced = current.ready > (base.ready ?? 0) && failures === 0;
  const lastProgressAt = resumed || advanced ? stamp : base.lastProgressAt;
  const ready = resumed || advanced ? current.ready : (base.ready ?? 0);

  const settlingMs = (input.settleMs ?? COMPLETE_AFTER_MS) - (now.getTime() - Date.parse(lastProgressAt));
  if (settled && (base.phase === 'Complete' || settlingMs <= 0)) {
    const message = say.complete(current.number, instances);
    return {
      rollout: { ...base, phase: 'Complete', ready: current.ready, completedAt: completedAt!, message },
      condition: { type: 'Progressing', status: 'True', reason: 'NewRevisionAvailable', message },
    };
  }
  if (settled) {
    const message = say.settling(current.number, instances);
    return {
      rollout: { ...base, phase: 'Progressing', lastProgressAt, ready, message },
      condition: { type: 'Progressing', status: 'True', reason: 'NewRevisionProgressing', message },
      recheckAfterMs: settlingMs + 10,
    };
  }
  if (input.paused || input.waiting) {
    const message = input.paused ? say.paused : input.waiting!;
    return {
      rollout: { ...base, phase: input.paused ? 'Paused' : 'Waiting', lastProgressAt: stamp, message },
      condition: { type: 'Progressing', status: 'Unknown', reason: input.paused ? 'RolloutPaused' : 'WaitingForDependencies', message },
    };
  }

  const deadlineMs = input.progressDeadlineSeconds * 1000;
  const remainingMs = Date.parse(lastProgressAt) + deadlineMs - now.getTime();

  if (remainingMs > 0) {
    const progressing = say.progressing(current.number, current.ready, instances, old);
    const message = failures > 0 ? `${progressing}; ${say.failing(failures)}` : progressing;
    return {
      rollout: { ...base, phase: 'Progressing', lastProgressAt, ready, message },
      condition: { type: 'Progressing', status: 'True', reason: 'NewRevisionProgressing', message },
      recheckAfterMs: remainingMs + 10,
    };
  }
  if (input.stable !== undefined && input.stable !== current.number) {
    const message = say.rolledBack(current.number, input.stable, input.progressDeadlineSeconds);
    return {
      rollout: { phase: 'RolledBack', revision: input.stable, from: current.number, generation: input.generation, startedAt: stamp, lastProgressAt: stamp, message },
      condition: { type: 'Progressing', status: 'False', reason: 'RolledBack', message },
      rollback: { to: input.stable, from: current.number },
    };
  }
  const message = `${say.stalled(current.number, input.progressDeadlineSeconds)}; ${say.noStable}`;
  return {
    rollout: { ...base, phase: 'Failed', lastProgressAt, ready, message },
    condition: { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message },
  };
}
