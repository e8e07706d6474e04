import { describe, expect, it } from 'vitest';
import { launchDelaySeconds, planReplicas, STABLE_AFTER_MS, type TaskFacts } from './plan.ts';
import { chooseVictims } from './victims.ts';

const settings = { backoffSeconds: 1, backoffFactor: 1.15, maxLaunchDelaySeconds: 300, killSelection: 'YOUNGEST_FIRST' as const };
const now = new Date('2026-01-01T00:01:00Z');
const at = (secondsBeforeNow: number) => new Date(now.getTime() - secondsBeforeNow * 1000).toISOString();

function task(name: string, extra: Partial<TaskFacts> = {}): TaskFacts {
  return { name, uid: `uid-${name}`, phase: 'Running', bound: true, healthy: undefined, healthChecked: false, deleting: false, createdAt: at(50), startedAt: at(40), ...extra };
}

describe('launch backoff, Marathon formula', () => {
  it.each([
    [0, 0],
    [1, 1],
    [2, 1.15],
    [3, 1.3225],
    [10, 1.15 ** 9],
    [100, 300],
  ])('after %i consecutive failures the delay is %d s', (failures, delay) => {
    expect(launchDelaySeconds(failures, settings)).toBeCloseTo(delay, 6);
  });
});

describe('planReplicas', () => {
  it.each<[string, number, TaskFacts[], { create: number; kill: string[] }]>([
    ['creates the missing tasks', 3, [task('a')], { create: 2, kill: [] }],
    ['does nothing at the count', 1, [task('a')], { create: 0, kill: [] }],
    ['does not count tasks being deleted', 1, [task('a', { deleting: true })], { create: 1, kill: [] }],
    ['does not count Lost tasks and replaces them without delay', 1, [task('a', { phase: 'Lost', finishedAt: at(1) })], { create: 1, kill: [] }],
    ['kills the youngest first', 1, [task('old', { createdAt: at(30) }), task('young', { createdAt: at(10) })], { create: 0, kill: ['young'] }],
    ['kills unplaced before running', 1, [task('pending', { bound: false, phase: 'Pending', createdAt: at(100) }), task('young', { createdAt: at(1) })], { create: 0, kill: ['pending'] }],
    ['kills unhealthy before healthy', 1, [task('sick', { healthy: false, createdAt: at(100) }), task('fine', { healthy: true, createdAt: at(1) })], { create: 0, kill: ['sick'] }],
  ])('%s', (_name, wanted, tasks, expected) => {
    const plan = planReplicas({ wanted, tasks, backoff: undefined, settings, now });
    expect({ create: plan.create, kill: plan.kill }).toEqual(expected);
  });

  it('OLDEST_FIRST kills the oldest', () => {
    expect(chooseVictims({ live: [task('old', { createdAt: at(30) }), task('young', { createdAt: at(10) })], count: 1, selection: 'OLDEST_FIRST', groupBy: [] })).toEqual(['old']);
  });

  it('delays the replacement of a failed task by the backoff, counting each failure once', () => {
    const failed = task('f1', { phase: 'Failed', finishedAt: at(0.5) });
    const first = planReplicas({ wanted: 1, tasks: [failed], backoff: undefined, settings, now });
    expect(first.backoff.failures).toBe(1);
    expect(first.create).toBe(0);
    expect(first.recheckAfterMs).toBeCloseTo(500, -1);
    // Seen again: not counted again.
    const again = planReplicas({ wanted: 1, tasks: [failed], backoff: first.backoff, settings, now });
    expect(again.backoff.failures).toBe(1);
    // After the delay the replacement is created.
    const later = new Date(now.getTime() + 600);
    expect(planReplicas({ wanted: 1, tasks: [failed], backoff: first.backoff, settings, now: later }).create).toBe(1);
    // A second failure waits backoffSeconds × factor.
    const second = task('f2', { phase: 'Failed', finishedAt: now.toISOString() });
    const plan = planReplicas({ wanted: 1, tasks: [failed, second], backoff: first.backoff, settings, now });
    expect(plan.backoff.failures).toBe(2);
    expect(plan.recheckAfterMs).toBeCloseTo(1150, -1);
  });

  it('counts a task failed by its health checks toward the backoff, like a crash', () => {
    // The health controller (and the agent, for COMMAND checks) fail such a task instead of deleting
    // it, so it stays in the cache until counted here.
    const killed = task('sick', { phase: 'Failed', healthy: false, finishedAt: at(0.2) });
    const plan = planReplicas({ wanted: 1, tasks: [killed], backoff: { failures: 1, counted: ['earlier'] }, settings, now });
    expect(plan.backoff.failures).toBe(2);
    expect(plan.create).toBe(0);
    expect(plan.recheckAfterMs).toBeCloseTo(1150 - 200, -1);
  });

  it('resets the backoff once a task has run for a while', () => {
    const backoff = { failures: 4, nextLaunchAt: at(-10), counted: ['x'] };
    const stable = task('s', { startedAt: new Date(now.getTime() - STABLE_AFTER_MS - 1).toISOString() });
    expect(planReplicas({ wanted: 1, tasks: [stable], backoff, settings, now }).backoff).toEqual({ failures: 0, counted: ['x'] });
  });

  const stableFor = (ms: number) => new Date(now.getTime() - ms).toISOString();
  // The latest counted failure ended 20 s ago.
  const failing = { failures: 3, nextLaunchAt: at(15), lastFailureAt: at(20), counted: ['uid-f'] };
  it.each<[string, TaskFacts, number]>([
    ['a sibling launched before the latest failure, running for minutes, resets nothing', task('sibling', { createdAt: at(300), startedAt: at(299) }), 3],
    ['a replacement launched after it, running past STABLE_AFTER_MS, resets the count', task('next', { createdAt: at(12), startedAt: stableFor(STABLE_AFTER_MS + 1) }), 0],
    ['a replacement running, not yet for STABLE_AFTER_MS, does not', task('next', { createdAt: at(5), startedAt: at(4) }), 3],
    ['a replacement with health checks, running long enough but not healthy, does not', task('next', { createdAt: at(12), startedAt: stableFor(STABLE_AFTER_MS + 1), healthChecked: true }), 3],
    ['a replacement with health checks, healthy, does', task('next', { createdAt: at(12), startedAt: stableFor(STABLE_AFTER_MS + 1), healthChecked: true, healthy: true }), 0],
  ])('%s', (_name, candidate, failures) => {
    const plan = planReplicas({ wanted: 2, tasks: [candidate, task('f', { phase: 'Failed', finishedAt: at(20) })], backoff: failing, settings, now });
    expect(plan.backoff.failures).toBe(failures);
  });

  it('looks again when a replacement reaches STABLE_AFTER_MS', () => {
    const plan = planReplicas({ wanted: 1, tasks: [task('next', { createdAt: at(5), startedAt: at(4) })], backoff: failing, settings, now });
    expect(plan.recheckAfterMs).toBeCloseTo(STABLE_AFTER_MS - 4000, -1);
  });

  it('a new reset stamp clears the delay once: the replacement is created now, the failures stay counted', () => {
    const failed = task('f', { phase: 'Failed', finishedAt: at(0.1) });
    const delayed = planReplicas({ wanted: 1, tasks: [failed], backoff: { ...failing, counted: [] }, settings, now });
    expect(delayed).toMatchObject({ create: 0, failed: ['f'], delayReset: false, backoff: { failures: 4 } });
    const reset = planReplicas({ wanted: 1, tasks: [failed], backoff: delayed.backoff, settings, now, resetStamp: 'stamp-1' });
    expect(reset).toMatchObject({ create: 1, failed: [], delayReset: true, backoff: { failures: 0, resetStamp: 'stamp-1', counted: ['uid-f'] } });
    expect(reset.backoff.nextLaunchAt).toBeUndefined();
    // The same stamp again is not a new request: a later failure is delayed as usual.
    const again = task('g', { uid: 'uid-g', phase: 'Failed', finishedAt: now.toISOString() });
    const later = planReplicas({ wanted: 1, tasks: [failed, again], backoff: reset.backoff, settings, now, resetStamp: 'stamp-1' });
    expect(later).toMatchObject({ create: 0, failed: ['g'], delayReset: false, backoff: { failures: 1 } });
  });
});
