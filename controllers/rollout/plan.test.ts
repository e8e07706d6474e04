import { describe, expect, it } from 'vitest';
import { appSpecSchema, templateOf, type AppSpec, type UpgradeStrategy } from '../../api/kinds/app.ts';
import { bounds, decideCounts, type RevisionCounts } from './counts.ts';
import { dependencyState } from './dependencies.ts';
import { planRollout, type RevisionFacts } from './plan.ts';
import { COMPLETE_AFTER_MS, nextProgress, say, settleMsFor, type ProgressInput } from './progress.ts';

const strategy = (minimumHealthCapacity: number, maximumOverCapacity: number): UpgradeStrategy => ({ minimumHealthCapacity, maximumOverCapacity });
const rev = (number: number, instances: number, tasks: number, ready: number): RevisionCounts => ({ name: `web-${number}`, number, instances, tasks, ready });

describe('bounds: minHealthy and maxCapacity', () => {
  it.each<[number, number, number, number, number]>([
    // instances, minimumHealthCapacity, maximumOverCapacity, minHealthy, maxCapacity
    [20, 0.85, 0.15, 17, 23], // 20 × 1.15 is 22.999… in floating point
    [4, 1, 1, 4, 8],
    [4, 0.5, 0, 2, 4],
    [4, 1, 0, 4, 5], // equal: one temporary extra, or nothing could move
    [100, 0.9, 0.1, 90, 110],
    [3, 0.5, 0.5, 2, 4],
    [0, 1, 0, 0, 0],
  ])('%i instances at %d / %d: minHealthy %i, maxCapacity %i', (instances, min, over, minHealthy, maxCapacity) => {
    expect(bounds(instances, strategy(min, over))).toEqual({ minHealthy, maxCapacity });
  });

  it.each<[number, number, number, number, number]>([
    // A resident App: an old task may always go first (minHealthy ≤ instances − 1), no extra room.
    [1, 0.5, 0, 0, 1], // ceil(0.5) would ask for 1 healthy of 1: nothing could move
    [2, 0.5, 0, 1, 2],
    [3, 0.5, 0, 2, 3],
    [20, 0.5, 0, 10, 20],
    [4, 1, 0, 3, 4], // Marathon's resident rule: one below minHealthy rather than one above capacity
    [0, 0.5, 0, 0, 0],
  ])('resident: %i instances at %d / %d: minHealthy %i, maxCapacity %i', (instances, min, over, minHealthy, maxCapacity) => {
    expect(bounds(instances, strategy(min, over), true)).toEqual({ minHealthy, maxCapacity });
  });
});

