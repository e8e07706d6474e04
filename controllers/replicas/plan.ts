// What the replicas controller should do for one Revision, computed from plain objects: how many
// tasks to create, which to kill (victims.ts), and the launch backoff. Ended tasks are the task gc's
// (controllers/task-gc): it keeps a bounded history per App.
import type { AppSpec } from '../../api/kinds/app.ts';
import type { RevisionBackoff } from '../../api/kinds/revision.ts';
import type { TaskPhase } from '../../api/kinds/task.ts';
import { isTerminal } from '../../api/kinds/task.ts';
import { chooseVictims } from './victims.ts';

export interface TaskFacts {
  name: string;
  uid: string;
  phase: TaskPhase;
  bound: boolean;
  healthy: boolean | undefined;
  /** The template has health checks: the task proves itself stable only once healthy. */
  healthChecked: boolean;
  deleting: boolean;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  /**
   * The value each of the App's GROUP_BY fields has on the task's node (undefined: the node lacks
   * it), resolved as the scheduler resolves it; only for bound tasks of an App with GROUP_BY.
   */
  groupValues?: Readonly<Record<string, string | undefined>>;
  /** A resident App's instance slot (its binding): a scale-down gives up the highest slots first. */
  slot?: number;
}

export type Backoff = RevisionBackoff;

export type BackoffSettings = Pick<AppSpec, 'backoffSeconds' | 'backoffFactor' | 'maxLaunchDelaySeconds' | 'killSelection'>;

export interface ReplicaPlan {
  create: number;
  kill: string[];
  backoff: Backoff;
  /** Tasks counted as failures in this plan, oldest first: what the controller reports. */
  failed: string[];
  /** A reset-delay stamp was honoured while a delay or failures were pending. */
  delayReset: boolean;
  /** When to look again (a launch delay running out), if nothing else brings us back. */
  recheckAfterMs?: number;
}

const COUNTED_KEPT = 20;
/**
 * A task launched after the latest failure that has run this long (and is healthy, when it has
 * health checks) proves the revision can start: the backoff resets (Marathon resets it too).
 */
export const STABLE_AFTER_MS = 10_000;

/** Marathon's launch delay after the n-th consecutive failure: backoffSeconds × factor^(n-1), capped. */
export function launchDelaySeconds(failures: number, settings: BackoffSettings): number {
  if (failures <= 0) return 0;
  return Math.min(settings.backoffSeconds * settings.backoffFactor ** (failures - 1), settings.maxLaunchDelaySeconds);
}

const countsAsFailure = (phase: TaskPhase) => phase === 'Failed' || phase === 'Finished';

export function planReplicas(input: {
  wanted: number;
  tasks: readonly TaskFacts[];
  backoff: Backoff | undefined;
  settings: BackoffSettings;
  now: Date;
  /** The App's LAUNCH_DELAY_RESET_ANNOTATION, if any. */
  resetStamp?: string;
  /** The fields of the App's GROUP_BY constraints: a scale-down keeps their spread even. */
  groupBy?: readonly string[];
}): ReplicaPlan {
  const { wanted, tasks, settings, now } = input;
  const { backoff, failed, delayReset } = nextBackoff({ previous: input.backoff ?? { failures: 0, counted: [] }, tasks, settings, now, resetStamp: input.resetStamp });
  const live = tasks.filter((t) => !t.deleting && !isTerminal(t.phase));

  let create = 0;
  let kill: string[] = [];
  let recheckAfterMs: number | undefined;
  if (live.length < wanted) {
    const wait = backoff.nextLaunchAt ? Date.parse(backoff.nextLaunchAt) - now.getTime() : 0;
    if (wait > 0) recheckAfterMs = wait;
    else create = wanted - live.length;
  } else if (live.length > wanted) {
    kill = chooseVictims({ live, count: live.length - wanted, selection: settings.killSelection, groupBy: input.groupBy ?? [] });
  }
  // A candidate still short of STABLE_AFTER_MS: look again when it gets there, to reset the backoff.
  const candidate = backoff.failures > 0 ? live.filter((t) => canProveStable(t, backoff)).map((t) => runningFor(t, now)).sort((a, b) => b - a)[0] : undefined;
  if (candidate !== undefined && candidate < STABLE_AFTER_MS) recheckAfterMs = Math.min(recheckAfterMs ?? Infinity, STABLE_AFTER_MS - candidate);
  return { create, kill, backoff, failed, delayReset, recheckAfterMs };
}

const runningFor = (task: TaskFacts, now: Date) => now.getTime() - Date.parse(task.startedAt!);

/** Running (healthy, when checked), and launched after the latest counted failure. */
function canProveStable(task: TaskFacts, backoff: Backoff): boolean {
  if (task.phase !== 'Running' || !task.startedAt || task.deleting) return false;
  if (task.healthChecked && task.healthy !== true) return false;
  return !backoff.lastFailureAt || Date.parse(task.createdAt) > Date.parse(backoff.lastFailureAt);
}

function nextBackoff(input: { previous: Backoff; tasks: readonly TaskFacts[]; settings: BackoffSettings; now: Date; resetStamp: string | undefined }) {
  const { previous, tasks, settings, now, resetStamp } = input;
  let { failures, nextLaunchAt, lastFailureAt } = previous;
  const counted = [...previous.counted];
  const newlyFailed = tasks
    .filter((t) => countsAsFailure(t.phase) && !counted.includes(t.uid))
    .sort((a, b) => (a.finishedAt ?? '').localeCompare(b.finishedAt ?? ''));
  for (const task of newlyFailed) {
    failures += 1;
    counted.push(task.uid);
    const from = task.finishedAt ? Date.parse(task.finishedAt) : now.getTime();
    lastFailureAt = new Date(from).toISOString();
    nextLaunchAt = new Date(from + launchDelaySeconds(failures, settings) * 1000).toISOString();
  }
  const provisional: Backoff = { failures, counted, ...(lastFailureAt ? { lastFailureAt } : {}) };
  const stable = tasks.some((t) => canProveStable(t, provisional) && runningFor(t, now) >= STABLE_AFTER_MS);
  // Failures counted in this same pass are newer than any stable run: they stand.
  if (stable && newlyFailed.length === 0) {
    failures = 0;
    nextLaunchAt = undefined;
  }
  // A reset stamp not honoured yet: the failures so far are counted (never again), the delay is gone.
  const resetRequested = resetStamp !== undefined && resetStamp !== previous.resetStamp;
  const delayReset = resetRequested && failures > 0;
  if (resetRequested) {
    failures = 0;
    nextLaunchAt = undefined;
  }
  const stamp = resetRequested ? resetStamp : previous.resetStamp;
  const backoff: Backoff = { failures, counted: counted.slice(-COUNTED_KEPT) };
  if (nextLaunchAt) backoff.nextLaunchAt = nextLaunchAt;
  if (failures > 0 && lastFailureAt) backoff.lastFailureAt = lastFailureAt;
  if (stamp) backoff.resetStamp = stamp;
  return { backoff, failed: newlyFailed.map((t) => t.name), delayReset };
}
