// Manifests: YAML (or JSON) text → validated, defaulted objects, or every problem with its
// file:line:column, the field path, what was expected and what was found. The kinds say what is
// valid (zod schema, check, checkAgainstStore); this module says where and in which words.
//
// What it stands on lives beside it: manifest/parse.ts (text → documents with positions),
// manifest/zod-problems.ts (schema issues → expected/found in plain words, with the right spelling
// of a near miss) and manifest/repair.ts (a spec with schema problems, repaired so that the kind's
// rules across fields still run and every problem is listed in one pass).
import { z } from 'zod';
import { DEFAULT_NAMESPACE, DNS_LABEL, DNS_LABEL_MAX } from './object.ts';
import type { AnyObject, ObjectMeta } from './object.ts';
import { loadCustomKinds } from './kinds/custom.ts';
import { HOW_KINDS_ARE_REGISTERED, KindRegistry } from './kinds/registry.ts';
import type { FieldProblem, KindDefinition, StoreReader } from './kinds/registry.ts';
import type { ManifestDocument, Path, Position, Problem } from './manifest/parse.ts';
import { overlaps, repairForChecks } from './manifest/repair.ts';
import { describeValue, parseWith, valueAt, withSuggestion } from './manifest/zod-problems.ts';

export { parseManifests } from './manifest/parse.ts';
export type { ManifestDocument, Path, Position, Problem } from './manifest/parse.ts';
export { describeValue } from './manifest/zod-problems.ts';

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
  document: 'an object with apiVersion, kind, metadata and spec',
  apiVersion: (version: string, kind: string) => `apiVersion "${version}" for kind ${kind}`,
  knownKind: (known: string[]) => `a known kind (${known.join(', ')}; ${HOW_KINDS_ARE_REGISTERED.replace(/^A/, 'a')})`,
  didYouMean: (found: string, suggestion: string) => `${found} (did you mean "${suggestion}"?)`,
  dnsLabel: `a DNS label: lowercase letters, digits and "-", starting and ending with a letter or digit, at most ${DNS_LABEL_MAX} characters`,
  name: 'metadata.name, a DNS label',
  labelValue: 'a string (quote numbers and booleans in YAML: "2", "true")',
  noNamespace: (kind: string) => `no namespace: ${kind} is cluster-scoped`,
  unique: 'each object once in the input',
  again: (what: string, first: Position & { file: string }) => `${what} again (first at ${first.file}:${first.line}:${first.column})`,
  customKind: (reason: string) => reason.replace(/^expected /, ''),
  required: (what: string) => `${what} (required)`,
} as const;

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
  const specValue = valueAt(value, ['spec']) ?? {};
  const spec = parseWith(definition.spec, specValue, ['spec']);
  const metadata = 'data' in envelope ? (envelope.data as z.infer<typeof envelopeSchema>).metadata : rawMetadata(value);
  const objectWith = (specData: unknown): AnyObject => ({
    apiVersion: definition.apiVersion,
    kind: definition.kind,
    metadata: userMetadata(metadata, definition.namespaced ? (metadata.namespace ?? DEFAULT_NAMESPACE) : undefined),
    spec: specData,
  });
  // The cross-field rules need a well-formed spec, not a well-formed document: they run even when the
  // metadata is wrong, and on a repaired copy of a spec with schema problems, so one pass reports all.
  if ('problems' in spec) {
    problems.push(...spec.problems);
    const repaired = definition.check && repairForChecks(definition.spec, specValue);
    if (repaired) {
      const changed = repaired.paths.map((path) => ['spec', ...path]);
      const restsOnChange = (p: FieldProblem) => [p.path, ...(p.reads ?? [])].some((read) => changed.some((path) => overlaps(read, path)));
      problems.push(...definition.check!(objectWith(repaired.data)).filter((p) => !restsOnChange(p)));
    }
    return { definition, problems };
  }
  const object = objectWith(spec.data);
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
  return problems.map((p) => ({ file: doc.file, ...doc.locate(p.path), path: doc.describe?.(p.path) ?? formatPath(p.path), expected: p.expected, found: p.found }));
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
