// One definition of a user's kind. `defineKind` takes what a controller author writes once — zod
// schemas for spec and status, the `get` columns as JSON paths — and gives both things Capstan needs
// from it:
//
// - the KindDefinition the controller's own process registers (the store validates with the zod
//   schema itself, defaults, cross-field `check` and all), typed end to end: `ctx.informer(kind)`
//   returns objects whose spec and status have the schemas' types;
// - the CustomKind object the CLI learns the kind from (it has none of the user's code): the spec's
//   JSON Schema, with each field's own zod message kept as `errorMessage` (ajv-errors' keyword), so
//   `capstan apply` says "a time of day as HH:MM" where zod's JSON Schema alone would show a regex.
//   The Manager installs it when it starts (installKinds below).
//
// What JSON Schema cannot say — the `check` function's cross-field rules, refinements — the CLI
// cannot check: the controller does, and reports with `invalid(field, message)`.
import { z } from 'zod';
import { API_VERSION, type AnyObject, type CapstanObject } from '../api/object.ts';
import type { Column, FieldProblem, KindDefinition } from '../api/kinds/registry.ts';
import { jsonPathValue, parseJsonPath, showColumnValue } from '../api/kinds/custom.ts';

const say = {
  kindName: (kind: string) => `defineKind: expected kind to be a name in PascalCase, e.g. "AppAlert", found "${kind}"`,
  noObjectSpec: (kind: string) => `defineKind ${kind}: expected spec to be a zod object schema (z.object or z.strictObject), found another type`,
  jsonPath: (kind: string, path: string) => `defineKind ${kind}: expected a column jsonPath like ".spec.size" or ".status.ready", found "${path}"`,
} as const;

/** A `get` column as a JSON path into the object, so the CLI shows it from the CustomKind alone. */
export interface KindColumn {
  header: string;
  /** `.spec.app`, `.status.instances`, `.spec.windows[0].from`. */
  jsonPath: string;
  /** Shown only with `-o wide`. */
  wide?: boolean;
}

export interface DefineKindOptions<Spec extends z.ZodType, Status extends z.ZodType | undefined> {
  /** PascalCase, e.g. "AppAlert". */
  kind: string;
  /** Default: the kind in lower case plus "s" ("appalerts"). */
  plural?: string;
  /** Default: the kind in lower case. */
  singular?: string;
  shortNames?: string[];
  /** Default "capstan/v1"; a group of your own ("example.com/v1") keeps names apart. */
  apiVersion?: string;
  /** Default true: objects live in a namespace, as Apps do. */
  namespaced?: boolean;
  spec: Spec;
  /** The status the controller writes: typed for it, and documented for `describe`. */
  status?: Status;
  columns?: KindColumn[];
  /** Cross-field rules, run wherever the kind is registered in code (the controller's store). */
  check?(object: CapstanObject<z.output<Spec>, StatusOf<Status>>): FieldProblem[];
}

type StatusOf<S> = S extends z.ZodType ? z.output<S> : Record<string, unknown>;

/** A kind made by `defineKind`: register it, watch it, and read its objects typed. */
export interface DefinedKind<Spec = unknown, Status = unknown> extends KindDefinition {
  /** The CustomKind object that teaches the CLI (and every other process) this kind. */
  customKindObject(): AnyObject;
  /** Types only: the shapes of this kind's spec and status. Never set. */
  readonly __types?: { spec: Spec; status: Status };
}

/** The object type of a defined kind: `KindObject<typeof appAlertKind>`. */
export type KindObject<K> = K extends DefinedKind<infer Spec, infer Status> ? CapstanObject<Spec, Status> : CapstanObject;

/** The label every CustomKind a controller installed carries, so a person sees where it came from. */
export const DEFINED_BY_LABEL = 'capstan.io/defined-by';

