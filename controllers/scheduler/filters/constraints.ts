// Marathon's placement constraints, `[field, OPERATOR, value?]`, on `hostname` or any attribute.
// Every operator but UNLIKE rejects a node that lacks the attribute (Marathon's rule).
import type { Constraint } from '../../../api/kinds/app.ts';
import { attributeOf, type NodeView, type Snapshot, type TaskDemand } from '../snapshot.ts';
import type { Filter } from './filter.ts';

/** Whether one constraint admits one node; the reason is `field:OPERATOR`. */
export function admits(constraint: Constraint, task: TaskDemand, node: NodeView, snapshot: Snapshot): boolean {
  const [field, operator, value] = constraint;
  const actual = attributeOf(node, field);
  if (actual === undefined) return operator === 'UNLIKE';
  switch (operator) {
    case 'UNIQUE':
      return !snapshot.appValueCounts(task.app, field).has(actual);
    case 'CLUSTER': {
      if (value !== undefined) return actual === value;
      // Without a value: all instances on the value the first one landed on.
      const placed = [...snapshot.appValueCounts(task.app, field).keys()];
      return placed.length === 0 || placed.includes(actual);
    }
    case 'IS':
      return actual === value;
    case 'LIKE':
      return snapshot.pattern(value ?? '').test(actual);
    case 'UNLIKE':
      return !snapshot.pattern(value ?? '').test(actual);
    case 'MAX_PER':
      return (snapshot.appValueCounts(task.app, field).get(actual) ?? 0) < Number(value);
    case 'GROUP_BY':
      return groupByAdmits(task, field, actual, value, snapshot);
  }
}

/**
 * GROUP_BY spreads instances evenly over the field's values: a node is admitted when its value
 * holds the fewest instances. The groups are the values of all schedulable nodes, plus at least
 * `value` groups when given (Marathon's "expected number of groups"): while fewer values are known
 * than that, unseen values count as empty groups, so nothing piles onto the values seen so far.
 * Marathon also admits any value not yet holding an instance; counting empty known groups as 0
 * gives the same answer while keeping the split even when several values hold none.
 */
function groupByAdmits(task: TaskDemand, field: string, actual: string, value: string | undefined, snapshot: Snapshot): boolean {
  const expected = value === undefined ? 0 : Number(value);
  return (snapshot.appValueCounts(task.app, field).get(actual) ?? 0) <= snapshot.fewestInGroups(task.app, field, expected);
}

export const constraintsMet: Filter = (task, node, snapshot) => {
  for (const constraint of task.constraints) {
    if (!admits(constraint, task, node, snapshot)) return `${constraint[0]}:${constraint[1]}`;
  }
  return null;
};
