import { describe, expect, it } from 'vitest';
import type { AppStatus, RolloutStatus } from '../kinds/app.ts';
import type { AnyObject } from '../object.ts';
import { deploymentIdOf } from './deployment-id.ts';
import { DEPLOYMENT_ANNOTATION, deploymentOf, deploymentsOf, deploymentStamp } from './deployments.ts';
import { MARATHON_ID_ANNOTATION } from './ids.ts';

const T0 = '2026-01-01T00:00:00.000Z';

function app(options: {
  name?: string;
  generation?: number;
  observed?: number;
  instances?: number;
  status?: Partial<AppStatus>;
  phase?: RolloutStatus['phase'];
  completedAt?: string;
  deleting?: boolean;
  annotations?: Record<string, string>;
  dependencies?: string[];
  noStatus?: boolean;
}): AnyObject {
  const generation = options.generation ?? 2;
  const name = options.name ?? 'web';
  return {
    apiVersion: 'capstan/v1',
    kind: 'App',
    metadata: {
      name,
      namespace: 'prod',
      uid: `uid-${name}`,
      generation,
      creationTimestamp: T0,
      annotations: { [MARATHON_ID_ANNOTATION]: `/prod/${name}`, ...(options.annotations ?? {}) },
      ...(options.deleting ? { deletionTimestamp: T0 } : {}),
    },
    spec: { instances: options.instances ?? 2, containers: [{ name: 'main', cmd: 'sleep 1000' }], dependencies: options.dependencies ?? [] },
    ...(options.noStatus
      ? {}
      : {
          status: {
            observedGeneration: options.observed ?? generation,
            instances: 2,
            staged: 0,
            running: 2,
            healthy: 2,
            unhealthy: 0,
            ready: 2,
            currentRevision: 2,
            stableRevision: 1,
            revisions: [{ revision: 2, instances: 2, running: 2, healthy: 2, ready: 2 }],
            rollout: {
              phase: options.phase ?? 'Progressing',
              revision: 2,
              startedAt: '2026-01-01T00:01:00.000Z',
              lastProgressAt: T0,
              ...(options.completedAt ? { completedAt: options.completedAt } : {}),
            },
            conditions: [],
            ...options.status,
          },
        }),
  } as AnyObject;
}

const oldTasks = { revisions: [{ revision: 1, instances: 1, running: 1, healthy: 1, ready: 1 }, { revision: 2, instances: 1, running: 1, healthy: 0, ready: 0 }] };

describe('deploymentOf: an App whose rollout is not complete is a Marathon deployment', () => {
  it.each([
    ['rollout complete: no deployment', app({ phase: 'Complete', completedAt: T0 }), undefined],
    ['rolled back and settled: no deployment', app({ phase: 'RolledBack', completedAt: T0 }), undefined],
    ['complete but a newer generation not yet observed: scaled', app({ phase: 'Complete', completedAt: T0, observed: 1, instances: 5 }), 'ScaleApplication'],
    ['complete but a newer template not yet observed: restarted', app({ phase: 'Complete', completedAt: T0, observed: 1 }), 'RestartApplication'],
    ['never observed: started', app({ noStatus: true }), 'StartApplication'],
    ['no stable revision yet: started', app({ status: { stableRevision: undefined } }), 'StartApplication'],
    ['old revision still running: restarted', app({ status: oldTasks }), 'RestartApplication'],
    ['only the current revision, moving: scaled', app({}), 'ScaleApplication'],
    ['paused mid-rollout: still a deployment', app({ phase: 'Paused', status: oldTasks }), 'RestartApplication'],
    ['failed (keeps trying): still a deployment', app({ phase: 'Failed', status: oldTasks }), 'RestartApplication'],
    ['rolling back, not settled: still a deployment', app({ phase: 'RolledBack', status: oldTasks }), 'RestartApplication'],
    ['being deleted: stopped', app({ phase: 'Complete', completedAt: T0, deleting: true }), 'StopApplication'],
  ])('%s', (_, input, action) => {
    const deployment = deploymentOf(input);
    if (action === undefined) return expect(deployment).toBeUndefined();
    expect(deployment).toMatchObject({
      affectedApps: ['/prod/web'],
      affectedPods: [],
      steps: [{ actions: [{ action, app: '/prod/web' }] }],
      currentActions: [{ action, app: '/prod/web', readinessCheckResults: [] }],
      currentStep: 1,
      totalSteps: 1,
    });
  });

  it.each([
    ['the App uid and generation', app({ generation: 4 }), deploymentIdOf('uid-web', 4)],
    ['a deletion: generation 0', app({ deleting: true }), deploymentIdOf('uid-web', 0)],
    ['a current group stamp', app({ generation: 4, annotations: { [DEPLOYMENT_ANNOTATION]: deploymentStamp('group-change', 4) } }), 'group-change'],
    ['a stale group stamp (the App changed since)', app({ generation: 5, annotations: { [DEPLOYMENT_ANNOTATION]: deploymentStamp('group-change', 4) } }), deploymentIdOf('uid-web', 5)],
  ])('its id: %s', (_, input, id) => {
    expect(deploymentOf(input)?.id).toBe(id);
  });
});

describe('deploymentsOf: the Apps of one group change are one deployment', () => {
  const stamp = { [DEPLOYMENT_ANNOTATION]: deploymentStamp('change-1', 2) };
  it('lists every affected App, in steps ordered by dependencies', () => {
    const db = app({ name: 'db', annotations: stamp });
    const web = app({ name: 'web', annotations: stamp, dependencies: ['db'], phase: 'Waiting' });
    const other = app({ name: 'other' });
    const done = app({ name: 'done', phase: 'Complete', completedAt: T0 });
    const deployments = deploymentsOf([web, other, db, done]);
    expect(deployments).toHaveLength(2);
    expect(deployments[0]).toMatchObject({
      id: 'change-1',
      affectedApps: ['/prod/db', '/prod/web'],
      steps: [{ actions: [{ app: '/prod/db' }] }, { actions: [{ app: '/prod/web' }] }],
      currentActions: [{ app: '/prod/db' }],
      currentStep: 1,
      totalSteps: 2,
    });
    expect(deployments[1]).toMatchObject({ id: deploymentIdOf('uid-other', 2), affectedApps: ['/prod/other'] });
  });
});
