// The rollout's progress as gauges (capstan_rollout_instances, capstan_rollout_target_instances):
// per App, the instances of the revision being rolled out beside those of every other revision.
// Set from the caches after each reconcile; an App that is gone loses its series.
import type { AppSpec, AppStatus } from '../../api/kinds/app.ts';
import type { RevisionSpec, RevisionStatus } from '../../api/kinds/revision.ts';
import type { ControllerMetrics } from '../../api/metrics.ts';
import { DEFAULT_NAMESPACE, parseRefKey, type CapstanObject, type DeepReadonly } from '../../api/object.ts';

type App = DeepReadonly<CapstanObject<AppSpec, AppStatus>>;
type Revision = DeepReadonly<CapstanObject<RevisionSpec, RevisionStatus>>;

export interface SideCounts {
  /** The count the rollout wants of the side's revisions now (their spec.instances). */
  wanted: number;
  running: number;
  healthy: number;
  ready: number;
}

export interface RolloutGauges {
  target: number;
  new: SideCounts;
  old: SideCounts;
}

const STATES = ['wanted', 'running', 'healthy', 'ready'] as const;

/** The new side is the App's current revision (status.currentRevision); every other revision is old. */
export function rolloutGauges(app: App, revisions: readonly Revision[]): RolloutGauges {
  const current = app.status?.currentRevision;
  const side = (isNew: boolean): SideCounts => {
    const mine = revisions.filter((r) => (r.spec.number === current) === isNew);
    const sum = (count: (r: Revision) => number) => mine.reduce((n, r) => n + count(r), 0);
    return {
      wanted: sum((r) => r.spec.instances),
      running: sum((r) => r.status?.running ?? 0),
      healthy: sum((r) => r.status?.healthy ?? 0),
      ready: sum((r) => r.status?.ready ?? 0),
    };
  };
  return { target: app.spec.instances, new: side(true), old: side(false) };
}

/** Sets the App's gauges from the caches, or removes them when the App is gone or being deleted. */
export function recordRollout(metrics: ControllerMetrics, key: string, app: App | undefined, revisions: readonly Revision[]): void {
  const { namespace = DEFAULT_NAMESPACE, name } = parseRefKey(key);
  const labels = { namespace, app: name };
  if (!app || app.metadata.deletionTimestamp) {
    metrics.rolloutTarget.remove(labels);
    for (const revision of ['new', 'old']) for (const state of STATES) metrics.rolloutInstances.remove({ ...labels, revision, state });
    return;
  }
  const gauges = rolloutGauges(app, revisions);
  metrics.rolloutTarget.set(labels, gauges.target);
  for (const revision of ['new', 'old'] as const) {
    for (const state of STATES) metrics.rolloutInstances.set({ ...labels, revision, state }, gauges[revision][state]);
  }
}
