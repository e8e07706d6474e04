// How the placed tasks of one App's revision spread over the values of one constraint field: what
// UNIQUE, CLUSTER, MAX_PER and GROUP_BY decide by. Kept up to date as tasks are assumed and released
// (snapshot.ts), so a placement costs one update here, not a pass over the App's tasks.

export class ValueCounts {
  private readonly byValue = new Map<string, number>();
  /** Tasks on nodes that lack the field: GROUP_BY counts them as one group of their own, as Marathon does. */
  private lacking = 0;
  /** Every task counted here. */
  total = 0;
  /**
   * The smallest group, computed on first use after a change. GROUP_BY asks it for every node it
   * looks at, with the same answer until the next placement: once per placement, not per node.
   */
  private smallestGroup: number | undefined;

  /** Adds `by` tasks (negative: removes) on a node whose field has `value` (undefined: lacks it). */
  add(value: string | undefined, by: number): void {
    this.total += by;
    this.smallestGroup = undefined;
    if (value === undefined) {
      this.lacking += by;
      return;
    }
    const next = (this.byValue.get(value) ?? 0) + by;
    if (next > 0) this.byValue.set(value, next);
    else this.byValue.delete(value);
  }

  /** How many tasks sit on nodes with this value. */
  of(value: string): number {
    return this.byValue.get(value) ?? 0;
  }

  /** How many groups hold tasks: each value, and the tasks lacking the field as one more. */
  get groups(): number {
    return this.byValue.size + (this.lacking > 0 ? 1 : 0);
  }

  /** The fewest tasks any group holds (0 when none holds any). */
  smallest(): number {
    if (this.smallestGroup === undefined) {
      let fewest = this.lacking > 0 ? this.lacking : Infinity;
      for (const count of this.byValue.values()) if (count < fewest) fewest = count;
      this.smallestGroup = fewest === Infinity ? 0 : fewest;
    }
    return this.smallestGroup;
  }
}
