// The rollout's decisions for one App, from plain objects: which Revision is current, whether a new
// one must be made, how many instances each Revision gets now, and which old ones to forget.
//
// This is the seam the rolling-upgrade algorithm plugs into: `decideCounts` is the only place that
// says how instances move from old revisions to the new one. Today it replaces at once (new gets
// all, old get none); Marathon's minimumHealthCapacity / maximumOverCapacity algorithm replaces
// this function and nothing else.
import type { AppSpec, AppTemplate } from '../../api/kinds/app.ts';
import { templateOf } from '../../api/kinds/app.ts';
import { deepEqual } from '../../api/store.ts';

export interface RevisionFacts {
  name: string;
  number: number;
  template: AppTemplate;
  instances: number;
  /** Live tasks (not terminal, not being deleted). */
  tasks: number;
  running: number;
  healthy: number;
  ready: number;
}

export interface RolloutPlan {
  /** A Revision to create, numbered after the newest. */
  create?: { number: number; template: AppTemplate; instances: number };
  /** New instance counts for existing revisions (only those that change). */
  scale: { name: string; instances: number }[];
  /** Old revisions beyond revisionHistoryLimit with nothing running. */
  forget: string[];
  current: number;
}

export function planRollout(spec: AppSpec, revisions: readonly RevisionFacts[]): RolloutPlan {
  const sorted = [...revisions].sort((a, b) => a.number - b.number);
  const newest = sorted.at(-1);
  const template = templateOf(spec);
  const scale: RolloutPlan['scale'] = [];
  if (!newest || !deepEqual(newest.template, template)) {
    const number = (newest?.number ?? 0) + 1;
    const counts = decideCounts(spec.instances, sorted, undefined);
    for (const revision of sorted) if (revision.instances !== counts.old(revision)) scale.push({ name: revision.name, instances: counts.old(revision) });
    return { create: { number, template, instances: counts.current }, scale, forget: [], current: number };
  }
  const counts = decideCounts(spec.instances, sorted.slice(0, -1), newest);
  if (newest.instances !== counts.current) scale.push({ name: newest.name, instances: counts.current });
  for (const revision of sorted.slice(0, -1)) {
    if (revision.instances !== counts.old(revision)) scale.push({ name: revision.name, instances: counts.old(revision) });
  }
  return { scale, forget: forgettable(sorted, spec.revisionHistoryLimit), current: newest.number };
}

/** Replace at once: the current revision gets every instance, old revisions none. */
function decideCounts(instances: number, _old: readonly RevisionFacts[], _current: RevisionFacts | undefined) {
  return { current: instances, old: (_revision: RevisionFacts) => 0 };
}

/** Revisions past the history limit (newest kept) that are scaled to zero and have no live tasks. */
function forgettable(sorted: readonly RevisionFacts[], limit: number): string[] {
  const old = sorted.slice(0, Math.max(0, sorted.length - limit));
  return old.filter((r) => r.instances === 0 && r.tasks === 0).map((r) => r.name);
}
