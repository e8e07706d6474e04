// Marathon's placement constraints, `[field, OPERATOR, value?]`, with the semantics of its last
// release (v1.10.26). The field is `hostname`/`@hostname`, `@region`, `@zone` or a node attribute
// (attributeOf); values are compared as Mesos prints them (api/constraints/format.ts). A node that
// lacks the field is refused by every operator but UNLIKE. The placed tasks counted are the App's
// tasks of the placing task's revision (snapshot.ts says why).
import type { Constraint } from '../../../api/kinds/app.ts';
import { attributeOf, type NodeView, type Snapshot, type TaskDemand } from '../snapshot.ts';
import type { ValueCounts } from '../value-counts.ts';
import type { Filter } from './filter.ts';

/** Whether one constraint admits one node; the reason is `field:OPERATOR`. */
export function admits(constraint: Readonly<Constraint>, task: TaskDemand, node: NodeView, snapshot: Snapshot): boolean {
  const [field, operator, value] = constraint;
  const actual = attributeOf(node, field);
  if (actual === undefined) return operator === 'UNLIKE';
  const placed = () => snapshot.valueCounts(task.app, task.revision, field);
  switch (operator) {
    case 'UNIQUE':
      return placed().of(actual) === 0;
    case 'CLUSTER':
      return value ? actual === snapshot.formattedValue(value) : clusterAdmits(placed(), actual);
    case 'IS':
      return value !== undefined && actual === snapshot.formattedValue(value);
    case 'LIKE':
      return snapshot.pattern(value ?? '')?.test(actual) ?? false;
    case 'UNLIKE': {
      const pattern = snapshot.pattern(value ?? '');
      return pattern !== null && !pattern.test(actual);
    }
    case 'MAX_PER': {
      // Marathon refuses only a value already holding tasks, so MAX_PER 0 admits one task per value.
      const count = placed().of(actual);
      return count === 0 || count < Number(value);
    }
    case 'GROUP_BY':
      return groupByAdmits(placed(), actual, value);
  }
}

/**
 * CLUSTER without a value: the first task goes on any node that has the field, and fixes the value
 * for the others. Marathon compares with its first placed task; Capstan keeps no order among tasks
 * and admits any value that already holds one, which is the same while all sit on one value (the
 * only way CLUSTER places them). Tasks all on nodes lacking the field admit nothing, as Marathon's.
 */
function clusterAdmits(placed: Readonly<ValueCounts>, actual: string): boolean {
  return placed.total === 0 || placed.of(actual) > 0;
}

/**
 * GROUP_BY [n], Marathon's released rule: a value holding no task is always admitted; a value that
 * holds tasks only once at least n groups hold tasks, and only while it holds no more than the
 * smallest group. So n is the least number of values to spread over, not a cap, and a value that
 * cannot take the task (a rack whose only node is full) never holds up the others.
 */
function groupByAdmits(placed: Readonly<ValueCounts>, actual: string, value: string | undefined): boolean {
  const count = placed.of(actual);
  if (count === 0) return true;
  const minimum = value === undefined ? 0 : Number(value);
  return placed.groups >= minimum && count === placed.smallest();
}

export const constraintsMet: Filter = (task, node, snapshot) => {
  for (const constraint of task.constraints) {
    if (!admits(constraint, task, node, snapshot)) return `${constraint[0]}:${constraint[1]}`;
  }
  return null;
};
