// Which live tasks go when a Revision has more than it wants. First the cheapest to lose: tasks not
// placed yet, then those not running yet, then unhealthy ones. Among equals, an App with GROUP_BY
// constraints keeps its spread, as Marathon does: kill from the most loaded values first until the
// distribution is even (20 on 2 hosts, kill 10: 5 from each; 20 + 10, kill 10: all from the first).
// Then killSelection decides (Marathon's YOUNGEST_FIRST by default). A resident App's placed tasks
// are all equals but for their instance slot: the highest slots go first, whatever their state, so
// the App keeps slots 0..n-1 and the volumes of the slots given up stay Reserved for a scale-up.
import type { AppSpec } from '../../api/kinds/app.ts';
import type { TaskFacts } from './plan.ts';

export type KillSelection = AppSpec['killSelection'];

export interface VictimsInput {
  live: readonly TaskFacts[];
  count: number;
  selection: KillSelection;
  /** The fields of the App's GROUP_BY constraints; each task's value of them is in its facts. */
  groupBy: readonly string[];
}

/** Lower goes first: unplaced, then not running, then unhealthy, then the rest; a slot's task ranks last. */
const rank = (t: TaskFacts) => (!t.bound ? 0 : t.slot !== undefined ? 3 : t.phase !== 'Running' ? 1 : t.healthy === false ? 2 : 3);

export function chooseVictims(input: VictimsInput): string[] {
  const { live, count, selection, groupBy } = input;
  const ordered = [...live].sort((a, b) => {
    const byRank = rank(a) - rank(b);
    if (byRank !== 0) return byRank;
    const bySlot = (b.slot ?? -1) - (a.slot ?? -1);
    if (bySlot !== 0) return bySlot;
    const byAge = a.createdAt.localeCompare(b.createdAt);
    const byAgeSelected = selection === 'YOUNGEST_FIRST' ? -byAge : byAge;
    return byAgeSelected !== 0 ? byAgeSelected : a.name.localeCompare(b.name);
  });
  if (groupBy.length === 0 || count >= ordered.length) return ordered.slice(0, count).map((t) => t.name);

  const spreads = groupBy.map((field) => new Spread(field, ordered));
  const victims: string[] = [];
  let remaining = ordered;
  while (victims.length < count && remaining.length > 0) {
    const lowest = rank(remaining[0]!);
    const equals = remaining.filter((t) => rank(t) === lowest);
    const victim = spreadKeeping(equals, spreads) ?? equals[0]!;
    victims.push(victim.name);
    for (const spread of spreads) spread.remove(victim);
    remaining = remaining.filter((t) => t !== victim);
  }
  return victims;
}

/**
 * Marathon's choice among `candidates` (in killSelection order): the most uneven spread first, a
 * task of its most loaded values; then any task. The first one whose loss leaves every spread even
 * (values differ by at most one) or no less even than now; none when no task does.
 *
 * Marathon compares with the spread before the scale-down instead, so with 10/10/5 on three racks
 * no single kill makes it more even (10/9/5 differs by 5 as well) and it falls back to killSelection
 * alone, which may take from the rack of 5. Comparing with the spread now keeps taking from the
 * racks of 10; on Marathon's own cases both give the same tasks.
 */
function spreadKeeping(candidates: readonly TaskFacts[], spreads: readonly Spread[]): TaskFacts | undefined {
  const states = spreads.map((spread) => spread.state());
  const preferred = [...states].sort((a, b) => b.difference - a.difference).flatMap((state) => candidates.filter((t) => state.isMostLoaded(t)));
  return [...preferred, ...candidates].find((t) => states.every((state) => state.keptEvenWithout(t)));
}

/** One GROUP_BY field: how many live, placed tasks each of its values holds. */
class Spread {
  /** value → tasks; `undefined` is the group of tasks on nodes lacking the field (Marathon's rule). */
  private readonly counts = new Map<string | undefined, number>();

  constructor(
    private readonly field: string,
    tasks: readonly TaskFacts[],
  ) {
    for (const task of tasks) {
      if (task.bound) this.counts.set(this.valueOf(task), (this.counts.get(this.valueOf(task)) ?? 0) + 1);
    }
  }

  remove(task: TaskFacts): void {
    // A value emptied stays a group of 0: the spread is over the values the App was on.
    if (task.bound) this.counts.set(this.valueOf(task), this.counts.get(this.valueOf(task))! - 1);
  }

  /** The spread as it is now; valid until the next `remove`. */
  state() {
    const sizes = [...this.counts.values()];
    const max = sizes.length > 0 ? Math.max(...sizes) : 0;
    const min = sizes.length > 0 ? Math.min(...sizes) : 0;
    const atMax = sizes.filter((size) => size === max).length;
    const countOf = (task: TaskFacts) => this.counts.get(this.valueOf(task))!;
    return {
      difference: max - min,
      /** In one of the values holding the most, when they are not all even. */
      isMostLoaded: (task: TaskFacts) => task.bound && max > min && countOf(task) === max,
      keptEvenWithout: (task: TaskFacts) => {
        if (!task.bound) return true;
        const count = countOf(task);
        const maxAfter = count === max && atMax === 1 ? max - 1 : max;
        const difference = maxAfter - Math.min(min, count - 1);
        return difference <= Math.max(1, max - min);
      },
    };
  }

  private valueOf(task: TaskFacts): string | undefined {
    return task.groupValues?.[this.field];
  }
}