describe('decideCounts: one step of the rolling upgrade', () => {
  it.each<[string, number, UpgradeStrategy, RevisionCounts, RevisionCounts[], { current: number; old: Record<string, number> }]>([
    ['1.0 / 1.0 starts every new instance first and keeps every old one', 4, strategy(1, 1), rev(2, 0, 0, 0), [rev(1, 4, 4, 4)], { current: 4, old: { 'web-1': 4 } }],
    ['1.0 / 1.0 lets one old task go per new one healthy and ready', 4, strategy(1, 1), rev(2, 4, 4, 1), [rev(1, 4, 4, 4)], { current: 4, old: { 'web-1': 3 } }],
    ['0.5 / 0 kills two old tasks first and starts none', 4, strategy(0.5, 0), rev(2, 0, 0, 0), [rev(1, 4, 4, 4)], { current: 0, old: { 'web-1': 2 } }],
    ['0.5 / 0 starts new ones only once the old are seen gone', 4, strategy(0.5, 0), rev(2, 0, 0, 0), [rev(1, 2, 2, 2)], { current: 2, old: { 'web-1': 2 } }],
    ['0.5 / 0 with stale counts (kills not seen yet) starts nothing', 4, strategy(0.5, 0), rev(2, 0, 0, 0), [rev(1, 2, 4, 4)], { current: 0, old: { 'web-1': 2 } }],
    ['0.85 / 0.15 on 20: three go, three start', 20, strategy(0.85, 0.15), rev(2, 0, 0, 0), [rev(1, 20, 20, 20)], { current: 3, old: { 'web-1': 17 } }],
    ['stale ready counts above the target count for nothing', 20, strategy(0.85, 0.15), rev(2, 3, 3, 0), [rev(1, 17, 20, 20)], { current: 3, old: { 'web-1': 17 } }],
    ['unhealthy old tasks go first, without lowering the healthy count', 4, strategy(1, 0), rev(2, 0, 0, 0), [rev(1, 4, 4, 2)], { current: 1, old: { 'web-1': 2 } }],
    ['1.0 / 0 allows one temporary extra', 4, strategy(1, 0), rev(2, 0, 0, 0), [rev(1, 4, 4, 4)], { current: 1, old: { 'web-1': 4 } }],
    ['several old revisions: the oldest goes first', 4, strategy(0.5, 0.5), rev(3, 0, 0, 0), [rev(2, 2, 2, 2), rev(1, 2, 2, 2)], { current: 2, old: { 'web-1': 0, 'web-2': 2 } }],
    ['a scale-down of the current revision is immediate', 2, strategy(1, 1), rev(2, 5, 5, 5), [], { current: 2, old: {} }],
    ['a scale-up with no rollout is immediate', 5, strategy(1, 0), rev(2, 2, 2, 2), [], { current: 5, old: {} }],
    ['done: the old revision is scaled to zero', 4, strategy(1, 1), rev(2, 4, 4, 4), [rev(1, 1, 1, 1)], { current: 4, old: { 'web-1': 0 } }],
  ])('%s', (_name, instances, upgrade, current, old, expected) => {
    expect(decideCounts({ instances, strategy: upgrade, current, old })).toEqual(expected);
  });

  it.each<[string, number, UpgradeStrategy, RevisionCounts, RevisionCounts[], { current: number; old: Record<string, number> }]>([
    ['resident, 1 instance at 0.5 / 0: the old task goes first, none starts', 1, strategy(0.5, 0), rev(2, 0, 0, 0), [rev(1, 1, 1, 1)], { current: 0, old: { 'web-1': 0 } }],
    ['resident, 1 instance: the new one starts once the old is seen gone', 1, strategy(0.5, 0), rev(2, 0, 0, 0), [rev(1, 0, 0, 0)], { current: 1, old: { 'web-1': 0 } }],
    ['resident, 4 at 1 / 0: one old task goes first, none starts beside it', 4, strategy(1, 0), rev(2, 0, 0, 0), [rev(1, 4, 4, 4)], { current: 0, old: { 'web-1': 3 } }],
  ])('%s', (_name, instances, upgrade, current, old, expected) => {
    expect(decideCounts({ instances, strategy: upgrade, current, old, resident: true })).toEqual(expected);
  });
});

/**
 * A small world: the plan sets targets, "replicas" makes them true (creates first — the worst order
 * for capacity — then kills the not-ready first), some new tasks turn ready, and the plan sees the
 * Revision status of the previous step when `lag` is set. The invariants hold at every intermediate
 * state.
 */
function simulate(options: { instances: number; strategy: UpgradeStrategy; lag: boolean; readyPerStep: number; resident?: boolean }) {
  const { instances } = options;
  const { minHealthy, maxCapacity } = bounds(instances, options.strategy, options.resident);
  type Task = { revision: 1 | 2; ready: boolean };
  let tasks: Task[] = Array.from({ length: instances }, () => ({ revision: 1, ready: true }));
  const targets = { 1: instances, 2: 0 };
  const snapshot = () => {
    const of = (r: 1 | 2) => tasks.filter((t) => t.revision === r);
    return { 1: { tasks: of(1).length, ready: of(1).filter((t) => t.ready).length }, 2: { tasks: of(2).length, ready: of(2).filter((t) => t.ready).length } };
  };
  let seen = snapshot();
  let minReady = Infinity;
  let maxLive = 0;
  const observe = () => {
    minReady = Math.min(minReady, tasks.filter((t) => t.ready).length);
    maxLive = Math.max(maxLive, tasks.length);
  };
  let steps = 0;
  for (; steps < 500; steps += 1) {
    const status = options.lag ? seen : snapshot();
    seen = snapshot();
    const decision = decideCounts({
      instances,
      strategy: options.strategy,
      current: { name: 'r2', number: 2, instances: targets[2], ...status[2] },
      old: [{ name: 'r1', number: 1, instances: targets[1], ...status[1] }],
      resident: options.resident,
    });
    targets[2] = decision.current;
    targets[1] = decision.old['r1']!;
    for (const r of [2, 1] as const) {
      const mine = tasks.filter((t) => t.revision === r);
      for (let i = mine.length; i < targets[r]; i += 1) tasks.push({ revision: r, ready: false });
      observe();
      const excess = mine.length - targets[r];
      if (excess > 0) {
        const victims = [...mine].sort((a, b) => Number(a.ready) - Number(b.ready)).slice(0, excess);
        tasks = tasks.filter((t) => !victims.includes(t));
        observe();
      }
    }
    let turned = 0;
    // A resident App has `instances` slots, held in the order tasks came: a new task beyond them
    // waits (the scheduler keeps it Pending) until an old one is gone.
    for (const [index, task] of tasks.entries()) {
      if (options.resident && index >= instances) break;
      if (task.revision === 2 && !task.ready && turned < options.readyPerStep) (task.ready = true), (turned += 1);
    }
    observe();
    const done = tasks.length === instances && tasks.every((t) => t.revision === 2 && t.ready);
    if (done) break;
  }
  return { minHealthy, maxCapacity, minReady, maxLive, steps, done: tasks.every((t) => t.revision === 2 && t.ready) && tasks.length === instances };
}

