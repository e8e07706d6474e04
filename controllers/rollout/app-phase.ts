// An App's status in Marathon UI's words, from plain objects: one phase, a CamelCase reason, a
// sentence, and the current revision's launch delay. The first that applies wins:
//
//   Suspended  spec.instances is 0
//   Delayed    the current revision's launch delay after failures is running (Marathon's queue delay)
//   Waiting    dependencies not ready (while a rollout is held), or tasks the scheduler cannot place
//   Deploying  a rollout in progress, paused or stalled, or the current revision's tasks failing
//   Running    otherwise
import type { AppPhase, LaunchDelay, RolloutStatus, TaskFailure } from '../../api/kinds/app.ts';
import type { RevisionBackoff } from '../../api/kinds/revision.ts';
import { STABLE_AFTER_MS } from '../replicas/plan.ts';

export interface AppPhaseInput {
  now: Date;
  app: string;
  instances: number;
  running: number;
  healthy: number;
  rollout: RolloutStatus;
  /** Why dependencies hold the App, or null. */
  dependencies: string | null;
  /** The current revision: its number, backoff, newest failure, and tasks it cannot place. */
  current?: {
    number: number;
    backoff?: RevisionBackoff;
    lastTaskFailure?: TaskFailure;
    unschedulable?: { tasks: number; message: string };
  };
}

export interface AppPhaseView {
  phase: AppPhase;
  reason: string;
  message: string;
  launchDelay?: LaunchDelay;
  /** When the phase changes by itself (the delay running out). */
  recheckAfterMs?: number;
}

export const say = {
  suspended: 'spec.instances is 0',
  failure: (failure: TaskFailure | undefined) => (failure ? `; last: ${failure.task} ${failure.message}` : ''),
  delayed: (revision: number, failures: number, seconds: number, until: string, app: string) =>
    `revision ${revision}: ${failures} task failure(s) in a row; next launch in ${seconds} s (at ${until}); \`capstan app reset-delay ${app}\` launches now`,
  unschedulable: (tasks: number, message: string) => `${tasks} task(s) cannot be placed: ${message}`,
  failing: (revision: number, failures: number, stableSeconds: number) =>
    `revision ${revision}: ${failures} task failure(s) in a row; the next one must run ${stableSeconds} s to clear them`,
  running: (running: number, healthy: number, instances: number) => `${running} of ${instances} running, ${healthy} healthy`,
} as const;

export function appPhase(input: AppPhaseInput): AppPhaseView {
  const { now, current, rollout } = input;
  const launchDelay = launchDelayOf(current?.backoff);
  const failures = current?.backoff?.failures ?? 0;
  const last = say.failure(current?.lastTaskFailure);
  const withDelay = (view: AppPhaseView): AppPhaseView => (launchDelay ? { ...view, launchDelay } : view);

  if (input.instances === 0) return { phase: 'Suspended', reason: 'ScaledToZero', message: say.suspended };
  const leftMs = launchDelay ? Date.parse(launchDelay.until) - now.getTime() : 0;
  if (launchDelay && leftMs > 0) {
    const seconds = Math.ceil(leftMs / 1000);
    const message = say.delayed(current!.number, failures, seconds, launchDelay.until, input.app) + last;
    return { phase: 'Delayed', reason: 'BackOff', message, launchDelay, recheckAfterMs: leftMs + 10 };
  }
  const settled = rollout.phase === 'Complete' || (rollout.phase === 'RolledBack' && rollout.completedAt !== undefined);
  // Dependencies hold a rollout, not instances already running: a settled App whose dependency is
  // scaled or redeployed keeps serving, and says Running.
  if (input.dependencies !== null && !settled) return withDelay({ phase: 'Waiting', reason: 'DependenciesNotReady', message: input.dependencies });
  if (current?.unschedulable) {
    return withDelay({ phase: 'Waiting', reason: 'Unschedulable', message: say.unschedulable(current.unschedulable.tasks, current.unschedulable.message) });
  }
  if (rollout.phase === 'Waiting') return withDelay({ phase: 'Waiting', reason: 'NoRevision', message: rollout.message ?? '' });
  if (failures > 0) return withDelay({ phase: 'Deploying', reason: 'TasksFailing', message: say.failing(current!.number, failures, STABLE_AFTER_MS / 1000) + last });
  if (!settled) return { phase: 'Deploying', reason: deployingReason(rollout), message: rollout.message ?? '' };
  return { phase: 'Running', reason: 'InstancesRunning', message: say.running(input.running, input.healthy, input.instances) };
}

function deployingReason(rollout: RolloutStatus): string {
  if (rollout.phase === 'Paused') return 'RolloutPaused';
  if (rollout.phase === 'Failed') return 'ProgressDeadlineExceeded';
  if (rollout.phase === 'RolledBack') return 'RolledBack';
  return 'RolloutInProgress';
}

/** The delay after the latest failure and when it ends, while the revision's tasks keep failing. */
export function launchDelayOf(backoff: RevisionBackoff | undefined): LaunchDelay | undefined {
  if (!backoff || backoff.failures <= 0 || !backoff.nextLaunchAt) return undefined;
  const from = backoff.lastFailureAt ? Date.parse(backoff.lastFailureAt) : Date.parse(backoff.nextLaunchAt);
  const seconds = Math.round(Date.parse(backoff.nextLaunchAt) - from) / 1000;
  return { seconds, until: backoff.nextLaunchAt, failures: backoff.failures };
}
