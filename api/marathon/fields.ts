// Which fields of a Marathon object the translation reads, which it ignores as Marathon does (the
// read-only fields a GET returns and clients echo back on PUT), and which Capstan cannot honour:
// those are accepted only when unset or at Marathon's default, so a definition read from Marathon
// round-trips, and rejected otherwise with why. Any other field is rejected as unknown, with the
// nearest known name: a typo is never silently dropped.
import { suggestion } from '../manifest/zod-problems.ts';
import { isRecord, isUnset } from './problems.ts';
import type { Path, Translation } from './problems.ts';

export type FieldRule =
  | 'read'
  | 'ignored'
  /** Not honoured: fine when `accepts` the value (default: unset), else a problem saying `why`. */
  | { why: string; accepts?: (value: unknown) => boolean };

/** Beyond this many, the known fields are too many to list in one message (an app has about 30). */
const MAX_LISTED = 12;

const say = {
  unknown: (kind: string, known: string[]) =>
    known.length <= MAX_LISTED ? `a field of a Marathon ${kind} (${known.join(', ')})` : `a field of a Marathon ${kind} (Marathon's REST API reference lists them)`,
  unknownFound: (field: string, close: string | undefined) => (close ? `"${field}" (did you mean "${close}"?)` : `"${field}"`),
  object: (kind: string) => `a Marathon ${kind}: a JSON object`,
  notHonoured: (why: string) => `no value: Capstan cannot honour it (${why}); remove it`,
};

/** Checks every field of `value` (at `field` in the document) against `rules`; false when it is no object. */
export function checkFields(t: Translation, value: unknown, field: Path, kind: string, rules: Readonly<Record<string, FieldRule>>): value is Record<string, unknown> {
  if (!isRecord(value)) {
    t.problem(field, say.object(kind), value);
    return false;
  }
  const known = Object.keys(rules).filter((name) => rules[name] !== 'ignored');
  for (const [name, item] of Object.entries(value)) {
    const rule = rules[name];
    if (rule === undefined) {
      t.problems.push({ path: t.at(...field, name), expected: say.unknown(kind, known), found: say.unknownFound(name, suggestion(name, known)) });
    } else if (typeof rule === 'object' && !(rule.accepts ?? isUnset)(item)) {
      t.problem([...field, name], say.notHonoured(rule.why), item);
    }
  }
  return true;
}

export const isFalse = (value: unknown) => value === undefined || value === null || value === false;