export function defineKind<Spec extends z.ZodType, Status extends z.ZodType | undefined = undefined>(
  options: DefineKindOptions<Spec, Status>,
): DefinedKind<z.output<Spec>, StatusOf<Status>> {
  const { kind, spec, status } = options;
  if (!/^[A-Z][A-Za-z0-9]*$/.test(kind)) throw new Error(say.kindName(kind));
  const plural = options.plural ?? `${kind.toLowerCase()}s`;
  const singular = options.singular ?? kind.toLowerCase();
  const shortNames = options.shortNames ?? [];
  const apiVersion = options.apiVersion ?? API_VERSION;
  const namespaced = options.namespaced ?? true;
  const kindColumns = options.columns ?? [];
  const columns: Column[] = kindColumns.map((column) => {
    const path = parseJsonPath(column.jsonPath);
    if (path.length === 0 || path.some((segment) => segment === '' || Number.isNaN(segment))) throw new Error(say.jsonPath(kind, column.jsonPath));
    return { header: column.header.toUpperCase(), wide: column.wide ?? false, value: (object) => showColumnValue(jsonPathValue(object, path)) };
  });
  const schema = specJsonSchema(kind, spec);
  const definition: DefinedKind<z.output<Spec>, StatusOf<Status>> = {
    apiVersion,
    kind,
    plural,
    singular,
    shortNames,
    namespaced,
    spec,
    ...(status ? { status } : {}),
    ...(options.check ? { check: options.check as KindDefinition['check'] } : {}),
    columns,
    customKindObject: () => ({
      apiVersion: API_VERSION,
      kind: 'CustomKind',
      metadata: { name: plural, labels: { [DEFINED_BY_LABEL]: 'controller' } },
      spec: {
        names: { kind, plural, singular, shortNames },
        apiVersion,
        scope: namespaced ? 'Namespaced' : 'Cluster',
        schema,
        columns: kindColumns.map((c) => ({ header: c.header, jsonPath: c.jsonPath, wide: c.wide ?? false })),
      },
    }),
  };
  return definition;
}

export function isDefinedKind(value: unknown): value is DefinedKind {
  return typeof value === 'object' && value !== null && typeof (value as DefinedKind).customKindObject === 'function';
}

/** The spec's JSON Schema as the CLI will read it (`io: 'input'`: defaulted fields are optional). */
function specJsonSchema(kind: string, spec: z.ZodType): Record<string, unknown> {
  const { $schema: _dialect, ...schema } = z.toJSONSchema(spec, {
    io: 'input',
    unrepresentable: 'any',
    override: ({ zodSchema, jsonSchema }) => {
      const message = errorMessageOf(zodSchema as unknown as ZodInternals);
      if (message !== undefined) (jsonSchema as Record<string, unknown>)['errorMessage'] = message;
    },
  }) as Record<string, unknown>;
  if (schema['type'] !== 'object') throw new Error(say.noObjectSpec(kind));
  return schema;
}

/**
 * zod keeps a message given as `{ error: '...' }` on the schema (for its type) or on each check. In
 * JSON: one message when they agree (it stands for the field), else one per JSON Schema keyword.
 */
interface ZodInternals {
  _zod: { def: { error?: (issue: unknown) => unknown; checks?: { _zod: { def: { check: string; format?: string; error?: (issue: unknown) => unknown } } }[] } };
}

const KEYWORD_OF_CHECK: Record<string, string> = {
  string_format: 'pattern',
  min_length: 'minLength',
  max_length: 'maxLength',
  length_equals: 'minLength',
  greater_than: 'minimum',
  less_than: 'maximum',
  min_size: 'minItems',
  max_size: 'maxItems',
  multiple_of: 'multipleOf',
};

function errorMessageOf(schema: ZodInternals): string | Record<string, string> | undefined {
  const def = schema._zod?.def;
  if (!def) return undefined;
  const byKeyword: Record<string, string> = {};
  const typeMessage = messageText(def.error);
  if (typeMessage) byKeyword['type'] = typeMessage;
  for (const check of def.checks ?? []) {
    const message = messageText(check._zod.def.error);
    if (!message) continue;
    const keyword = check._zod.def.check === 'string_format' && check._zod.def.format !== 'regex' ? 'format' : KEYWORD_OF_CHECK[check._zod.def.check];
    if (keyword) byKeyword[keyword] ??= message;
  }
  const messages = [...new Set(Object.values(byKeyword))];
  if (messages.length === 0) return undefined;
  return messages.length === 1 ? messages[0] : byKeyword;
}

function messageText(error: ((issue: unknown) => unknown) | undefined): string | undefined {
  if (!error) return undefined;
  try {
    const result = error({});
    if (typeof result === 'string') return result;
    if (result && typeof result === 'object' && typeof (result as { message?: unknown }).message === 'string') return (result as { message: string }).message;
  } catch {
    // A message computed from the issue itself cannot be written down ahead of time.
  }
  return undefined;
}
