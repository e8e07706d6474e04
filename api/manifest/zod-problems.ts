// zod issues → problems a person can act on: the field path, what was expected in plain words, what
// was found, and for unknown fields the fields that are allowed; a near miss of an allowed field or
// value (`comand`, `uniq`) gets a "did you mean" naming the right spelling.
import { z } from 'zod';
import { authorMessageFor } from '../kinds/author-messages.ts';
import type { FieldProblem } from '../kinds/registry.ts';
import type { Path } from './parse.ts';

// Every sentence this module says, in one place.
const say = {
  didYouMean: (found: string, suggestion: string) => `${found} (did you mean "${suggestion}"?)`,
  knownField: (known: string[]) => (known.length ? `a known field (${known.join(', ')})` : 'no field here'),
  unknownField: (key: string) => `unknown field "${key}"`,
  // zod issue codes → what was expected
  type: {
    string: 'a string',
    number: 'a number',
    int: 'an integer',
    boolean: 'true or false',
    object: 'a mapping',
    record: 'a mapping',
    array: 'a list',
    tuple: 'a list',
    literal: 'a fixed value',
  } as Record<string, string>,
  required: (what: string) => `${what} (required)`,
  atLeast: (min: number | bigint, inclusive: boolean) => (inclusive ? `a number of at least ${min}` : `a number above ${min}`),
  atMost: (max: number | bigint, inclusive: boolean) => (inclusive ? `a number of at most ${max}` : `a number below ${max}`),
  minItems: (min: number | bigint) => (min === 1 ? 'a list with at least one item' : `a list of at least ${min} items`),
  maxItems: (max: number | bigint) => `a list of at most ${max} items`,
  minLength: (min: number | bigint) => (min === 1 ? 'a non-empty string' : `a string of at least ${min} characters`),
  maxLength: (max: number | bigint) => `a string of at most ${max} characters`,
  pattern: (pattern: string) => `text matching ${pattern}`,
  startsWith: (prefix: string) => `text starting with "${prefix}"`,
  format: (format: string) => `a valid ${format}`,
  oneOf: (values: readonly unknown[]) => (values.length === 1 ? showLiteral(values[0]) : `one of ${values.map(showLiteral).join(', ')}`),
  discriminator: (field: string, options: readonly unknown[]) => `a ${field} of ${options.map(showLiteral).join(', ')}`,
  anyForm: 'one of the accepted forms',
  multipleOf: (divisor: number | bigint) => `a multiple of ${divisor}`,
  validKey: 'a valid key',
  validValue: 'a valid value',
  // what was found
  nothing: 'nothing',
  emptyList: 'an empty list',
  list: (n: number) => `a list of ${n} item${n === 1 ? '' : 's'}`,
  mapping: 'a mapping',
} as const;

function showLiteral(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** What a value is, briefly: the value itself when short, its shape otherwise. */
export function describeValue(value: unknown): string {
  if (value === undefined) return say.nothing;
  if (Array.isArray(value)) return value.length === 0 ? say.emptyList : say.list(value.length);
  if (value !== null && typeof value === 'object') return say.mapping;
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  return String(value);
}


type Issue = z.core.$ZodIssue;

/** The per-parse error map: every issue's message becomes what was expected, in our words. */
function expectedFor(issue: z.core.$ZodRawIssue): string {
  switch (issue.code) {
    case 'invalid_type': {
      const what = say.type[issue.expected] ?? `a ${issue.expected}`;
      return issue.input === undefined ? say.required(what) : what;
    }
    case 'too_small':
      if (issue.origin === 'array' || issue.origin === 'set') return say.minItems(issue.minimum);
      if (issue.origin === 'string') return say.minLength(issue.minimum);
      return say.atLeast(issue.minimum, issue.inclusive ?? true);
    case 'too_big':
      if (issue.origin === 'array' || issue.origin === 'set') return say.maxItems(issue.maximum);
      if (issue.origin === 'string') return say.maxLength(issue.maximum);
      return say.atMost(issue.maximum, issue.inclusive ?? true);
    case 'invalid_format':
      if (issue.format === 'regex') return say.pattern(String(issue.pattern));
      if (issue.format === 'starts_with') return say.startsWith(String((issue as { prefix?: string }).prefix ?? ''));
      return say.format(issue.format);
    case 'invalid_value':
      return issue.input === undefined ? say.required(say.oneOf(issue.values)) : say.oneOf(issue.values);
    case 'invalid_union': {
      const { discriminator, options } = issue as { discriminator?: string; options?: unknown[] };
      return discriminator && options ? say.discriminator(discriminator, options) : say.anyForm;
    }
    case 'not_multiple_of':
      return say.multipleOf(issue.divisor);
    case 'invalid_key':
      return issue.issues[0]?.message ?? say.validKey;
    case 'invalid_element':
      return say.validValue;
    default:
      return issue.message ?? say.validValue;
  }
}

/** Parses `value` with `schema`; on failure, every issue as field problems relative to `prefix`. */
export function parseWith(schema: z.ZodType, value: unknown, prefix: Path): { data: unknown } | { problems: FieldProblem[] } {
  const result = schema.safeParse(value, { error: expectedFor, reportInput: true });
  if (result.success) return { data: result.data };
  return { problems: result.error.issues.flatMap((issue) => problemsOfIssue(issue, schema, value, prefix)) };
}

function problemsOfIssue(issue: Issue, schema: z.ZodType, value: unknown, prefix: Path): FieldProblem[] {
  const path = issue.path.filter((segment): segment is string | number => typeof segment !== 'symbol');
  if (issue.code === 'unrecognized_keys') {
    const known = knownFields(schema, path, value);
    return issue.keys.map((key) => ({
      path: [...prefix, ...path, key],
      expected: say.knownField(known),
      found: withSuggestion(say.unknownField(key), key, known),
    }));
  }
  const found = issue.code === 'invalid_key' ? JSON.stringify(path.at(-1)) : describeValue(valueAt(value, path));
  const spelling = rightSpelling(issue, valueAt(value, path));
  const author = authorMessageFor(schema, path, issue);
  const missing = issue.code === 'invalid_type' && issue.input === undefined;
  const expected = author === undefined ? issue.message : missing ? say.required(author) : author;
  return [{ path: [...prefix, ...path], expected, found: spelling ? say.didYouMean(found, spelling) : found }];
}

/**
 * For a value that is one of a fixed set but for its spelling (`uniq` for UNIQUE, `http` for a
 * health check's HTTP): the value meant. Constraint operators are read in any case (as Marathon
 * reads them), so only a misspelt one gets here.
 */
export function rightSpelling(issue: Issue, found: unknown): string | undefined {
  if (typeof found !== 'string') return undefined;
  const allowed = issue.code === 'invalid_value' ? issue.values : issue.code === 'invalid_union' ? ((issue as { options?: unknown[] }).options ?? []) : [];
  return suggestion(found, allowed.filter((v): v is string => typeof v === 'string'));
}

export function valueAt(value: unknown, path: Path): unknown {
  let current = value;
  for (const segment of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string | number, unknown>)[segment];
  }
  return current;
}

