// A spec with schema problems, repaired just enough for the kind's rules across fields (`check`) to
// run on it, so that one pass lists both kinds of problem: a GROUP_BY `many` is reported along with
// a misspelt field of the same App, not only once that field is fixed.
//
// Each repair is the least that makes one issue go away: an unknown field is renamed to the field
// its suggestion names (or dropped); a value that is one of a fixed set but for its spelling becomes
// the suggested one; any other wrong value is removed, so its default applies, and a required one
// that is missing removes the field holding it. A list item is never removed (the later items'
// indexes, and so the paths the rules report, would shift): the spec is then left unrepaired and
// its rules unchecked, as they must be when nothing sensible can stand in for a value.
import type { z } from 'zod';
import type { Path } from './parse.ts';
import { knownFields, rightSpelling, suggestion, valueAt } from './zod-problems.ts';

/** Every repair removes or renames one field or value, so a spec needing more rounds is left alone. */
const MAX_ROUNDS = 16;

export interface Repaired {
  /** The spec as the schema parses it once repaired. */
  data: unknown;
  /** Where it was changed: the rules' findings at, above or below these paths are not to be trusted. */
  paths: Path[];
}

type Issue = z.core.$ZodIssue;
type Holder = Record<string | number, unknown>;

/** `value` repaired until `schema` accepts it, or undefined when a problem cannot be repaired. */
export function repairForChecks(schema: z.ZodType, value: unknown): Repaired | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  // A copy: the document's value is what problems are located and described against.
  let current: unknown = structuredClone(value);
  const paths: Path[] = [];
  for (let round = 0; round < MAX_ROUNDS; round += 1) {
    const result = schema.safeParse(current);
    if (result.success) return { data: result.data, paths };
    for (const issue of result.error.issues) {
      const repaired = repairIssue(schema, current, issue);
      if (!repaired) return undefined;
      paths.push(...repaired);
    }
  }
  return undefined;
}

/** Repairs one issue in place; returns the paths it changed, or undefined when it cannot. */
function repairIssue(schema: z.ZodType, root: unknown, issue: Issue): Path[] | undefined {
  const path = issue.path.filter((segment): segment is string | number => typeof segment !== 'symbol');
  if (issue.code === 'unrecognized_keys') return renameOrDrop(schema, root, path, issue.keys);
  const found = valueAt(root, path);
  const spelling = rightSpelling(issue, found);
  const parent = valueAt(root, path.slice(0, -1));
  if (spelling !== undefined && isHolder(parent)) {
    parent[path.at(-1)!] = spelling;
    return [path];
  }
  return remove(root, path);
}

function renameOrDrop(schema: z.ZodType, root: unknown, path: Path, keys: readonly string[]): Path[] | undefined {
  const holder = valueAt(root, path);
  if (!isHolder(holder)) return undefined;
  const known = knownFields(schema, path, root);
  for (const key of keys) {
    const target = suggestion(key, known);
    if (target !== undefined && holder[target] === undefined) holder[target] = holder[key];
    delete holder[key];
  }
  return keys.map((key) => [...path, key]);
}

/** Removes the value at `path`; a missing (required) value removes the field that holds it. */
function remove(root: unknown, path: Path): Path[] | undefined {
  for (let at = path; at.length > 0; at = at.slice(0, -1)) {
    const last = at.at(-1)!;
    if (typeof last === 'number') return undefined;
    const holder = valueAt(root, at.slice(0, -1));
    if (!isHolder(holder)) return undefined;
    if (holder[last] !== undefined) {
      delete holder[last];
      return [at];
    }
  }
  return undefined;
}

function isHolder(value: unknown): value is Holder {
  return value !== null && typeof value === 'object';
}

/** Whether one path lies on the other (equal, above or below it). */
export function overlaps(a: Path, b: Path): boolean {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i += 1) if (a[i] !== b[i]) return false;
  return true;
}
