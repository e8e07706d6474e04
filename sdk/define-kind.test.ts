import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import { customKindSpecSchema, loadCustomKinds } from '../api/kinds/custom.ts';
import { formatProblem, parseManifests, validateDocuments } from '../api/manifest.ts';
import type { CapstanObject } from '../api/object.ts';
import type { ReconcileContext } from '../controllers/contract.ts';
import { defineKind, DEFINED_BY_LABEL, type KindObject } from './define-kind.ts';

const alertKind = defineKind({
  kind: 'AppAlert',
  shortNames: ['alert'],
  spec: z.strictObject({
    app: z.string().regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, { error: 'the name of an App in this namespace' }),
    minHealthy: z.number({ error: 'a share of instances between 0 and 1' }).min(0, { error: 'at least 0' }).max(1, { error: 'at most 1' }).default(0.5),
    quietFrom: z.string().regex(/^\d\d:\d\d$/, { error: 'a time of day as HH:MM' }).optional(),
    severity: z.enum(['page', 'ticket']).default('ticket'),
  }),
  status: z.object({ firing: z.boolean().optional(), healthyShare: z.number().optional() }),
  columns: [
    { header: 'App', jsonPath: '.spec.app' },
    { header: 'Firing', jsonPath: '.status.firing' },
    { header: 'Share', jsonPath: '.status.healthyShare', wide: true },
  ],
});

/** What the CLI does: learn the kind from its stored CustomKind alone, then validate a manifest. */
async function applyAsTheCliWould(yaml: string): Promise<string[]> {
  const registry = builtinRegistry();
  const stored = alertKind.customKindObject();
  const { loaded, refused } = loadCustomKinds(registry, [{ ...stored, spec: customKindSpecSchema.parse(stored.spec) }]);
  expect(refused).toEqual([]);
  expect(loaded.map((k) => k.kind)).toEqual(['AppAlert']);
  const parsed = parseManifests(yaml, 'alert.yaml');
  const { problems } = await validateDocuments(parsed.documents, registry);
  return problems.map(formatProblem);
}

const manifest = (spec: string) => `apiVersion: capstan/v1\nkind: AppAlert\nmetadata:\n  name: web\nspec:\n${spec}`;

describe('defineKind', () => {
  it('fills the names a kubectl user expects from the kind alone', () => {
    expect(alertKind).toMatchObject({ kind: 'AppAlert', plural: 'appalerts', singular: 'appalert', shortNames: ['alert'], namespaced: true, apiVersion: 'capstan/v1' });
  });

  it('produces the CustomKind the CLI learns the kind from, labelled as defined by a controller', () => {
    const object = alertKind.customKindObject();
    expect(object).toMatchObject({
      kind: 'CustomKind',
      metadata: { name: 'appalerts', labels: { [DEFINED_BY_LABEL]: 'controller' } },
      spec: { names: { kind: 'AppAlert', plural: 'appalerts', singular: 'appalert', shortNames: ['alert'] }, scope: 'Namespaced', columns: [{ header: 'App', jsonPath: '.spec.app', wide: false }, { header: 'Firing', jsonPath: '.status.firing', wide: false }, { header: 'Share', jsonPath: '.status.healthyShare', wide: true }] },
    });
    expect(() => customKindSpecSchema.parse(object.spec)).not.toThrow();
  });

  it('keeps zod messages in the JSON Schema: one per field when they agree, one per keyword when not', () => {
    const schema = alertKind.customKindObject().spec as { schema: { properties: Record<string, { errorMessage?: unknown }> } };
    expect(schema.schema.properties['app']?.errorMessage).toBe('the name of an App in this namespace');
    expect(schema.schema.properties['minHealthy']?.errorMessage).toEqual({ type: 'a share of instances between 0 and 1', minimum: 'at least 0', maximum: 'at most 1' });
    expect(schema.schema.properties['severity']?.errorMessage).toBeUndefined();
  });

  it.each([
    ['a pattern', '  app: Web_1\n', 'alert.yaml:6:3: spec.app: expected the name of an App in this namespace, found "Web_1"'],
    ['a missing field', '  minHealthy: 0.2\n', 'alert.yaml:5:1: spec.app: expected the name of an App in this namespace (required), found nothing'],
    ['a type, by keyword', '  app: web\n  minHealthy: half\n', 'alert.yaml:7:3: spec.minHealthy: expected a share of instances between 0 and 1, found "half"'],
    ['a bound, by keyword', '  app: web\n  minHealthy: 2\n', 'alert.yaml:7:3: spec.minHealthy: expected at most 1, found 2'],
    ['an optional field', '  app: web\n  quietFrom: 8am\n', 'alert.yaml:7:3: spec.quietFrom: expected a time of day as HH:MM, found "8am"'],
  ])('the CLI reports %s in the kind author\'s words', async (_case, spec, expected) => {
    expect(await applyAsTheCliWould(manifest(spec))).toEqual([expected]);
  });

  it('leaves zod\'s own words where the author gave none, and unknown fields as unknown fields', async () => {
    const problems = await applyAsTheCliWould(manifest('  app: web\n  severity: sev1\n  thresold: 3\n'));
    expect(problems).toHaveLength(2);
    expect(problems.join('\n')).toMatch(/spec\.severity: expected one of page, ticket, found "sev1"/);
    expect(problems.join('\n')).toMatch(/spec\.thresold: expected a known field/);
  });

  it('gives get columns from the JSON paths', () => {
    const object = { apiVersion: 'capstan/v1', kind: 'AppAlert', metadata: { name: 'web' }, spec: { app: 'web' }, status: { firing: true } };
    expect(alertKind.columns?.map((c) => [c.header, c.value(object)])).toEqual([['APP', 'web'], ['FIRING', 'true'], ['SHARE', '<none>']]);
  });

  it.each([
    ['a kind not in PascalCase', { kind: 'appAlert', spec: z.object({}) }, /PascalCase/],
    ['a spec that is not an object', { kind: 'Bad', spec: z.string() }, /zod object schema/],
    ['a column path that is not one', { kind: 'Bad', spec: z.object({}), columns: [{ header: 'X', jsonPath: '' }] }, /jsonPath/],
  ])('refuses %s', (_case, options, message) => {
    expect(() => defineKind(options as Parameters<typeof defineKind>[0])).toThrow(message);
  });

  it('types objects read through the kind', () => {
    type Alert = KindObject<typeof alertKind>;
    expectTypeOf<Alert['spec']>().toEqualTypeOf<{ app: string; minHealthy: number; quietFrom?: string | undefined; severity: 'page' | 'ticket' }>();
    expectTypeOf<NonNullable<Alert['status']>>().toEqualTypeOf<{ firing?: boolean | undefined; healthyShare?: number | undefined }>();
    const read = (ctx: ReconcileContext) => ctx.informer(alertKind).get('default/web')?.spec.minHealthy;
    expectTypeOf(read).returns.toEqualTypeOf<number | undefined>();
    const readByName = (ctx: ReconcileContext) => ctx.informer('App').get('default/web');
    expectTypeOf(readByName).returns.toMatchTypeOf<{ readonly spec: unknown } | undefined>();
    expectTypeOf<CapstanObject<unknown, unknown>>().toEqualTypeOf<KindObject<string>>();
  });
});
