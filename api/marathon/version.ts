// An App's Marathon version: Marathon stamps every configuration change with a time; Capstan's App
// knows when the rollout to its current revision started, which is that change.
import type { AppStatus } from '../kinds/app.ts';
import type { AnyObject, DeepReadonly } from '../object.ts';

/** The App's Marathon version: when its current rollout started (its last configuration change), else its creation. */
export function versionOf(app: DeepReadonly<AnyObject>): string {
  const status = app.status as DeepReadonly<Partial<AppStatus>> | undefined;
  return status?.rollout?.startedAt ?? app.metadata.creationTimestamp ?? new Date(0).toISOString();
}
