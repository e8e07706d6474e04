import { describe, expect, it } from 'vitest';
import { formatProblem, parseManifests, validateDocuments } from '../manifest.ts';
import type { AnyObject } from '../object.ts';
import { builtinRegistry } from './builtin.ts';
import { closeObjectSchemas, customKindSpecSchema, isCustomKindDefinition, kindFromCustomKind, loadCustomKinds, parseJsonPath } from './custom.ts';

const databaseSchema = {
  type: 'object',
  properties: {
    engine: { type: 'string', enum: ['postgres', 'mysql'] },
    size: { type: 'integer', minimum: 1, maximum: 10, default: 1 },
    name: { type: 'string', pattern: '^[a-z]+$' },
    tags: { type: 'array', items: { type: 'string' } },
    backup: { type: 'object', properties: { enabled: { type: 'boolean', default: false } } },
  },
  required: ['engine'],
};

function customKind(spec: Record<string, unknown>, name = 'databases'): AnyObject {
  return { apiVersion: 'capstan/v1', kind: 'CustomKind', metadata: { name }, spec: customKindSpecSchema.parse(spec) };
}

const database = customKind({
  names: { kind: 'Database', plural: 'databases', shortNames: ['db'] },
  schema: databaseSchema,
  columns: [{ header: 'Engine', jsonPath: '.spec.engine' }, { header: 'size', jsonPath: '{.spec.size}', wide: true }],
});

describe('kindFromCustomKind', () => {
  const definition = kindFromCustomKind(database);

  it('names the kind as declared, namespaced by default', () => {
    expect(definition).toMatchObject({
      apiVersion: 'capstan/v1',
      kind: 'Database',
      plural: 'databases',
      singular: 'database',
      shortNames: ['db'],
      namespaced: true,
      customKind: 'databases',
    });
    expect(isCustomKindDefinition(definition)).toBe(true);
  });

  it('is cluster-scoped when asked', () => {
    const cluster = customKind({ names: { kind: 'Zone', plural: 'zones' }, scope: 'Cluster', schema: { type: 'object' } }, 'zones');
    expect(kindFromCustomKind(cluster).namespaced).toBe(false);
  });

  it('applies the JSON Schema defaults', () => {
    expect(definition.spec.parse({ engine: 'postgres', backup: {} })).toEqual({ engine: 'postgres', size: 1, backup: { enabled: false } });
  });

  it.each([
    ['a value outside the enum', { engine: 'oracle' }, ['engine'], 'invalid_value'],
    ['a missing required field', {}, ['engine'], 'invalid_value'],
    ['a number above maximum', { engine: 'mysql', size: 11 }, ['size'], 'too_big'],
    ['a fraction for an integer', { engine: 'mysql', size: 1.5 }, ['size'], 'invalid_type'],
    ['a string not matching the pattern', { engine: 'mysql', name: 'A' }, ['name'], 'invalid_format'],
    ['a wrong item type', { engine: 'mysql', tags: [1] }, ['tags', 0], 'invalid_type'],
    ['an unknown field, closed by default', { engine: 'mysql', sise: 2 }, [], 'unrecognized_keys'],
    ['an unknown nested field', { engine: 'mysql', backup: { enable: true } }, ['backup'], 'unrecognized_keys'],
  ])('rejects %s', (_, spec, path, code) => {
    const result = definition.spec.safeParse(spec);
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((i) => [i.path, i.code])).toContainEqual([path, code]);
  });

  it('makes get columns from the JSON paths', () => {
    const object = { ...database, kind: 'Database', metadata: { name: 'orders' }, spec: { engine: 'postgres', size: 2 } };
    expect(definition.columns!.map((c) => [c.header, c.wide ?? false, c.value(object)])).toEqual([
      ['ENGINE', false, 'postgres'],
      ['SIZE', true, '2'],
    ]);
  });
});

describe('JSON Schema helpers', () => {
  it('closes object schemas that list properties, leaving data and explicit choices alone', () => {
    const schema = {
      type: 'object',
      properties: { properties: { type: 'object', additionalProperties: true, properties: {} }, list: { type: 'array', items: { type: 'object', properties: {} } } },
      default: { properties: {} },
    };
    expect(closeObjectSchemas(schema)).toEqual({
      type: 'object',
      additionalProperties: false,
      properties: {
        properties: { type: 'object', additionalProperties: true, properties: {} },
        list: { type: 'array', items: { type: 'object', properties: {}, additionalProperties: false } },
      },
      default: { properties: {} },
    });
  });

  it.each([
    ['.spec.size', ['spec', 'size']],
    ['{.spec.size}', ['spec', 'size']],
    ['.spec.ports[0].name', ['spec', 'ports', 0, 'name']],
    ['status.phase', ['status', 'phase']],
  ])('parses the JSON path %s', (path, expected) => {
    expect(parseJsonPath(path)).toEqual(expected);
  });
});

