import { describe, expect, it } from 'vitest';
import { checkConstraint } from './check.ts';
import type { Constraint } from './operators.ts';

describe("a constraint's value against its operator (Marathon's SchedulingValidation)", () => {
  it.each<[Constraint]>([
    [['hostname', 'UNIQUE']],
    [['hostname', 'CLUSTER']],
    [['hostname', 'CLUSTER', '']],
    [['rack', 'CLUSTER', 'r1']],
    [['jdk', 'CLUSTER', '[6-7]']],
    [['rack', 'GROUP_BY']],
    [['rack', 'GROUP_BY', '0']],
    [['rack', 'GROUP_BY', '123']],
    [['rack', 'GROUP_BY', '-2']], // Java's toInt reads it; n below 1 means no minimum
    [['rack', 'MAX_PER', '0']],
    [['rack', 'MAX_PER', '+2']],
    [['zone', 'LIKE', '.*']],
    [['zone', 'UNLIKE', 'eu-.*']],
    [['gpu', 'LIKE', '\\{0,1\\}']],
    [['os', 'IS', 'linux']],
    [['number', 'IS', '1.0']],
    [['path', 'IS', 'a/b_c.d-e']],
  ])('accepts %j', (constraint) => {
    expect(checkConstraint(constraint)).toBeNull();
  });

  it.each<[Constraint, 1 | 2, string, string]>([
    [['hostname', 'UNIQUE', 'x'], 2, 'no value: UNIQUE takes none', '"x"'],
    [['hostname', 'UNIQUE', ''], 2, 'no value: UNIQUE takes none', '""'],
    [['rack', 'GROUP_BY', 'AbcDZ'], 2, 'an integer for GROUP_BY', '"AbcDZ"'],
    [['rack', 'GROUP_BY', '1.5'], 2, 'an integer for GROUP_BY', '"1.5"'],
    [['rack', 'GROUP_BY', '3000000000'], 2, 'an integer for GROUP_BY', '"3000000000"'],
    [['rack', 'MAX_PER'], 1, 'an integer for MAX_PER', 'no value'],
    [['rack', 'MAX_PER', 'AbcDZ'], 2, 'an integer for MAX_PER', '"AbcDZ"'],
    [['zone', 'LIKE'], 1, 'a Java regular expression for LIKE', 'no value'],
    [['zone', 'UNLIKE'], 1, 'a Java regular expression for UNLIKE', 'no value'],
    [['zone', 'LIKE', '*'], 2, 'a Java regular expression for LIKE', '"*": "*" repeats nothing'],
    [['zone', 'LIKE', ''], 2, 'a Java regular expression for LIKE', '""'],
    [['zone', 'LIKE', 'a*+'], 2, 'a Java regular expression for LIKE', '"a*+": possessive quantifier "*+" is Java-only: drop the last "+"'],
    [['jdk', 'IS', '[0-9]'], 2, 'a text or number for IS', '"[0-9]"'],
    [['gpu', 'IS', '{0,1}'], 2, 'a text or number for IS', '"{0,1}"'],
    [['os', 'IS', 'linux 5'], 2, 'a text or number for IS', '"linux 5"'],
    [['os', 'IS'], 1, 'a text or number for IS', 'no value'],
  ])('refuses %j', (constraint, part, expected, found) => {
    const problem = checkConstraint(constraint);
    expect(problem).toMatchObject({ part, found });
    expect(problem!.expected).toContain(expected);
  });
});
