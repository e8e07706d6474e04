// Whether a constraint's value suits its operator, by Marathon's rules (its SchedulingValidation):
// UNIQUE takes no value; GROUP_BY an integer or none; MAX_PER an integer; LIKE and UNLIKE a Java
// regular expression (java-regex.ts); IS a Mesos text or scalar (never a range or a set); CLUSTER
// anything, or none. `GROUP_BY 0` and `MAX_PER 0` are valid, as in Marathon.
//
// Two deliberate differences, both refusing what Marathon accepts and then never places: an empty
// LIKE/UNLIKE pattern (Marathon's filter refuses every node for it) and an IS without a value.
import { compileJavaRegex } from './java-regex.ts';
import type { Constraint } from './operators.ts';

const say = {
  noValue: (op: string) => `no value: ${op} takes none`,
  groupBy: 'an integer for GROUP_BY (the least number of values to spread over, e.g. "3"), or no value',
  maxPer: 'an integer for MAX_PER (the most instances per value, e.g. "2")',
  regex: (op: string) => `a Java regular expression for ${op}, matched against the whole value (e.g. "eu-.*")`,
  refusedRegex: (value: string, reason: string) => `"${value}": ${reason}`,
  is: 'a text or number for IS (letters, digits and _ / . -): ranges and sets cannot be compared',
};

/** Which part of `[field, OPERATOR, value]` is wrong, what was expected there and what was found. */
export interface ConstraintProblem {
  /** 1 when the value is missing (the operator wants one), 2 when the value is wrong. */
  part: 1 | 2;
  expected: string;
  found: string;
}

/** Java's Integer.parseInt: an optional sign, digits, within 32 bits. */
export function isJavaInt(value: string): boolean {
  if (!/^[+-]?[0-9]+$/.test(value)) return false;
  const n = Number(value);
  return n >= -(2 ** 31) && n <= 2 ** 31 - 1;
}

/** Marathon's MesosLiteralOrFloatValue: what IS can compare. */
const IS_VALUE = /^[a-zA-Z0-9_/.-]+$/;

export function checkConstraint([, operator, value]: Readonly<Constraint>): ConstraintProblem | null {
  const missing = (expected: string): ConstraintProblem => ({ part: 1, expected, found: 'no value' });
  const wrong = (expected: string, found = `"${value}"`): ConstraintProblem => ({ part: 2, expected, found });
  switch (operator) {
    case 'UNIQUE':
      return value === undefined ? null : wrong(say.noValue(operator));
    case 'CLUSTER':
      return null;
    case 'GROUP_BY':
      return value === undefined || isJavaInt(value) ? null : wrong(say.groupBy);
    case 'MAX_PER':
      if (value === undefined) return missing(say.maxPer);
      return isJavaInt(value) ? null : wrong(say.maxPer);
    case 'LIKE':
    case 'UNLIKE': {
      if (value === undefined) return missing(say.regex(operator));
      if (value === '') return wrong(say.regex(operator));
      const compiled = compileJavaRegex(value);
      return compiled.kind === 'regex' ? null : wrong(say.regex(operator), say.refusedRegex(value, compiled.reason));
    }
    case 'IS':
      if (value === undefined) return missing(say.is);
      return IS_VALUE.test(value) ? null : wrong(say.is);
  }
}
