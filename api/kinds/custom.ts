// CustomKind: a user-defined kind with no code, like a Kubernetes CustomResourceDefinition. Its JSON
// Schema becomes the new kind's spec validation (through zod's `fromJSONSchema`), its columns the
// new kind's `get` columns, so apply/get/describe/delete work on it unchanged. The CLI and the
// controllers load CustomKinds from the store into their registry with `loadCustomKinds`.
import { z } from 'zod';
import { API_VERSION, DNS_LABEL, DNS_LABEL_MAX } from '../object.ts';
import type { AnyObject } from '../object.ts';
import { authorMessageAt, authorMessages } from './author-messages.ts';
import type { Column, FieldProblem, KindDefinition, KindRegistry } from './registry.ts';

const EXPECTED = {
  dnsLabel: 'a DNS label: lowercase letters, digits and "-", starting and ending with a letter or digit, at most 63 characters',
  kindName: 'a kind name in PascalCase, e.g. "Database"',
  apiVersion: 'an apiVersion like "capstan/v1" or "example.com/v1"',
  jsonPath: 'a field path like ".spec.size" or ".spec.ports[0].name"',
  nameIsPlural: (plural: string) => `metadata.name equal to spec.names.plural ("${plural}"), so that one kind has one definition`,
  objectSchema: 'a JSON Schema of type "object" (the spec is an object)',
  usableSchema: (reason: string) => `a JSON Schema Capstan can use (${reason})`,
  notBuiltin: (kind: string) => `a kind name that is not built in ("${kind}" is)`,
} as const;

const dnsLabel = z.string().max(DNS_LABEL_MAX, { error: EXPECTED.dnsLabel }).regex(DNS_LABEL, { error: EXPECTED.dnsLabel });

/** `.spec.size`, `{.spec.size}` (kubectl's spelling) or `.spec.ports[0].name`. */
const JSON_PATH = /^\{?\.?[A-Za-z_$][\w$-]*(\[\d+\]|\.[A-Za-z_$][\w$-]*)*\}?$/;

export const customKindSpecSchema = z.strictObject({
  names: z.strictObject({
    kind: z.string().regex(/^[A-Z][A-Za-z0-9]*$/, { error: EXPECTED.kindName }),
    plural: dnsLabel,
    singular: dnsLabel.optional(),
    shortNames: z.array(dnsLabel).default([]),
  }),
  apiVersion: z.string().regex(/^[a-z0-9.-]+\/v[0-9]+[a-z0-9]*$/, { error: EXPECTED.apiVersion }).default(API_VERSION),
  scope: z.enum(['Namespaced', 'Cluster']).default('Namespaced'),
  /** A JSON Schema (draft 2020-12 subset, as zod's fromJSONSchema reads it) for the new kind's spec. */
  schema: z.record(z.string(), z.unknown()),
  columns: z
    .array(
      z.strictObject({
        header: z.string().min(1),
        jsonPath: z.string().regex(JSON_PATH, { error: EXPECTED.jsonPath }),
        wide: z.boolean().default(false),
      }),
    )
    .default([]),
});
export type CustomKindSpec = z.infer<typeof customKindSpecSchema>;

/** A definition made from a CustomKind object: `customKind` names that object. */
export interface CustomKindDefinition extends KindDefinition {
  customKind: string;
}

export function isCustomKindDefinition(definition: KindDefinition): definition is CustomKindDefinition {
  return 'customKind' in definition;
}

export class CustomKindError extends Error {
  override readonly name = 'CustomKindError';
}

/**
 * JSON Schema lets unknown properties through unless told otherwise. Capstan's own kinds reject them
 * so a typo is caught at apply rather than silently ignored; user kinds get the same by default:
 * every object schema listing `properties` without saying `additionalProperties` is closed.
 */
export function closeObjectSchemas(schema: unknown): unknown {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return schema;
  const copy: Record<string, unknown> = { ...schema };
  // Only keywords whose values are schemas are walked: `default`, `enum` and `const` hold data, and a
  // field that happens to be called "properties" must not be mistaken for the keyword.
  for (const keyword of SCHEMA_MAP_KEYWORDS) {
    const map = copy[keyword];
    if (isRecord(map)) copy[keyword] = Object.fromEntries(Object.entries(map).map(([k, v]) => [k, closeObjectSchemas(v)]));
  }
  for (const keyword of SCHEMA_KEYWORDS) {
    const value = copy[keyword];
    if (value !== undefined) copy[keyword] = Array.isArray(value) ? value.map(closeObjectSchemas) : closeObjectSchemas(value);
  }
  if (isRecord(copy['properties']) && !('additionalProperties' in copy)) copy['additionalProperties'] = false;
  return copy;
}

