// Manifests: YAML (or JSON) text → validated, defaulted objects, or every problem with its
// file:line:column, the field path, what was expected and what was found. The kinds say what is
// valid (zod schema, check, checkAgainstStore); this module says where and in which words.
import { CORE_SCHEMA, loadAll } from 'js-yaml';
import { LineCounter, isMap, isScalar, isSeq, parseAllDocuments } from 'yaml';
import type { Node as YamlNode } from 'yaml';
import { z } from 'zod';
import { DEFAULT_NAMESPACE, DNS_LABEL, DNS_LABEL_MAX } from './object.ts';
import type { AnyObject, ObjectMeta } from './object.ts';
import { loadCustomKinds } from './kinds/custom.ts';
import { KindRegistry } from './kinds/registry.ts';
import type { FieldProblem, KindDefinition, StoreReader } from './kinds/registry.ts';

export type Path = (string | number)[];

export interface Position {
  line: number;
  column: number;
}

export interface ManifestDocument {
  file: string;
  /** 0-based index of the document in its file, counting empty documents too. */
  index: number;
  /** The document as plain JavaScript. */
  value: unknown;
  /** Where the field at `path` is written, or its nearest parent that is. */
  locate(path: Path): Position;
}

export interface Problem extends Position {
  file: string;
  /** Like `spec.containers[0].cmd`; empty for the document as a whole. */
  path: string;
  expected: string;
  found: string;
}

export interface Validation {
  objects: AnyObject[];
  problems: Problem[];
}

export interface ValidateOptions {
  /** When given, rules spanning objects in the store (unique service ports) are checked too. */
  store?: StoreReader;
}

// ---------------------------------------------------------------------------------------------
// Every sentence this module says, in one place.

const say = {
  yaml: 'valid YAML',
  document: 'an object with apiVersion, kind, metadata and spec',
  apiVersion: (version: string, kind: string) => `apiVersion "${version}" for kind ${kind}`,
  knownKind: (known: string[]) => `a known kind (${known.join(', ')})`,
  didYouMean: (found: string, suggestion: string) => `${found} (did you mean "${suggestion}"?)`,
  dnsLabel: `a DNS label: lowercase letters, digits and "-", starting and ending with a letter or digit, at most ${DNS_LABEL_MAX} characters`,
  name: 'metadata.name, a DNS label',
  labelValue: 'a string (quote numbers and booleans in YAML: "2", "true")',
  noNamespace: (kind: string) => `no namespace: ${kind} is cluster-scoped`,
  unique: 'each object once in the input',
  again: (what: string, first: Position & { file: string }) => `${what} again (first at ${first.file}:${first.line}:${first.column})`,
  knownField: (known: string[]) => (known.length ? `a known field (${known.join(', ')})` : 'no field here'),
  unknownField: (key: string) => `unknown field "${key}"`,
  customKind: (reason: string) => reason.replace(/^expected /, ''),
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

export function formatPath(path: Path): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(segment)) text += text ? `.${segment}` : segment;
    else text += `[${JSON.stringify(segment)}]`;
  }
  return text;
}

/** `manifests/web.yaml:12:9: spec.containers[0].cmd: expected ..., found ...` */
export function formatProblem(problem: Problem): string {
  const where = `${problem.file}:${problem.line}:${problem.column}`;
  return `${where}: ${problem.path ? `${problem.path}: ` : ''}expected ${problem.expected}, found ${problem.found}`;
}

// ---------------------------------------------------------------------------------------------
// Parsing

/** Splits the text into documents; YAML syntax errors become problems and their documents are dropped. */
export function parseManifests(text: string, file: string): { documents: ManifestDocument[]; problems: Problem[] } {
  return parseFast(text, file) ?? parseLocated(text, file);
}

/**
 * The common case, valid YAML, parsed by js-yaml (several times faster than building the `yaml`
 * package's syntax tree). Positions are needed only to report a problem, so the tree with positions
 * is built the first time a document is asked where a field is, once per file. Any YAML error sends
 * the whole file through the located parser instead, which reports it with its line.
 */
function parseFast(text: string, file: string): { documents: ManifestDocument[]; problems: Problem[] } | undefined {
  let values: unknown[];
  try {
    values = loadAll(text, undefined, { schema: CORE_SCHEMA, filename: file });
  } catch {
    return undefined;
  }
  let located: ManifestDocument[] | undefined;
  const locatedDocument = (ordinal: number) => {
    located ??= parseLocated(text, file).documents;
    return located[ordinal];
  };
  const documents: ManifestDocument[] = [];
  values.forEach((value, index) => {
    if (value === null || value === undefined) return;
    const ordinal = documents.length;
    documents.push({ file, index, value, locate: (path) => locatedDocument(ordinal)?.locate(path) ?? { line: 1, column: 1 } });
  });
  return { documents, problems: [] };
}

