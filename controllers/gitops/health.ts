// How an object a Sync applied is doing, as the Sync's status reports it (pure). An App is Healthy
// when its rollout is Complete and it is Available, Progressing while its rollout moves (or the
// rollout controller has not seen its latest generation), Degraded with the App's reason otherwise —
// an automatic rollback included, which the Sync reports and leaves alone until a new commit changes
// that App (drift.ts rollbackExcuse, keepRollbacks). Other kinds have no rollout: written is Healthy.
import type { AppStatus } from '../../api/kinds/app.ts';
import type { SyncedObject } from '../../api/kinds/sync.ts';
import { getCondition, type AnyObject, type DeepReadonly } from '../../api/object.ts';

export type Health = Pick<SyncedObject, 'health' | 'reason' | 'message'>;

export const say = {
  missing: 'not in the store: deleted since it was applied; the next commit that changes it writes it again',
  notObserved: (generation: number) => `the rollout controller has not seen generation ${generation} yet`,
  unavailable: 'rollout complete, but not Available',
} as const;

function withMessage(health: Health, message: string | undefined): Health {
  return message ? { ...health, message } : health;
}

export function appHealth(app: DeepReadonly<AnyObject> | undefined): Health {
  if (!app) return { health: 'Degraded', reason: 'Missing', message: say.missing };
  const status = app.status as DeepReadonly<AppStatus> | undefined;
  const generation = app.metadata.generation ?? 0;
  if (!status || (status.observedGeneration ?? 0) < generation) return { health: 'Progressing', reason: 'NotObserved', message: say.notObserved(generation) };
  const rollout = status.rollout;
  if (rollout?.phase === 'RolledBack' || rollout?.phase === 'Failed') {
    return withMessage({ health: 'Degraded', reason: rollout.phase }, rollout.message ?? status.message);
  }
  if (rollout?.phase === 'Complete') {
    const available = getCondition(status.conditions as AppStatus['conditions'], 'Available');
    if (available?.status === 'True') return { health: 'Healthy' };
    return withMessage({ health: 'Degraded', reason: available?.reason ?? status.reason ?? 'Unavailable' }, available?.message ?? say.unavailable);
  }
  return withMessage({ health: 'Progressing', reason: rollout?.phase ?? status.reason ?? 'Progressing' }, rollout?.message ?? status.message);
}
