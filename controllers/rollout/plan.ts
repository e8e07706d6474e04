// The rollout's decisions for one App, from plain objects: which Revision is current, whether a new
// one must be made, how many instances each Revision gets now (./counts.ts, Marathon's algorithm),
// and which old ones to forget.
//
// The current revision is the one whose template (and restart stamp) is the App's. It need not be the
// newest: after a rollback or `rollout undo` the App's template is an old revision's again, and that
// Revision becomes current once more, keeping the tasks it still runs (Kubernetes' way), instead of
// a copy under a new number.
import type { AppSpec, AppTemplate } from '../../api/kinds/app.ts';
import { isResident, templateOf } from '../../api/kinds/app.ts';
import { deepEqual } from '../../api/merge.ts';
import { decideCounts, type RevisionCounts } from './counts.ts';

export interface RevisionFacts extends RevisionCounts {
  template: AppTemplate;
  /** The `capstan.io/restartedAt` stamp the revision was made under ('' for none). */
  restartedAt: string;
  running: number;
  healthy: number;
}

export interface RolloutPlan {
  /** A Revision to create, numbered after the newest. */
  create?: { number: number; template: AppTemplate; instances: number; restartedAt: string };
  /** New instance counts for existing revisions (only those that change). */
  scale: { name: string; instances: number }[];
  /** Old revisions beyond revisionHistoryLimit with nothing running. */
  forget: string[];
  /** The revision the App is moving to; undefined while it has none (held before its first). */
  current?: number;
}

export interface RolloutInput {
  spec: AppSpec;
  restartedAt: string;
  revisions: readonly RevisionFacts[];
  /**
   * Paused, or dependencies not ready: no revision is created and no instance moves between
   * revisions. A change of instances alone still scales a revision that is alone running.
   */
  hold: boolean;
  /** Never forgotten: the rollback target. */
  stableRevision?: number;
}

export function planRollout(input: RolloutInput): RolloutPlan {
  const { spec, hold } = input;
  const sorted = [...input.revisions].sort((a, b) => a.number - b.number);
  const template = templateOf(spec);
  const current = [...sorted].reverse().find((r) => isRevisionOf(r, spec, input.restartedAt, template));
  const forget = forgettable(sorted, spec.revisionHistoryLimit, [current?.number, input.stableRevision]);

  if (!current) {
    const newest = sorted.at(-1);
    if (hold) return { scale: [], forget: [], current: newest?.number };
    const number = (newest?.number ?? 0) + 1;
    const fresh: RevisionCounts = { name: '', number, instances: 0, tasks: 0, ready: 0 };
    const counts = decideCounts({ instances: spec.instances, strategy: spec.upgradeStrategy, current: fresh, old: sorted, resident: isResident(spec) });
    return {
      create: { number, template, instances: counts.current, restartedAt: input.restartedAt },
      scale: changes(sorted, counts.old),
      forget: [],
      current: number,
    };
  }

  const others = sorted.filter((r) => r !== current);
  const moving = others.some((r) => r.instances > 0 || r.tasks > 0);
  if (hold && moving) return { scale: [], forget, current: current.number };
  const counts = decideCounts({ instances: spec.instances, strategy: spec.upgradeStrategy, current, old: others, resident: isResident(spec) });
  return { scale: changes(sorted, { ...counts.old, [current.name]: counts.current }), forget, current: current.number };
}

/** The revision is made of this spec's template under this restart stamp. */
export function isRevisionOf(revision: Pick<RevisionFacts, 'template' | 'restartedAt'>, spec: AppSpec, restartedAt: string, template = templateOf(spec)): boolean {
  return revision.restartedAt === restartedAt && deepEqual(revision.template, template);
}

function changes(revisions: readonly RevisionFacts[], targets: Record<string, number>): RolloutPlan['scale'] {
  return revisions.flatMap((r) => (targets[r.name] !== undefined && targets[r.name] !== r.instances ? [{ name: r.name, instances: targets[r.name]! }] : []));
}

/** Revisions past the history limit (newest kept) that are scaled to zero and have no live tasks. */
function forgettable(sorted: readonly RevisionFacts[], limit: number, keep: readonly (number | undefined)[]): string[] {
  const old = sorted.slice(0, Math.max(0, sorted.length - limit));
  return old.filter((r) => r.instances === 0 && r.tasks === 0 && !keep.includes(r.number)).map((r) => r.name);
}
