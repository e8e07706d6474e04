// Probe results folded into Marathon's health state, and that state into a Task's status. Pure: the
// health controller (HTTP, HTTPS, TCP) and the node agent (COMMAND) both use it, each owning the
// results of its own checks and merging them into the status as stored.
//
// Marathon's rules: a check is alive after a success and not alive after a failure; failures inside
// gracePeriodSeconds after the task started are ignored until the first success; a task whose check
// fails maxConsecutiveFailures times in a row is killed (0: never). Readiness: ready when the last
// response's status is one of httpStatusCodesForReady.
//
// Only transitions are written (alive flips, first result, a kill): a probe that repeats the last
// verdict changes nothing in the store, so 1,000 probes a second of steady tasks write nothing.
import type { HealthCheck, ReadinessCheck } from '../../api/kinds/app.ts';
import type { HealthResult, TaskStatus } from '../../api/kinds/task.ts';
import { deepEqual } from '../../api/merge.ts';
import { setCondition, type Condition, type DeepReadonly } from '../../api/object.ts';

export type ProbeOutcome =
  /** `detail`: what was seen, for the condition message ("HTTP 200", "connected", "exit 0"). */
  | { ok: true; detail: string }
  | { ok: false; cause: string };

export type HealthChange = 'none' | 'alive' | 'dead' | 'kill';

export interface HealthFoldOptions {
  at: Date;
  /** When the task started running; the grace period counts from here. */
  startedAt?: string;
  check: Pick<HealthCheck, 'gracePeriodSeconds' | 'maxConsecutiveFailures'>;
}

export const HEALTHY = 'Healthy';
export const READY = 'Ready';

export const reasons = {
  passing: 'HealthChecksPassing',
  failing: 'HealthCheckFailing',
  waiting: 'WaitingForHealthChecks',
  killed: 'KilledUnhealthy',
  ready: 'ReadinessChecksPassing',
  notReady: 'ReadinessCheckFailing',
} as const;

export const messages = {
  killed: (failures: number, check: string, cause: string) => `killed after ${failures} consecutive failed health checks (${check}: ${cause})`,
  passing: (count: number, last: string) => (count === 1 ? `health check passes: ${last}` : `all ${count} health checks pass; last: ${last}`),
  failing: (check: string, cause: string, failures: number) => `${check} fails: ${cause} (${failures} consecutive)`,
  waiting: (check: string) => `waiting for the first result of ${check}`,
  ready: (count: number, last: string) => (count === 1 ? `readiness check passes: ${last}` : `all ${count} readiness checks pass; last: ${last}`),
  notReady: (check: string, response: string) => `${check} not ready: ${response}`,
  timedOut: (ms: number) => `timed out after ${ms} ms`,
};

/** A short name for a check in messages: `check 0 (HTTP /health)`. */
export function describeCheck(check: DeepReadonly<HealthCheck>, index: number): string {
  switch (check.protocol) {
    case 'HTTP':
    case 'HTTPS':
      return `check ${index} (${check.protocol} ${check.path})`;
    case 'TCP':
      return `check ${index} (TCP)`;
    case 'COMMAND':
      return `check ${index} (COMMAND ${check.command})`;
  }
}

export const describeReadiness = (check: DeepReadonly<ReadinessCheck>) => `readiness check ${check.name} (${check.protocol} ${check.path})`;

/** The state a check starts from: what the store holds (a restarted prober resumes), else nothing yet. */
export function initialHealth(status: DeepReadonly<TaskStatus> | undefined, index: number): HealthResult {
  const stored = status?.healthResults?.find((r) => r.index === index);
  return stored ? { ...stored } : { index, alive: false, consecutiveFailures: 0 };
}

const known = (state: HealthResult) => state.firstSuccess !== undefined || state.lastFailure !== undefined;

/** One probe outcome folded into a check's state, and what changed. */
export function foldHealth(state: HealthResult, outcome: ProbeOutcome, options: HealthFoldOptions): { state: HealthResult; change: HealthChange } {
  const at = options.at.toISOString();
  if (outcome.ok) {
    const next: HealthResult = { ...state, alive: true, consecutiveFailures: 0, firstSuccess: state.firstSuccess ?? at, lastSuccess: at };
    return { state: next, change: known(state) && state.alive ? 'none' : 'alive' };
  }
  const graceEnds = options.startedAt ? Date.parse(options.startedAt) + options.check.gracePeriodSeconds * 1000 : 0;
  if (state.firstSuccess === undefined && options.at.getTime() < graceEnds) return { state, change: 'none' };
  const next: HealthResult = { ...state, alive: false, consecutiveFailures: state.consecutiveFailures + 1, lastFailure: at, lastFailureCause: outcome.cause };
  const max = options.check.maxConsecutiveFailures;
  if (max > 0 && next.consecutiveFailures >= max) return { state: next, change: 'kill' };
  return { state: next, change: known(state) && !state.alive ? 'none' : 'dead' };
}