const SCHEMA_MAP_KEYWORDS = ['properties', 'patternProperties', '$defs', 'definitions'] as const;
const SCHEMA_KEYWORDS = ['items', 'prefixItems', 'additionalProperties', 'anyOf', 'oneOf', 'allOf', 'not'] as const;

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The zod schema for a JSON Schema, or why there is none. */
export function specSchemaFromJsonSchema(schema: Record<string, unknown>): { schema: z.ZodType } | { error: string } {
  if (schema['type'] !== 'object') return { error: EXPECTED.objectSchema };
  try {
    const converted = z.fromJSONSchema(closeObjectSchemas(schema) as Parameters<typeof z.fromJSONSchema>[0]);
    authorMessages.set(converted, (path, issue) => authorMessageAt(schema, path, issue));
    return { schema: converted };
  } catch (error) {
    return { error: EXPECTED.usableSchema((error as Error).message) };
  }
}

/** Splits `.spec.ports[0].name` into ['spec', 'ports', 0, 'name']. */
export function parseJsonPath(jsonPath: string): (string | number)[] {
  const inner = jsonPath.replace(/^\{/, '').replace(/\}$/, '').replace(/^\./, '');
  return inner.split(/\.|(?=\[)/).map((part) => (part.startsWith('[') ? Number(part.slice(1, -1)) : part));
}

export function jsonPathValue(object: unknown, path: (string | number)[]): unknown {
  let value = object;
  for (const segment of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string | number, unknown>)[segment];
  }
  return value;
}

export function showColumnValue(value: unknown): string {
  if (value === undefined || value === null) return '<none>';
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

function columnFrom(column: CustomKindSpec['columns'][number]): Column {
  const path = parseJsonPath(column.jsonPath);
  return { header: column.header.toUpperCase(), wide: column.wide, value: (object) => showColumnValue(jsonPathValue(object, path)) };
}

/** Turns a (defaulted, valid) CustomKind object into the definition of the kind it declares. */
export function kindFromCustomKind(object: AnyObject): CustomKindDefinition {
  const spec = customKindSpecSchema.parse(object.spec);
  const converted = specSchemaFromJsonSchema(spec.schema);
  if ('error' in converted) throw new CustomKindError(`CustomKind ${object.metadata.name}: expected ${converted.error}`);
  const { kind, plural, singular, shortNames } = spec.names;
  return {
    customKind: object.metadata.name,
    apiVersion: spec.apiVersion,
    kind,
    plural,
    singular: singular ?? kind.toLowerCase(),
    shortNames,
    namespaced: spec.scope === 'Namespaced',
    spec: converted.schema,
    columns: spec.columns.map(columnFrom),
  };
}

function checkCustomKind(object: AnyObject): FieldProblem[] {
  const spec = object.spec as CustomKindSpec;
  const problems: FieldProblem[] = [];
  if (object.metadata.name !== spec.names.plural) {
    problems.push({ path: ['metadata', 'name'], expected: EXPECTED.nameIsPlural(spec.names.plural), found: `"${object.metadata.name}"` });
  }
  const converted = specSchemaFromJsonSchema(spec.schema);
  if ('error' in converted) problems.push({ path: ['spec', 'schema'], expected: converted.error, found: describeSchemaType(spec.schema) });
  return problems;
}

function describeSchemaType(schema: Record<string, unknown>): string {
  return schema['type'] === undefined ? 'a schema with no type' : `type ${JSON.stringify(schema['type'])}`;
}

export interface LoadCustomKindsResult {
  loaded: CustomKindDefinition[];
  /** CustomKinds not loaded, with the reason: a built-in name, or a schema that cannot be used. */
  refused: { name: string; reason: string }[];
}

/**
 * Registers the kinds the given CustomKind objects declare (other objects are ignored). A CustomKind
 * never replaces a built-in kind: otherwise applying one could change how Apps are validated.
 */
export function loadCustomKinds(registry: KindRegistry, objects: readonly AnyObject[]): LoadCustomKindsResult {
  const result: LoadCustomKindsResult = { loaded: [], refused: [] };
  for (const object of objects) {
    if (object.kind !== 'CustomKind') continue;
    const declared = (object.spec as Partial<CustomKindSpec>).names?.kind ?? '';
    const existing = registry.find(declared);
    if (existing && existing.kind === declared && !isCustomKindDefinition(existing)) {
      result.refused.push({ name: object.metadata.name, reason: `expected ${EXPECTED.notBuiltin(declared)}` });
      continue;
    }
    try {
      const definition = kindFromCustomKind(object);
      registry.register(definition);
      result.loaded.push(definition);
    } catch (error) {
      result.refused.push({ name: object.metadata.name, reason: (error as Error).message });
    }
  }
  return result;
}

const specOf = (object: AnyObject) => object.spec as Partial<CustomKindSpec>;

export const customKindKind: KindDefinition = {
  apiVersion: API_VERSION,
  kind: 'CustomKind',
  plural: 'customkinds',
  singular: 'customkind',
  shortNames: ['ck'],
  namespaced: false,
  spec: customKindSpecSchema,
  check: checkCustomKind,
  columns: [
    { header: 'KIND', value: (o) => specOf(o).names?.kind ?? '' },
    { header: 'APIVERSION', value: (o) => specOf(o).apiVersion ?? '' },
    { header: 'SCOPE', value: (o) => specOf(o).scope ?? '' },
    { header: 'SHORTNAMES', wide: true, value: (o) => (specOf(o).names?.shortNames ?? []).join(',') },
  ],
};
