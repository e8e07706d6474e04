// A CustomKind's own words for its fields. A kind defined in code with zod says what a field expects
// in its author's words ("a time of day as HH:MM"); its CustomKind carries those words as JSON
// Schema `errorMessage` (ajv-errors' keyword: one string for the field, or one per keyword). zod's
// fromJSONSchema keeps no messages, so the schema it makes is filed here with a lookup into the JSON
// Schema, and manifest validation (api/manifest/zod-problems.ts) asks it before using its own words.
import type { z } from 'zod';

type Segment = string | number;
type IssueLike = { code: string; origin?: string; format?: string };
type Lookup = (path: readonly Segment[], issue: IssueLike) => string | undefined;

const lookups = new WeakMap<object, Lookup>();

export const authorMessages = {
  set(schema: z.ZodType, lookup: Lookup): void {
    lookups.set(schema, lookup);
  },
};

/** The author's message for an issue at `path` (relative to `schema`), if the schema has one. */
export function authorMessageFor(schema: z.ZodType, path: readonly Segment[], issue: IssueLike): string | undefined {
  return lookups.get(schema)?.(path, issue);
}

/** The JSON Schema keyword an issue breaks, to pick from an `errorMessage` given per keyword. */
function keywordOf(issue: IssueLike): string {
  switch (issue.code) {
    case 'too_small':
      return issue.origin === 'array' || issue.origin === 'set' ? 'minItems' : issue.origin === 'string' ? 'minLength' : 'minimum';
    case 'too_big':
      return issue.origin === 'array' || issue.origin === 'set' ? 'maxItems' : issue.origin === 'string' ? 'maxLength' : 'maximum';
    case 'invalid_format':
      return issue.format === 'regex' ? 'pattern' : 'format';
    case 'not_multiple_of':
      return 'multipleOf';
    case 'invalid_value':
      return 'enum';
    default:
      return 'type';
  }
}

/** Walks a JSON Schema down `path` (properties, items, $ref into $defs) to the node's errorMessage. */
export function authorMessageAt(root: Record<string, unknown>, path: readonly Segment[], issue: IssueLike): string | undefined {
  // An unknown field is about the object's shape, which no author's message describes.
  if (issue.code === 'unrecognized_keys') return undefined;
  let node: unknown = root;
  for (const segment of path) {
    node = resolveRef(root, node);
    if (!isRecord(node)) return undefined;
    if (typeof segment === 'number') {
      const prefix = Array.isArray(node['prefixItems']) ? (node['prefixItems'] as unknown[])[segment] : undefined;
      node = prefix ?? node['items'];
    } else {
      const properties = node['properties'];
      node = isRecord(properties) && segment in properties ? properties[segment] : node['additionalProperties'];
    }
  }
  node = resolveRef(root, node);
  if (!isRecord(node)) return undefined;
  const message = node['errorMessage'];
  if (typeof message === 'string') return message;
  if (isRecord(message)) {
    const byKeyword = message[keywordOf(issue)];
    return typeof byKeyword === 'string' ? byKeyword : undefined;
  }
  return undefined;
}

function resolveRef(root: Record<string, unknown>, node: unknown): unknown {
  for (let hops = 0; isRecord(node) && typeof node['$ref'] === 'string' && hops < 16; hops += 1) {
    const ref = node['$ref'];
    if (!ref.startsWith('#/')) return node;
    node = ref
      .slice(2)
      .split('/')
      .reduce<unknown>((at, part) => (isRecord(at) ? at[part.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined), root);
  }
  return node;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