export interface ReadinessState {
  ready: boolean;
  /** The last response, for the condition message ("HTTP 503"). */
  lastResponse: string;
}

/** One readiness outcome; changed when there was no result yet or the verdict flipped. */
export function foldReadiness(state: ReadinessState | undefined, ready: boolean, response: string): { state: ReadinessState; changed: boolean } {
  return { state: { ready, lastResponse: response }, changed: state?.ready !== ready };
}

export interface HealthUpdate {
  /** The writer's own checks' states by index (the agent: COMMAND checks; the controller: the others). */
  health: ReadonlyMap<number, HealthResult>;
  /** Readiness states by index; only the health controller runs readiness checks. */
  readiness?: ReadonlyMap<number, ReadinessState>;
  /** Set when a check crossed maxConsecutiveFailures: the task is to be failed. */
  kill?: { index: number };
  /** The probe that caused this write, for the condition message ("HTTP 200"). */
  last?: { index: number; detail: string };
}

/**
 * The status after merging `update` into the stored one, or undefined when there is nothing to write
 * (no change, or the task is not Running: a finished task's status is final, a starting one has not
 * been probed).
 */
export function nextTaskHealth(input: {
  status: DeepReadonly<TaskStatus> | undefined;
  checks: DeepReadonly<{ healthChecks: HealthCheck[]; readinessChecks: ReadinessCheck[] }>;
  update: HealthUpdate;
  now: Date;
}): TaskStatus | undefined {
  const { status, checks, update, now } = input;
  if (status?.phase !== 'Running') return undefined;
  const current = structuredClone(status) as TaskStatus;
  const merged = new Map((current.healthResults ?? []).map((r) => [r.index, r]));
  // A check with no counted result yet is not written: it would only say "nothing known".
  for (const [index, result] of update.health) if (known(result)) merged.set(index, { ...result, index });
  const healthResults = [...merged.values()].filter((r) => r.index < checks.healthChecks.length).sort((a, b) => a.index - b.index);

  let conditions = current.conditions;
  const healthy = healthyCondition(healthResults, checks.healthChecks, update.last);
  if (healthy) conditions = setCondition(conditions, healthy, now);
  const ready = update.readiness ? readyCondition(update.readiness, checks.readinessChecks) : undefined;
  if (ready) conditions = setCondition(conditions, ready, now);

  const next: TaskStatus = { ...current, healthResults };
  if (conditions) next.conditions = conditions;
  if (update.kill) {
    const result = merged.get(update.kill.index);
    const check = checks.healthChecks[update.kill.index];
    if (result && check) {
      const message = messages.killed(result.consecutiveFailures, describeCheck(check, update.kill.index), result.lastFailureCause ?? 'failed');
      next.phase = 'Failed';
      next.message = message;
      next.finishedAt = now.toISOString();
      next.conditions = setCondition(next.conditions, { type: HEALTHY, status: 'False', reason: reasons.killed, message }, now);
    }
  }
  return deepEqual(next, current) ? undefined : next;
}

type ConditionDraft = Omit<Condition, 'lastTransitionTime'>;

function healthyCondition(
  results: readonly HealthResult[],
  checks: DeepReadonly<HealthCheck[]>,
  last: HealthUpdate['last'],
): ConditionDraft | undefined {
  if (checks.length === 0) return undefined;
  const byIndex = new Map(results.filter(known).map((r) => [r.index, r]));
  const failing = [...byIndex.values()].find((r) => !r.alive);
  if (failing) {
    const message = messages.failing(describeCheck(checks[failing.index]!, failing.index), failing.lastFailureCause ?? 'failed', failing.consecutiveFailures);
    return { type: HEALTHY, status: 'False', reason: reasons.failing, message };
  }
  const missing = checks.findIndex((_, index) => !byIndex.has(index));
  if (missing >= 0) return { type: HEALTHY, status: 'Unknown', reason: reasons.waiting, message: messages.waiting(describeCheck(checks[missing]!, missing)) };
  const index = last?.index ?? 0;
  const result = `${describeCheck(checks[index]!, index)}${last ? `: ${last.detail}` : ''}`;
  return { type: HEALTHY, status: 'True', reason: reasons.passing, message: messages.passing(checks.length, result) };
}

function readyCondition(states: ReadonlyMap<number, ReadinessState>, checks: DeepReadonly<ReadinessCheck[]>): ConditionDraft | undefined {
  if (checks.length === 0 || states.size === 0) return undefined;
  const notReady = [...states.entries()].find(([, s]) => !s.ready);
  if (notReady) {
    const [index, state] = notReady;
    return { type: READY, status: 'False', reason: reasons.notReady, message: messages.notReady(describeReadiness(checks[index]!), state.lastResponse) };
  }
  if (states.size < checks.length) return undefined;
  const [index, state] = [...states.entries()].at(-1)!;
  return { type: READY, status: 'True', reason: reasons.ready, message: messages.ready(checks.length, `${describeReadiness(checks[index]!)}: ${state.lastResponse}`) };
}