function parseLocated(text: string, file: string): { documents: ManifestDocument[]; problems: Problem[] } {
  const lineCounter = new LineCounter();
  const parsed = parseAllDocuments(text, { lineCounter, prettyErrors: false });
  const documents: ManifestDocument[] = [];
  const problems: Problem[] = [];
  const at = (offset: number): Position => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  parsed.forEach((document, index) => {
    if (document.errors.length > 0) {
      for (const error of document.errors) problems.push({ file, ...at(error.pos[0]), path: '', expected: say.yaml, found: yamlErrorText(error.message) });
      return;
    }
    // A document that is empty or only comments (a trailing `---`, say) is not an object to apply.
    if (document.contents === null || (isScalar(document.contents) && document.contents.value === null)) return;
    let value: unknown;
    try {
      value = document.toJS({ maxAliasCount: 100 });
    } catch (error) {
      problems.push({ file, ...at(document.contents.range[0]), path: '', expected: say.yaml, found: yamlErrorText((error as Error).message) });
      return;
    }
    const root = document.contents;
    documents.push({ file, index, value, locate: (path) => at(offsetOf(root, path)) });
  });
  return { documents, problems };
}

function yamlErrorText(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '').trim();
}

/**
 * The offset where `path` is written: a mapping entry's key (so the column points at the field's
 * name), a list's item, or — when the path goes past what the document holds — the deepest part
 * that exists.
 */
function offsetOf(root: YamlNode, path: Path): number {
  let node: unknown = root;
  let offset = root.range?.[0] ?? 0;
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(segment));
      if (!pair) return offset;
      offset = (isScalar(pair.key) && pair.key.range?.[0]) || offset;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number' && node.items[segment]) {
      node = node.items[segment];
      offset = (node as YamlNode).range?.[0] ?? offset;
    } else {
      return offset;
    }
  }
  return offset;
}

// ---------------------------------------------------------------------------------------------
// From zod issues to problems

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
function parseWith(schema: z.ZodType, value: unknown, prefix: Path): { data: unknown } | { problems: FieldProblem[] } {
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
  return [{ path: [...prefix, ...path], expected: issue.message, found }];
}

function valueAt(value: unknown, path: Path): unknown {
  let current = value;
  for (const segment of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string | number, unknown>)[segment];
  }
  return current;
}