describe('the rolling upgrade over simulated steps keeps its invariants', () => {
  it.each([
    [20, 0.85, 0.15, false, 1],
    [20, 0.85, 0.15, true, 1],
    [20, 0.85, 0.15, true, 3],
    [4, 1, 1, true, 1],
    [4, 0.5, 0, true, 1],
    [4, 1, 0, true, 1],
    [4, 0, 0, true, 2],
    [100, 0.9, 0.1, true, 5],
    [7, 0.6, 0.3, true, 2],
    [1, 1, 0, true, 1],
  ])('%i instances at %d / %d (stale status: %s, %i ready per step)', (instances, min, over, lag, readyPerStep) => {
    const result = simulate({ instances, strategy: strategy(min, over), lag, readyPerStep });
    expect(result.done).toBe(true);
    expect(result.minReady).toBeGreaterThanOrEqual(result.minHealthy);
    expect(result.maxLive).toBeLessThanOrEqual(result.maxCapacity);
  });

  it.each([
    [1, 0.5, 0, true, 1],
    [2, 0.5, 0, true, 1],
    [3, 0.5, 0, false, 1],
    [20, 0.5, 0, true, 3],
    [4, 1, 0, true, 1],
    [4, 0, 0, true, 2],
  ])('resident: %i instances at %d / %d (stale status: %s, %i ready per step) finishes, in place', (instances, min, over, lag, readyPerStep) => {
    const result = simulate({ instances, strategy: strategy(min, over), lag, readyPerStep, resident: true });
    expect(result.done).toBe(true);
    expect(result.minReady).toBeGreaterThanOrEqual(result.minHealthy);
    expect(result.maxLive).toBeLessThanOrEqual(result.maxCapacity);
  });
});

const spec = (extra: Partial<AppSpec> = {}): AppSpec =>
  ({ ...appSpecSchema.parse({ driver: 'process', containers: [{ cmd: 'sleep 1' }], instances: 4 }), ...extra }) as AppSpec;
const facts = (number: number, template: AppSpec, counts: Partial<RevisionFacts> = {}): RevisionFacts => ({
  name: `web-${number}`,
  number,
  template: templateOf(template),
  restartedAt: '',
  instances: 4,
  tasks: 4,
  ready: 4,
  running: 4,
  healthy: 4,
  ...counts,
});

describe('planRollout: which revision is current', () => {
  const v1 = spec();
  const v2 = spec({ containers: [{ ...v1.containers[0]!, cmd: 'sleep 2' }] });

  it('makes the first revision with every instance', () => {
    expect(planRollout({ spec: v1, restartedAt: '', revisions: [], hold: false }).create).toMatchObject({ number: 1, instances: 4 });
  });
  it('makes a new revision for a new template, and only as many instances as the strategy allows', () => {
    const plan = planRollout({ spec: spec({ ...v2, upgradeStrategy: strategy(0.5, 0) }), restartedAt: '', revisions: [facts(1, v1)], hold: false });
    expect(plan.create).toMatchObject({ number: 2, instances: 0 });
    expect(plan.scale).toEqual([{ name: 'web-1', instances: 2 }]);
  });
  it('a new restart stamp is a new revision with the same template', () => {
    expect(planRollout({ spec: v1, restartedAt: '2026-01-01T00:00:00Z', revisions: [facts(1, v1)], hold: false }).create?.number).toBe(2);
  });
  it('an old template again makes its old revision current (rollback reuses its tasks)', () => {
    const plan = planRollout({ spec: v1, restartedAt: '', revisions: [facts(1, v1, { instances: 1, tasks: 1, ready: 1 }), facts(2, v2, { ready: 0 })], hold: false });
    expect(plan.create).toBeUndefined();
    expect(plan.current).toBe(1);
    expect(plan.scale).toEqual([{ name: 'web-1', instances: 4 }, { name: 'web-2', instances: 0 }]);
  });
  it('held (paused, dependencies) creates nothing and moves nothing', () => {
    expect(planRollout({ spec: v2, restartedAt: '', revisions: [facts(1, v1)], hold: true })).toEqual({ scale: [], forget: [], current: 1 });
    expect(planRollout({ spec: v1, restartedAt: '', revisions: [], hold: true })).toEqual({ scale: [], forget: [], current: undefined });
  });
  it('held, a change of instances alone still scales', () => {
    expect(planRollout({ spec: spec({ instances: 6 }), restartedAt: '', revisions: [facts(1, v1)], hold: true }).scale).toEqual([{ name: 'web-1', instances: 6 }]);
  });
  it('forgets revisions past the history limit, never the stable one', () => {
    const idle = { instances: 0, tasks: 0, ready: 0 };
    const revisions = [facts(1, v2, idle), facts(2, v2, idle), facts(3, v2, idle), facts(4, v1)];
    expect(planRollout({ spec: spec({ revisionHistoryLimit: 2 }), restartedAt: '', revisions, hold: false, stableRevision: 1 }).forget).toEqual(['web-2']);
  });
});

