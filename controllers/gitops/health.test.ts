import { describe, expect, it } from 'vitest';
import type { AppStatus } from '../../api/kinds/app.ts';
import type { AnyObject } from '../../api/object.ts';
import { appHealth, say } from './health.ts';

const T = '2026-01-01T00:00:00Z';
const app = (status: Partial<AppStatus> | undefined, generation = 2): AnyObject => ({ apiVersion: 'capstan/v1', kind: 'App', metadata: { name: 'web', namespace: 'ns', generation }, spec: {}, ...(status ? { status } : {}) });
const available = (status: 'True' | 'False', reason: string, message: string) => [{ type: 'Available', status, reason, message, lastTransitionTime: T }];
const rollout = (phase: NonNullable<AppStatus['rollout']>['phase'], message?: string) => ({ phase, startedAt: T, lastProgressAt: T, ...(message ? { message } : {}) });

describe('appHealth', () => {
  it.each([
    { name: 'absent', object: undefined, health: { health: 'Degraded', reason: 'Missing', message: say.missing } },
    { name: 'no status yet', object: app(undefined), health: { health: 'Progressing', reason: 'NotObserved', message: say.notObserved(2) } },
    { name: 'an older generation observed', object: app({ observedGeneration: 1, rollout: rollout('Complete') }), health: { health: 'Progressing', reason: 'NotObserved', message: say.notObserved(2) } },
    { name: 'complete and available', object: app({ observedGeneration: 2, rollout: rollout('Complete'), conditions: available('True', 'InstancesHealthy', '2/2 healthy') }), health: { health: 'Healthy' } },
    {
      name: 'complete, not available',
      object: app({ observedGeneration: 2, rollout: rollout('Complete'), conditions: available('False', 'TasksFailing', '1/2 healthy, but crashing') }),
      health: { health: 'Degraded', reason: 'TasksFailing', message: '1/2 healthy, but crashing' },
    },
    { name: 'rolling out', object: app({ observedGeneration: 2, rollout: rollout('Progressing', '1 of 2 updated') }), health: { health: 'Progressing', reason: 'Progressing', message: '1 of 2 updated' } },
    { name: 'waiting for dependencies', object: app({ observedGeneration: 2, rollout: rollout('Waiting', 'db not ready') }), health: { health: 'Progressing', reason: 'Waiting', message: 'db not ready' } },
    {
      name: 'rolled back: Degraded with the rollback\'s reason, never re-applied by the Sync',
      object: app({ observedGeneration: 2, rollout: rollout('RolledBack', 'revision 3 made no progress for 600s; back to revision 2') }),
      health: { health: 'Degraded', reason: 'RolledBack', message: 'revision 3 made no progress for 600s; back to revision 2' },
    },
    { name: 'failed', object: app({ observedGeneration: 2, rollout: rollout('Failed') }), health: { health: 'Degraded', reason: 'Failed' } },
  ])('$name', ({ object, health }) => {
    expect(appHealth(object)).toEqual(health);
  });
});