/** The field names the schema allows at `path` of `value`, for "unknown field" messages. */
function knownFields(schema: z.ZodType, path: Path, value: unknown): string[] {
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

function withSuggestion(found: string, key: string, known: string[]): string {
  const close = known.find((name) => editDistance(name.toLowerCase(), key.toLowerCase()) <= 2);
  return close ? say.didYouMean(found, close) : found;
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

// ---------------------------------------------------------------------------------------------
// The envelope

const dnsLabel = z.string().max(DNS_LABEL_MAX, { error: say.dnsLabel }).regex(DNS_LABEL, { error: say.dnsLabel });
const stringMap = z.record(z.string(), z.string({ error: say.labelValue }));

/**
 * Fields the store sets (uid, resourceVersion, generation, timestamps) are accepted and dropped, so
 * that the output of `capstan get -o yaml` can be applied again as it is.
 */
const metadataSchema = z.strictObject({
  name: z.string({ error: (issue) => (issue.input === undefined ? say.required(say.name) : undefined) }).pipe(dnsLabel),
  namespace: dnsLabel.optional(),
  labels: stringMap.optional(),
  annotations: stringMap.optional(),
  finalizers: z.array(z.string().min(1)).optional(),
  ownerReferences: z
    .array(
      z.strictObject({
        apiVersion: z.string(),
        kind: z.string(),
        name: z.string(),
        uid: z.string(),
        controller: z.boolean().optional(),
        blockOwnerDeletion: z.boolean().optional(),
      }),
    )
    .optional(),
  uid: z.unknown().optional(),
  resourceVersion: z.unknown().optional(),
  generation: z.unknown().optional(),
  creationTimestamp: z.unknown().optional(),
  deletionTimestamp: z.unknown().optional(),
});

/** status is the controllers' to write: a manifest may carry one (from `get -o yaml`); it is ignored. */
const envelopeSchema = z.strictObject({
  apiVersion: z.string(),
  kind: z.string(),
  metadata: metadataSchema,
  spec: z.unknown().optional(),
  status: z.unknown().optional(),
});

function userMetadata(metadata: z.infer<typeof metadataSchema>, namespace: string | undefined): ObjectMeta {
  const { name, labels, annotations, finalizers, ownerReferences } = metadata;
  const kept: ObjectMeta = { name };
  if (namespace !== undefined) kept.namespace = namespace;
  if (labels) kept.labels = labels;
  if (annotations) kept.annotations = annotations;
  if (finalizers) kept.finalizers = finalizers;
  if (ownerReferences) kept.ownerReferences = ownerReferences;
  return kept;
}

// ---------------------------------------------------------------------------------------------
// Validation

interface Checked {
  object?: AnyObject;
  definition?: KindDefinition;
  problems: FieldProblem[];
}

function findKind(value: unknown, registry: KindRegistry): { definition?: KindDefinition; problems: FieldProblem[] } {
  const kind = valueAt(value, ['kind']);
  if (typeof kind !== 'string') return { problems: [] }; // the envelope schema reports it
  const definition = registry.find(kind);
  if (definition && definition.kind === kind) return { definition, problems: [] };
  const known = registry.kinds().map((d) => d.kind);
  const found = definition ? say.didYouMean(describeValue(kind), definition.kind) : withSuggestion(describeValue(kind), kind, known);
  return { problems: [{ path: ['kind'], expected: say.knownKind(known), found }] };
}

/** Everything about one object that needs no other object: envelope, metadata, spec, check(). */
function checkShape(value: unknown, registry: KindRegistry): Checked {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { problems: [{ path: [], expected: say.document, found: describeValue(value) }] };
  }
  const envelope = parseWith(envelopeSchema, value, []);
  const { definition, problems } = findKind(value, registry);
  if ('problems' in envelope) problems.push(...envelope.problems);
  if (!definition) return { problems };

  const apiVersion = valueAt(value, ['apiVersion']);
  if (typeof apiVersion === 'string' && apiVersion !== definition.apiVersion) {
    problems.push({ path: ['apiVersion'], expected: say.apiVersion(definition.apiVersion, definition.kind), found: describeValue(apiVersion) });
  }
  const namespace = valueAt(value, ['metadata', 'namespace']);
  if (!definition.namespaced && namespace !== undefined) {
    problems.push({ path: ['metadata', 'namespace'], expected: say.noNamespace(definition.kind), found: describeValue(namespace) });
  }
  // A missing spec is an empty one, so the problems name the fields that are actually required.
  const spec = parseWith(definition.spec, valueAt(value, ['spec']) ?? {}, ['spec']);
  if ('problems' in spec) return { definition, problems: [...problems, ...spec.problems] };

  // The cross-field rules need a well-formed spec, not a well-formed envelope: run them even when the
  // metadata is wrong, so one pass reports both.
  const metadata = 'data' in envelope ? (envelope.data as z.infer<typeof envelopeSchema>).metadata : rawMetadata(value);
  const object: AnyObject = {
    apiVersion: definition.apiVersion,
    kind: definition.kind,
    metadata: userMetadata(metadata, definition.namespaced ? (metadata.namespace ?? DEFAULT_NAMESPACE) : undefined),
    spec: spec.data,
  };
  problems.push(...(definition.check?.(object) ?? []));
  return problems.length ? { definition, problems } : { object, definition, problems };
}

/** Name and namespace as written, for the cross-field rules of an object whose metadata is invalid. */
function rawMetadata(value: unknown): z.infer<typeof metadataSchema> {
  const name = valueAt(value, ['metadata', 'name']);
  const namespace = valueAt(value, ['metadata', 'namespace']);
  return { name: typeof name === 'string' ? name : '', namespace: typeof namespace === 'string' ? namespace : undefined };
}

function toProblems(doc: ManifestDocument, problems: FieldProblem[]): Problem[] {
  return problems.map((p) => ({ file: doc.file, ...doc.locate(p.path), path: formatPath(p.path), expected: p.expected, found: p.found }));
}

/** Validates one document; store-wide rules run when `options.store` is given. */
export async function validateObject(doc: ManifestDocument, registry: KindRegistry, options: ValidateOptions = {}): Promise<Validation> {
  const checked = checkShape(doc.value, registry);
  const problems = toProblems(doc, checked.problems);
  if (checked.object && options.store && checked.definition?.checkAgainstStore) {
    problems.push(...toProblems(doc, await checked.definition.checkAgainstStore(checked.object, options.store)));
  }
  return { objects: checked.object && problems.length === 0 ? [checked.object] : [], problems };
}

const identity = (o: { kind: string; metadata: { namespace?: string; name: string } }) =>
  `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/**
 * Validates a set of documents as one apply. CustomKinds in the input are validated first and
 * their kinds made known, so a new kind and its objects can sit in the same file. Rules that span
 * objects see the store and the input together: two Apps of one apply claiming the same service port
 * collide just as much as one App against the store. `objects` holds the objects whose documents have
 * no problem, in input order; problems come sorted by file, line and column.
 */
export async function validateDocuments(docs: readonly ManifestDocument[], registry: KindRegistry, options: ValidateOptions = {}): Promise<Validation> {
  const isCustomKind = (doc: ManifestDocument) => valueAt(doc.value, ['kind']) === 'CustomKind';
  const results = new Map<ManifestDocument, Checked>();
  for (const doc of docs.filter(isCustomKind)) results.set(doc, checkShape(doc.value, registry));
  const extended = withCustomKinds(registry, docs.filter(isCustomKind), results);
  for (const doc of docs.filter((d) => !isCustomKind(d))) results.set(doc, checkShape(doc.value, extended));
  addDuplicates(docs, results);

  const objects = docs.flatMap((doc) => results.get(doc)!.object ?? []);
  const reader = overlayReader(options.store, objects);
  for (const doc of docs) {
    const { object, definition, problems } = results.get(doc)!;
    if (object && definition?.checkAgainstStore) problems.push(...(await definition.checkAgainstStore(object, reader)));
  }
  const problems = docs.flatMap((doc) => toProblems(doc, results.get(doc)!.problems));
  const clean = docs.flatMap((doc) => (results.get(doc)!.problems.length === 0 ? (results.get(doc)!.object ?? []) : []));
  return { objects: clean, problems: sortProblems(problems, docs) };
}

/** A copy of the registry that also knows the kinds the valid CustomKinds of the input declare. */
function withCustomKinds(registry: KindRegistry, docs: ManifestDocument[], results: Map<ManifestDocument, Checked>): KindRegistry {
  const valid = docs.filter((doc) => results.get(doc)!.object);
  if (valid.length === 0) return registry;
  // A copy: validating a file must not change the caller's registry.
  const extended = new KindRegistry();
  for (const definition of registry.kinds()) extended.register(definition);
  const { refused } = loadCustomKinds(extended, valid.map((doc) => results.get(doc)!.object!));
  for (const { name, reason } of refused) {
    const doc = valid.find((d) => results.get(d)!.object!.metadata.name === name)!;
    const found = describeValue(valueAt(doc.value, ['spec', 'names', 'kind']));
    results.set(doc, { problems: [{ path: ['spec', 'names', 'kind'], expected: say.customKind(reason), found }] });
  }
  return extended;
}

/** The second and later copies of one kind/namespace/name get a problem naming the first. */
function addDuplicates(docs: readonly ManifestDocument[], results: Map<ManifestDocument, Checked>): void {
  const first = new Map<string, ManifestDocument>();
  for (const doc of docs) {
    const result = results.get(doc)!;
    if (!result.object) continue;
    const key = identity(result.object);
    const earlier = first.get(key);
    if (!earlier) {
      first.set(key, doc);
      continue;
    }
    const { kind, metadata } = result.object;
    const what = `${kind} ${metadata.namespace ? `${metadata.namespace}/` : ''}${metadata.name}`;
    const firstAt = { file: earlier.file, ...earlier.locate(['metadata', 'name']) };
    result.problems.push({ path: ['metadata', 'name'], expected: say.unique, found: say.again(what, firstAt) });
  }
}

/** The store as it will be after this apply: stored objects, replaced or joined by the input's. */
function overlayReader(store: StoreReader | undefined, input: AnyObject[]): StoreReader {
  // One read of the store, and one overlay, per kind and namespace for the whole input: checking
  // 2,000 Apps must not list (or merge) the Apps 2,000 times. The input is fixed for the duration of
  // one validation, and the writes that follow are conditional anyway.
  const overlays = new Map<string, Promise<{ items: AnyObject[] }>>();
  const overlay = async (kind: string, options?: { namespace?: string }) => {
    const stored = store ? (await store.list(kind, options)).items : [];
    const incoming = input.filter((o) => o.kind === kind && (!options?.namespace || o.metadata.namespace === options.namespace));
    const replaced = new Set(incoming.map(identity));
    return { items: [...stored.filter((o) => !replaced.has(identity({ ...o, kind }))), ...incoming] };
  };
  return {
    list(kind, options) {
      const key = `${kind}/${options?.namespace ?? '*'}`;
      let result = overlays.get(key);
      if (!result) overlays.set(key, (result = overlay(kind, options)));
      return result;
    },
  };
}

function sortProblems(problems: Problem[], docs: readonly ManifestDocument[]): Problem[] {
  const fileOrder = [...new Set(docs.map((d) => d.file))];
  return [...problems].sort(
    (a, b) => fileOrder.indexOf(a.file) - fileOrder.indexOf(b.file) || a.line - b.line || a.column - b.column,
  );
}
