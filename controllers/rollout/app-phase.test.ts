import { describe, expect, it } from 'vitest';
import type { RolloutStatus, TaskFailure } from '../../api/kinds/app.ts';
import { appPhase, launchDelayOf, type AppPhaseInput } from './app-phase.ts';

const now = new Date('2026-01-01T00:01:00Z');
const at = (secondsFromNow: number) => new Date(now.getTime() + secondsFromNow * 1000).toISOString();
const complete: RolloutStatus = { phase: 'Complete', revision: 1, startedAt: at(-60), lastProgressAt: at(-50), completedAt: at(-48) };
const progressing: RolloutStatus = { phase: 'Progressing', revision: 2, startedAt: at(-5), lastProgressAt: at(-5), message: 'revision 2: 1 of 3 healthy and ready' };
const failure: TaskFailure = { task: 'web-1-abcde', revision: 1, phase: 'Failed', exitCode: 3, message: 'exited with code 3', timestamp: at(-2) };
const delayed = { failures: 4, lastFailureAt: at(-2), nextLaunchAt: at(10), counted: [] };

const input = (extra: Partial<AppPhaseInput> = {}): AppPhaseInput => ({
  now,
  app: 'web',
  instances: 1,
  running: 1,
  healthy: 1,
  rollout: complete,
  dependencies: null,
  current: { number: 1 },
  ...extra,
});

describe('appPhase: Marathon UI words for an App', () => {
  it.each<[string, Partial<AppPhaseInput>, { phase: string; reason: string }, string]>([
    ['0 instances: Suspended, whatever else', { instances: 0, current: { number: 1, backoff: delayed } }, { phase: 'Suspended', reason: 'ScaledToZero' }, 'spec.instances is 0'],
    ['a launch delay running: Delayed, saying until when and the last failure', { running: 0, rollout: progressing, current: { number: 1, backoff: delayed, lastTaskFailure: failure } }, { phase: 'Delayed', reason: 'BackOff' }, 'next launch in 10 s (at 2026-01-01T00:01:10.000Z); `capstan app reset-delay web` launches now; last: web-1-abcde exited with code 3'],
    ['dependencies not ready: Waiting', { dependencies: 'waiting for default/db', rollout: progressing }, { phase: 'Waiting', reason: 'DependenciesNotReady' }, 'waiting for default/db'],
    ['dependencies not ready but nothing held (settled): Running', { dependencies: 'waiting for default/db' }, { phase: 'Running', reason: 'InstancesRunning' }, '1 of 1 running'],
    ['a task that fits nowhere: Waiting', { rollout: progressing, current: { number: 2, unschedulable: { tasks: 1, message: '0/1 nodes fit: insufficient cpus' } } }, { phase: 'Waiting', reason: 'Unschedulable' }, '1 task(s) cannot be placed: 0/1 nodes fit: insufficient cpus'],
    ['failing, the delay over, a replacement up: Deploying, not Running', { rollout: progressing, current: { number: 1, backoff: { ...delayed, nextLaunchAt: at(-1) }, lastTaskFailure: failure } }, { phase: 'Deploying', reason: 'TasksFailing' }, '4 task failure(s) in a row'],
    ['a rollout in progress: Deploying', { rollout: progressing }, { phase: 'Deploying', reason: 'RolloutInProgress' }, 'revision 2: 1 of 3 healthy and ready'],
    ['a paused rollout: Deploying, paused', { rollout: { ...progressing, phase: 'Paused', message: 'paused' } }, { phase: 'Deploying', reason: 'RolloutPaused' }, 'paused'],
    ['rolled back and settled: Running', { rollout: { ...complete, phase: 'RolledBack' } }, { phase: 'Running', reason: 'InstancesRunning' }, '1 of 1 running, 1 healthy'],
    ['complete: Running', {}, { phase: 'Running', reason: 'InstancesRunning' }, '1 of 1 running, 1 healthy'],
  ])('%s', (_name, extra, expected, message) => {
    const view = appPhase(input(extra));
    expect(view).toMatchObject(expected);
    expect(view.message).toContain(message);
  });

  it('Delayed wakes up when the delay ends, and carries the delay', () => {
    const view = appPhase(input({ running: 0, current: { number: 1, backoff: delayed } }));
    expect(view.recheckAfterMs).toBe(10_010);
    expect(view.launchDelay).toEqual({ seconds: 12, until: at(10), failures: 4 });
  });
});

describe('launchDelayOf', () => {
  it.each([
    ['no backoff', undefined, undefined],
    ['no failures', { failures: 0, counted: [] }, undefined],
    ['failures and a next launch', delayed, { seconds: 12, until: at(10), failures: 4 }],
    ['a delay under a second keeps its milliseconds', { failures: 1, lastFailureAt: at(0), nextLaunchAt: at(1.15), counted: [] }, { seconds: 1.15, until: at(1.15), failures: 1 }],
  ])('%s', (_name, backoff, expected) => {
    expect(launchDelayOf(backoff)).toEqual(expected);
  });
});