describe('nextProgress: phase, deadline and rollback', () => {
  const t0 = new Date('2026-01-01T00:00:00Z');
  const at = (s: number) => new Date(t0.getTime() + s * 1000);
  const base = (extra: Partial<ProgressInput>): ProgressInput => ({
    now: t0,
    generation: 3,
    instances: 4,
    progressDeadlineSeconds: 30,
    previous: undefined,
    current: rev(2, 4, 4, 0),
    others: [rev(1, 4, 4, 4)],
    stable: 1,
    paused: false,
    waiting: null,
    ...extra,
  });

  it('starts a rollout and wakes at the deadline', () => {
    const p = nextProgress(base({}));
    expect(p.rollout).toMatchObject({ phase: 'Progressing', revision: 2, lastProgressAt: t0.toISOString() });
    expect(p.recheckAfterMs).toBe(30_010);
  });
  it('a new task healthy and ready is progress: the clock restarts', () => {
    const first = nextProgress(base({})).rollout;
    const p = nextProgress(base({ now: at(20), previous: first, current: rev(2, 4, 4, 1) }));
    expect(p.rollout.lastProgressAt).toBe(at(20).toISOString());
  });
  it('no progress for progressDeadlineSeconds rolls back to the stable revision, saying why', () => {
    const first = nextProgress(base({})).rollout;
    const p = nextProgress(base({ now: at(31), previous: first }));
    expect(p.rollback).toEqual({ to: 1, from: 2 });
    expect(p.rollout).toMatchObject({ phase: 'RolledBack', revision: 1, from: 2, generation: 3 });
    expect(p.condition).toMatchObject({ status: 'False', reason: 'RolledBack' });
    expect(p.condition.message).toContain('revision 2 made no progress for 30 s');
  });
  it('with no stable revision the rollout is Failed (ProgressDeadlineExceeded) and keeps trying', () => {
    const first = nextProgress(base({ stable: undefined })).rollout;
    const p = nextProgress(base({ now: at(31), previous: first, stable: undefined }));
    expect(p.rollback).toBeUndefined();
    expect(p.condition).toMatchObject({ status: 'False', reason: 'ProgressDeadlineExceeded' });
  });
  it('stays RolledBack while the stable revision scales back, and records when it is done', () => {
    const rolled = nextProgress(base({ now: at(31), previous: nextProgress(base({})).rollout })).rollout;
    const moving = nextProgress(base({ now: at(32), previous: rolled, current: rev(1, 4, 4, 4), others: [rev(2, 0, 2, 0)] }));
    expect(moving.rollout).toMatchObject({ phase: 'RolledBack' });
    expect(moving.rollout.completedAt).toBeUndefined();
    const settled = nextProgress(base({ now: at(33), previous: moving.rollout, current: rev(1, 4, 4, 4), others: [rev(2, 0, 0, 0)] }));
    expect(settled.rollout).toMatchObject({ phase: 'RolledBack', completedAt: at(33).toISOString() });
  });
  it('paused time does not count against the deadline', () => {
    const first = nextProgress(base({})).rollout;
    const paused = nextProgress(base({ now: at(100), previous: first, paused: true })).rollout;
    expect(paused.phase).toBe('Paused');
    const resumed = nextProgress(base({ now: at(101), previous: paused }));
    expect(resumed.rollback).toBeUndefined();
    expect(resumed.rollout).toMatchObject({ phase: 'Progressing', lastProgressAt: at(101).toISOString() });
  });
  it('paused with a template change not yet made into a revision: Paused, not Complete', () => {
    const p = nextProgress(base({ current: rev(1, 4, 4, 4), others: [], paused: true, templatePending: true }));
    expect(p.rollout.phase).toBe('Paused');
    expect(p.condition).toMatchObject({ status: 'Unknown', reason: 'RolloutPaused' });
  });
  it('complete when every instance is healthy and ready and nothing else runs, once that has held COMPLETE_AFTER_MS', () => {
    const settling = nextProgress(base({ current: rev(2, 4, 4, 4), others: [rev(1, 0, 0, 0)] }));
    expect(settling.rollout).toMatchObject({ phase: 'Progressing', message: say.settling(2, 4) });
    expect(settling.recheckAfterMs).toBe(COMPLETE_AFTER_MS + 10);
    const held = at(COMPLETE_AFTER_MS / 1000);
    const complete = nextProgress(base({ now: held, previous: settling.rollout, current: rev(2, 4, 4, 4), others: [rev(1, 0, 0, 0)] }));
    expect(complete.rollout).toMatchObject({ phase: 'Complete', completedAt: held.toISOString() });
    // Complete stays complete: no second RolloutComplete.
    expect(nextProgress(base({ now: at(100), previous: complete.rollout, current: rev(2, 4, 4, 4), others: [] })).rollout).toMatchObject({ phase: 'Complete', completedAt: held.toISOString() });
  });
  it('a revision with health or readiness checks completes without the hold: a passed check is the proof', () => {
    const complete = nextProgress(base({ current: rev(2, 4, 4, 4), others: [rev(1, 0, 0, 0)], settleMs: 0 }));
    expect(complete.rollout).toMatchObject({ phase: 'Complete' });
    expect(settleMsFor({ healthChecks: [{}], readinessChecks: [] })).toBe(0);
    expect(settleMsFor({ healthChecks: [], readinessChecks: [{}] })).toBe(0);
    expect(settleMsFor({ healthChecks: [], readinessChecks: [] })).toBe(COMPLETE_AFTER_MS);
  });

  describe('a crash-looping revision', () => {
    const failing = (ready: number, failures: number) => ({ ...rev(1, 1, ready, ready), failures });
    it('is never complete, however often its task comes up', () => {
      let previous = nextProgress(base({ current: failing(0, 0), others: [], stable: undefined })).rollout;
      for (let s = 1; s <= 20; s += 1) {
        const p = nextProgress(base({ now: at(s), previous, current: failing(s % 2, s), others: [], stable: undefined }));
        expect(p.rollout.phase).toBe('Progressing');
        expect(p.rollout.message).toContain(say.failing(s));
        previous = p.rollout;
      }
    });
    it('makes no progress: past the deadline it is rolled back to the stable revision', () => {
      const first = nextProgress(base({ current: failing(0, 0), others: [rev(7, 0, 0, 0)], stable: 7 })).rollout;
      const up = nextProgress(base({ now: at(10), previous: first, current: failing(1, 2), others: [rev(7, 0, 0, 0)], stable: 7 }));
      expect(up.rollout.lastProgressAt).toBe(t0.toISOString());
      const p = nextProgress(base({ now: at(31), previous: up.rollout, current: failing(1, 3), others: [rev(7, 0, 0, 0)], stable: 7 }));
      expect(p.rollback).toEqual({ to: 7, from: 1 });
    });
  });
});

describe('dependencyState', () => {
  const app = (name: string, deps: string[], status?: object, generation = 1) => ({
    apiVersion: 'capstan/v1',
    kind: 'App',
    metadata: { name, namespace: 'default', generation },
    spec: { instances: 2, dependencies: deps },
    ...(status ? { status } : {}),
  });
  const settled = { observedGeneration: 1, healthy: 2, rollout: { phase: 'Complete', completedAt: 'x' } };
  it.each<[string, ReturnType<typeof app>[], boolean, string]>([
    ['ready when the dependency is settled', [app('db', [], settled)], true, ''],
    ['missing dependency named', [], false, 'missing App(s): default/db'],
    ['a dependency still rolling out', [app('db', [], { ...settled, rollout: { phase: 'Progressing' } })], false, 'waiting for default/db (2/2 healthy, rollout Progressing)'],
    ['a dependency whose status is behind its spec', [app('db', [], settled, 2)], false, 'waiting for default/db'],
  ])('%s', (_name, others, ready, message) => {
    const state = dependencyState(app('api', ['db']) as never, (key) => others.find((o) => `default/${o.metadata.name}` === key) as never);
    expect(state.ready).toBe(ready);
    if (!state.ready) expect(state.message).toContain(message);
  });
});