/** The field names the schema allows at `path` of `value`, for "unknown field" messages. */
export function knownFields(schema: z.ZodType, path: Path, value: unknown): string[] {
  let current: z.ZodType | undefined = schema;
  let data = value;
  for (const segment of path) {
    current = childSchema(current, segment, data);
    data = valueAt(data, [segment]);
    if (!current) return [];
  }
  return fieldsOf(current, data);
}

type SchemaDef = {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  items?: z.ZodType[];
  valueType?: z.ZodType;
  options?: z.ZodType[];
  discriminator?: string;
  values?: unknown[];
};

const defOf = (schema: z.ZodType) => schema._zod.def as unknown as SchemaDef;

/** Looks through optional, default, prefault, nullable and pipe wrappers. */
function unwrap(schema: z.ZodType): z.ZodType {
  let current = schema;
  for (;;) {
    const def = defOf(current);
    const inner = def.innerType ?? (def.type === 'pipe' ? def.in : undefined);
    if (!inner) return current;
    current = inner;
  }
}

/** A union's options that can describe `data`: for a discriminated union, the one its discriminator picks. */
function optionsFor(def: SchemaDef, data: unknown): z.ZodType[] {
  const options = def.options ?? [];
  if (!def.discriminator) return options;
  const tag = valueAt(data, [def.discriminator]);
  const chosen = options.filter((option) => {
    const field = defOf(unwrap(option)).shape?.[def.discriminator!];
    return field !== undefined && (defOf(field).values ?? []).includes(tag);
  });
  return chosen.length ? chosen : options;
}

function childSchema(schema: z.ZodType, segment: string | number, data: unknown): z.ZodType | undefined {
  const def = defOf(unwrap(schema));
  if (def.type === 'object') return def.shape?.[String(segment)];
  if (def.type === 'array') return def.element;
  if (def.type === 'tuple') return typeof segment === 'number' ? def.items?.[segment] : undefined;
  if (def.type === 'record') return def.valueType;
  if (def.type === 'union') {
    for (const option of optionsFor(def, data)) {
      const child = childSchema(option, segment, data);
      if (child) return child;
    }
  }
  return undefined;
}

function fieldsOf(schema: z.ZodType, data: unknown): string[] {
  const def = defOf(unwrap(schema));
  if (def.type === 'object') return Object.keys(def.shape ?? {});
  if (def.type === 'union') return [...new Set(optionsFor(def, data).flatMap((option) => fieldsOf(option, data)))];
  return [];
}

export function withSuggestion(found: string, key: string, known: string[]): string {
  const close = suggestion(key, known);
  return close ? say.didYouMean(found, close) : found;
}

/**
 * Words other systems use for a field, suggested when that field is allowed where the word was
 * written: Kubernetes' `command` and `replicas`, Marathon's `portDefinitions`.
 */
const SYNONYMS: Readonly<Record<string, readonly string[]>> = {
  cmd: ['command'],
  instances: ['replicas'],
  mem: ['memory'],
  ports: ['portDefinitions', 'portMappings'],
};

/**
 * A suggestion is at most this many edits away (ignoring case), and at most half the written word's
 * length, so that a short unrelated name (`id` for `cmd`) is never offered.
 */
const MAX_EDITS = 2;

/**
 * The allowed name closest to `written` (ignoring case, counting a known synonym as its field),
 * within MAX_EDITS, or undefined. `comand` → `cmd` (through `command`), `uniq` → `UNIQUE`.
 */
export function suggestion(written: string, allowed: readonly string[]): string | undefined {
  const limit = Math.min(MAX_EDITS, Math.floor(written.length / 2));
  let best: { name: string; edits: number } | undefined;
  for (const name of allowed) {
    for (const spelling of [name, ...(SYNONYMS[name] ?? [])]) {
      const edits = editDistance(spelling.toLowerCase(), written.toLowerCase());
      if (edits <= limit && (!best || edits < best.edits)) best = { name, edits };
    }
  }
  return best && best.name !== written ? best.name : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = row;
  }
  return previous[b.length]!;
}