describe('loadCustomKinds', () => {
  it('registers the declared kinds and ignores other objects', () => {
    const registry = builtinRegistry();
    const other: AnyObject = { apiVersion: 'capstan/v1', kind: 'App', metadata: { name: 'x' }, spec: {} };
    const { loaded, refused } = loadCustomKinds(registry, [database, other]);
    expect(loaded.map((d) => d.kind)).toEqual(['Database']);
    expect(refused).toEqual([]);
    expect(registry.find('db')?.kind).toBe('Database');
  });

  it('refuses to replace a built-in kind', () => {
    const registry = builtinRegistry();
    const app = customKind({ names: { kind: 'App', plural: 'apps' }, schema: { type: 'object' } }, 'apps');
    const { loaded, refused } = loadCustomKinds(registry, [app]);
    expect(loaded).toEqual([]);
    expect(refused).toEqual([{ name: 'apps', reason: 'expected a kind name that is not built in ("App" is)' }]);
    expect(registry.get('App').spec).not.toBe(undefined);
    expect(isCustomKindDefinition(registry.get('App'))).toBe(false);
  });

  it('refuses a schema zod cannot read', () => {
    const broken = customKind({ names: { kind: 'Broken', plural: 'brokens' }, schema: { type: 'object', properties: { a: { type: 'strin' } } } }, 'brokens');
    expect(loadCustomKinds(builtinRegistry(), [broken]).refused).toHaveLength(1);
  });
});

describe('CustomKinds in manifests', () => {
  const definitionYaml = `apiVersion: capstan/v1
kind: CustomKind
metadata: {name: databases}
spec:
  names: {kind: Database, plural: databases, shortNames: [db]}
  schema:
    type: object
    required: [engine]
    properties:
      engine: {type: string, enum: [postgres, mysql]}
      size: {type: integer, minimum: 1, default: 1}
  columns: [{header: ENGINE, jsonPath: .spec.engine}]
`;

  async function validate(text: string) {
    const parsed = parseManifests(text, 'db.yaml');
    const result = await validateDocuments(parsed.documents, builtinRegistry());
    return { objects: result.objects, problems: [...parsed.problems, ...result.problems].map(formatProblem) };
  }

  it('validates objects of a kind declared in the same input, whatever the order', async () => {
    const instance = 'apiVersion: capstan/v1\nkind: Database\nmetadata: {name: orders}\nspec: {engine: postgres}\n';
    const { objects, problems } = await validate(`${instance}---\n${definitionYaml}`);
    expect(problems).toEqual([]);
    expect(objects.map((o) => [o.kind, o.metadata.name, o.spec])).toEqual([
      ['Database', 'orders', { engine: 'postgres', size: 1 }],
      ['CustomKind', 'databases', expect.anything()],
    ]);
    expect(objects[0]!.metadata.namespace).toBe('default');
  });

  it('reports a missing required field of a custom object', async () => {
    const instance = 'apiVersion: capstan/v1\nkind: Database\nmetadata: {name: orders}\nspec: {}\n';
    expect((await validate(`${definitionYaml}---\n${instance}`)).problems).toEqual([
      'db.yaml:17:1: spec.engine: expected one of postgres, mysql (required), found nothing',
    ]);
  });

  it('reports a bad field of a custom object with its line', async () => {
    const instance = 'apiVersion: capstan/v1\nkind: Database\nmetadata: {name: orders}\nspec:\n  engine: oracle\n  sise: 2\n';
    const { problems } = await validate(`${definitionYaml}---\n${instance}`);
    expect(problems).toEqual([
      'db.yaml:18:3: spec.engine: expected one of postgres, mysql, found "oracle"',
      'db.yaml:19:3: spec.sise: expected a known field (engine, size), found unknown field "sise" (did you mean "size"?)',
    ]);
  });

  it.each([
    ['a name other than the plural', definitionYaml.replace('{name: databases}', '{name: database}'),
      'db.yaml:3:12: metadata.name: expected metadata.name equal to spec.names.plural ("databases"), so that one kind has one definition, found "database"'],
    ['a kind name in lower case', definitionYaml.replace('kind: Database', 'kind: database'),
      'db.yaml:5:11: spec.names.kind: expected a kind name in PascalCase, e.g. "Database", found "database"'],
    ['a schema that is not an object', definitionYaml.replace('type: object', 'type: string'),
      'db.yaml:6:3: spec.schema: expected a JSON Schema of type "object" (the spec is an object), found type "string"'],
    ['a schema zod cannot read', definitionYaml.replace('type: integer', 'type: int'),
      'db.yaml:6:3: spec.schema: expected a JSON Schema Capstan can use (Unsupported type: int), found type "object"'],
    ['a built-in kind name', definitionYaml.replace('kind: Database, plural: databases', 'kind: Node, plural: databases'),
      'db.yaml:5:11: spec.names.kind: expected a kind name that is not built in ("Node" is), found "Node"'],
  ])('reports a CustomKind with %s', async (_, text, expected) => {
    expect((await validate(text)).problems).toEqual([expected]);
  });
});
