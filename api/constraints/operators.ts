// Marathon's constraint operators. Marathon reads them in any case (`unique` is UNIQUE) and stores
// them upper-case; Capstan does the same when it parses a spec (app.ts), so an App stores one
// spelling, re-applying a manifest written in lower case is `unchanged`, and changing only the case
// of an operator makes no new revision (a rollout for nothing).

export const CONSTRAINT_OPERATORS = ['UNIQUE', 'CLUSTER', 'GROUP_BY', 'LIKE', 'UNLIKE', 'MAX_PER', 'IS'] as const;
export type ConstraintOperator = (typeof CONSTRAINT_OPERATORS)[number];

/** `[field, OPERATOR, value?]` as stored: operator upper-case, a numeric value as its string. */
export type Constraint = [field: string, operator: ConstraintOperator, value?: string | undefined];

/** The operator as stored: `unique` is UNIQUE. What is still no operator is left for the schema to refuse. */
export const normalizeOperator = (written: string): string => written.toUpperCase();
