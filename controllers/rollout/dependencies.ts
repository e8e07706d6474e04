// App dependencies (Marathon's app groups): an App starts, and upgrades, only once every App it
// depends on is healthy at its desired count with its rollout complete. Pure: reads Apps through a
// lookup, says which are missing and which are not ready yet.
import type { AppSpec, AppStatus } from '../../api/kinds/app.ts';
import { parseDependency } from '../../api/kinds/app-checks.ts';
import { DEFAULT_NAMESPACE, refKey, type AnyObject, type DeepReadonly } from '../../api/object.ts';

export type DependencyState = { ready: true } | { ready: false; missing: string[]; waiting: string[]; message: string };

/** A dependency is ready when its status describes its current spec, all healthy, nothing moving. */
export function isAppSettled(app: DeepReadonly<AnyObject>): boolean {
  const spec = app.spec as DeepReadonly<AppSpec>;
  const status = app.status as DeepReadonly<AppStatus> | undefined;
  if (!status || status.observedGeneration !== app.metadata.generation) return false;
  const phase = status.rollout?.phase;
  return status.healthy >= spec.instances && Boolean(status.rollout?.completedAt) && (phase === 'Complete' || phase === 'RolledBack');
}

export function dependencyState(
  app: DeepReadonly<AnyObject>,
  lookup: (key: string) => DeepReadonly<AnyObject> | undefined,
): DependencyState {
  const namespace = app.metadata.namespace ?? DEFAULT_NAMESPACE;
  const missing: string[] = [];
  const waiting: string[] = [];
  for (const dependency of (app.spec as DeepReadonly<AppSpec>).dependencies ?? []) {
    const ref = parseDependency(dependency, namespace);
    if (!ref) continue; // rejected at apply; nothing to wait for
    const key = refKey(ref);
    const other = lookup(key);
    if (!other || other.metadata.deletionTimestamp) missing.push(key);
    else if (!isAppSettled(other)) waiting.push(describeWaiting(key, other));
  }
  if (missing.length === 0 && waiting.length === 0) return { ready: true };
  const parts = [
    ...(missing.length ? [`missing App(s): ${missing.join(', ')}`] : []),
    ...(waiting.length ? [`waiting for ${waiting.join(', ')}`] : []),
  ];
  return { ready: false, missing, waiting, message: parts.join('; ') };
}

function describeWaiting(key: string, app: DeepReadonly<AnyObject>): string {
  const status = app.status as DeepReadonly<AppStatus> | undefined;
  const instances = (app.spec as DeepReadonly<AppSpec>).instances;
  return `${key} (${status?.healthy ?? 0}/${instances} healthy, rollout ${status?.rollout?.phase ?? 'not started'})`;
}

/** Keys of the Apps that depend on `app`: they are reconciled again when it changes. */
export function dependentsOf(app: DeepReadonly<AnyObject>, apps: readonly DeepReadonly<AnyObject>[]): string[] {
  const key = appKey(app);
  return apps
    .filter((other) => {
      const namespace = other.metadata.namespace ?? DEFAULT_NAMESPACE;
      return ((other.spec as DeepReadonly<AppSpec>).dependencies ?? []).some((d) => {
        const ref = parseDependency(d, namespace);
        return ref !== null && refKey(ref) === key;
      });
    })
    .map(appKey);
}

/** An App's cache key, its namespace defaulted. */
export const appKey = (app: DeepReadonly<AnyObject>) => refKey({ namespace: app.metadata.namespace ?? DEFAULT_NAMESPACE, name: app.metadata.name });
