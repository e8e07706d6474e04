// What the replicas controller should do for one Revision, computed from plain objects: how many
// tasks to create, which to kill, which finished ones to forget, and the launch backoff.
import type { AppSpec } from '../../api/kinds/app.ts';
import type { TaskPhase } from '../../api/kinds/task.ts';
import { isTerminal } from '../../api/kinds/task.ts';

export interface TaskFacts {
  name: string;
  uid: string;
  phase: TaskPhase;
  bound: boolean;
  healthy: boolean | undefined;
  deleting: boolean;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
}

/** Kept in the Revision's status, so a restarted controller keeps counting where it was. */
export interface Backoff {
  /** Consecutive launches that ended Failed or Finished. */
  failures: number;
  /** No task is launched before this time. */
  nextLaunchAt?: string;
  /** Terminal tasks already counted (newest last, bounded), so none counts twice. */
  counted: string[];
}

export type BackoffSettings = Pick<AppSpec, 'backoffSeconds' | 'backoffFactor' | 'maxLaunchDelaySeconds' | 'killSelection'>;

export interface ReplicaPlan {
  create: number;
  kill: string[];
  /** Terminal tasks beyond the few kept for `get tasks` and `describe`. */
  forget: string[];
  backoff: Backoff;
  /** When to look again (a launch delay running out), if nothing else brings us back. */
  recheckAfterMs?: number;
}

/** Terminal tasks kept visible per revision. */
export const KEEP_TERMINAL = 3;
const COUNTED_KEPT = 20;
/** A task running this long proves the revision can start: the backoff resets (Marathon resets it too). */
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
}): ReplicaPlan {
  const { wanted, tasks, settings, now } = input;
  const backoff = nextBackoff(input.backoff ?? { failures: 0, counted: [] }, tasks, settings, now);
  const live = tasks.filter((t) => !t.deleting && !isTerminal(t.phase));

  let create = 0;
  let kill: string[] = [];
  let recheckAfterMs: number | undefined;
  if (live.length < wanted) {
    const wait = backoff.nextLaunchAt ? Date.parse(backoff.nextLaunchAt) - now.getTime() : 0;
    if (wait > 0) recheckAfterMs = wait;
    else create = wanted - live.length;
  } else if (live.length > wanted) {
    kill = chooseVictims(live, live.length - wanted, settings.killSelection);
  }
  const running = live.find((t) => t.phase === 'Running' && t.startedAt && now.getTime() - Date.parse(t.startedAt) < STABLE_AFTER_MS);
  if (running && backoff.failures > 0) {
    const stableIn = STABLE_AFTER_MS - (now.getTime() - Date.parse(running.startedAt!));
    recheckAfterMs = Math.min(recheckAfterMs ?? Infinity, stableIn);
  }
  return { create, kill, forget: oldTerminal(tasks), backoff, recheckAfterMs };
}

function nextBackoff(previous: Backoff, tasks: readonly TaskFacts[], settings: BackoffSettings, now: Date): Backoff {
  let { failures, nextLaunchAt } = previous;
  const counted = [...previous.counted];
  const newlyFailed = tasks
    .filter((t) => countsAsFailure(t.phase) && !counted.includes(t.uid))
    .sort((a, b) => (a.finishedAt ?? '').localeCompare(b.finishedAt ?? ''));
  for (const task of newlyFailed) {
    failures += 1;
    counted.push(task.uid);
    const from = task.finishedAt ? Date.parse(task.finishedAt) : now.getTime();
    nextLaunchAt = new Date(from + launchDelaySeconds(failures, settings) * 1000).toISOString();
  }
  const stable = tasks.some((t) => t.phase === 'Running' && t.startedAt && now.getTime() - Date.parse(t.startedAt) >= STABLE_AFTER_MS);
  if (stable && newlyFailed.length === 0) {
    failures = 0;
    nextLaunchAt = undefined;
  }
  const result: Backoff = { failures, counted: counted.slice(-COUNTED_KEPT) };
  if (nextLaunchAt) result.nextLaunchAt = nextLaunchAt;
  return result;
}

/**
 * Which live tasks go when there are too many: first those not placed yet, then those not yet
 * running, then unhealthy ones, then by killSelection (Marathon's YOUNGEST_FIRST by default).
 */
export function chooseVictims(live: readonly TaskFacts[], count: number, selection: BackoffSettings['killSelection']): string[] {
  const rank = (t: TaskFacts) => (!t.bound ? 0 : t.phase !== 'Running' ? 1 : t.healthy === false ? 2 : 3);
  const sorted = [...live].sort((a, b) => {
    const byRank = rank(a) - rank(b);
    if (byRank !== 0) return byRank;
    const byAge = a.createdAt.localeCompare(b.createdAt);
    const ordered = selection === 'YOUNGEST_FIRST' ? -byAge : byAge;
    return ordered !== 0 ? ordered : a.name.localeCompare(b.name);
  });
  return sorted.slice(0, count).map((t) => t.name);
}

function oldTerminal(tasks: readonly TaskFacts[]): string[] {
  const terminal = tasks
    .filter((t) => isTerminal(t.phase) && !t.deleting)
    .sort((a, b) => (b.finishedAt ?? b.createdAt).localeCompare(a.finishedAt ?? a.createdAt));
  return terminal.slice(KEEP_TERMINAL).map((t) => t.name);
}
