// The files of a controller project that `capstan init controller NAME` writes: pure text from the
// name, the capstan dependency spec and the versions to pin. The project's code imports Capstan only
// through `capstan/sdk` and `capstan/sdk/testing`, as any project outside this repository must, and
// compiles under the tsconfig `tsc --init` writes for Node (its relative imports end in `.js`).
//
// The controller is small but real, so it is worth keeping: an NAME object names an App and the
// fewest healthy instances it should have; the controller keeps a `Healthy` condition and the App's
// healthy count in the object's status and records an event when the condition changes.

export interface ScaffoldVersions {
  zod: string;
  typescript: string;
  vitest: string;
  typesNode: string;
}

export interface ScaffoldOptions {
  /** A DNS label starting with a letter: the package name and the controller name. */
  name: string;
  /** The capstan dependency spec (`^0.1.0`, `file:../capstan-0.1.0.tgz`). */
  capstan: string;
  versions: ScaffoldVersions;
}

export interface ScaffoldFile {
  /** Relative to the project directory, with `/`. */
  path: string;
  content: string;
}

/** "app-alert" → { kind: "AppAlert", camel: "appAlert" } */
export function namesOf(name: string): { kind: string; camel: string; plural: string } {
  const kind = name
    .split('-')
    .filter(Boolean)
    .map((part) => part[0]!.toUpperCase() + part.slice(1))
    .join('');
  return { kind, camel: kind[0]!.toLowerCase() + kind.slice(1), plural: `${kind.toLowerCase()}s` };
}

export function scaffoldController(options: ScaffoldOptions): ScaffoldFile[] {
  const names = { name: options.name, ...namesOf(options.name) };
  return [
    { path: 'package.json', content: packageJson(options) },
    { path: 'tsconfig.json', content: TSCONFIG },
    { path: '.gitignore', content: 'node_modules/\ndist/\n' },
    { path: 'README.md', content: readme(names) },
    { path: 'src/kind.ts', content: kindTs(names) },
    { path: 'src/plan.ts', content: planTs(names) },
    { path: 'src/plan.test.ts', content: planTestTs(names) },
    { path: 'src/controller.ts', content: controllerTs(names) },
    { path: 'src/controller.test.ts', content: controllerTestTs(names) },
    { path: 'src/index.ts', content: indexTs(names) },
    { path: 'src/main.ts', content: mainTs(names) },
    { path: `examples/${names.name}.yaml`, content: exampleYaml(names) },
  ];
}

interface Names {
  /** app-alert */
  name: string;
  /** AppAlert */
  kind: string;
  /** appAlert */
  camel: string;
  /** appalerts */
  plural: string;
}

function packageJson({ name, capstan, versions }: ScaffoldOptions): string {
  const pkg = {
    name,
    version: '0.1.0',
    private: true,
    type: 'module',
    engines: { node: '>=20.19' },
    scripts: {
      build: 'tsc -p .',
      typecheck: 'tsc --noEmit -p .',
      // Only src/: the build writes the tests to dist/ too, and they must not run twice.
      test: 'vitest run --dir src',
      start: 'node dist/main.js',
    },
    // zod at capstan's own version: one copy, so the kind's schemas are the ones the SDK reads.
    dependencies: { capstan: capstan, zod: versions.zod },
    devDependencies: { '@types/node': versions.typesNode, typescript: versions.typescript, vitest: versions.vitest },
  };
  return `${JSON.stringify(pkg, null, 2)}\n`;
}

// What `tsc --init` (TypeScript 5.9) writes, set for Node: src → dist, Node's types, ES2022.
const TSCONFIG = `{
  "compilerOptions": {
    "rootDir": "./src",
    "outDir": "./dist",

    "module": "nodenext",
    "target": "es2022",
    "lib": ["es2022"],
    "types": ["node"],

    "sourceMap": true,
    "declaration": false,

    "noUncheckedIndexedAccess": true,
    "exactOptionalPropertyTypes": true,

    "strict": true,
    "verbatimModuleSyntax": true,
    "isolatedModules": true,
    "noUncheckedSideEffectImports": true,
    "moduleDetection": "force",
    "skipLibCheck": true
  },
  "include": ["src"]
}
`;

function kindTs({ kind, camel }: Names): string {
  return `// The ${kind} kind: "the App named in spec.app should have at least spec.minHealthy healthy
// instances". One definition: the controller's store validates ${kind}s with these zod schemas, its
// caches return objects typed by them, and the \`capstan\` command learns the kind from the CustomKind
// made from them, which the controller installs when it starts. A message given as
// \`{ error: '...' }\` is what \`capstan apply\` shows for a bad field.
//
// Rules a JSON Schema cannot express (across fields, or against other objects) cannot be checked by
// \`capstan apply\`: check them in the controller and report them with \`invalid(field, message)\`.
import { commonStatusSchema, defineKind, type KindObject } from 'capstan/sdk';
import { z } from 'zod';

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const APP_NAME = 'the name of an App in this namespace, e.g. "web"';
const INSTANCES = 'a whole number of instances, 0 or more';

export const ${camel}SpecSchema = z.strictObject({
  /** The App to watch, in the same namespace. */
  app: z.string({ error: APP_NAME }).regex(DNS_LABEL, { error: APP_NAME }),
  /** The fewest healthy instances that are enough. */
  minHealthy: z.int({ error: INSTANCES }).min(0, { error: INSTANCES }),
});
export type ${kind}Spec = z.infer<typeof ${camel}SpecSchema>;

export const ${camel}StatusSchema = commonStatusSchema.extend({
  /** The App's healthy instances when the controller last looked. */
  healthy: z.number().int().optional(),
});
export type ${kind}Status = z.infer<typeof ${camel}StatusSchema>;

export const ${camel}Kind = defineKind({
  kind: '${kind}',
  spec: ${camel}SpecSchema,
  status: ${camel}StatusSchema,
  columns: [
    { header: 'App', jsonPath: '.spec.app' },
    { header: 'Min-Healthy', jsonPath: '.spec.minHealthy' },
    { header: 'Healthy', jsonPath: '.status.healthy' },
  ],
});
export type ${kind} = KindObject<typeof ${camel}Kind>;
`;
}

function planTs({ kind }: Names): string {
  return `// What a ${kind} concludes about its App: pure, no I/O, tested with a table in plan.test.ts.

/** The condition this controller owns on each ${kind}. */
export const HEALTHY = 'Healthy';

export interface PlanInput {
  app: string;
  minHealthy: number;
  /** The App's healthy instances; undefined when there is no such App. */
  appHealthy: number | undefined;
}

export interface Plan {
  healthy: number;
  /** What setCondition takes (it adds lastTransitionTime). */
  condition: { type: typeof HEALTHY; status: 'True' | 'False'; reason: string; message: string };
}

const say = {
  missing: (app: string) => \`no App "\${app}" in this namespace\`,
  enough: (healthy: number, min: number) => \`\${healthy} healthy instances, at least \${min} wanted\`,
  tooFew: (healthy: number, min: number) => \`\${healthy} healthy instances, fewer than the \${min} wanted\`,
} as const;

export function plan({ app, minHealthy, appHealthy }: PlanInput): Plan {
  if (appHealthy === undefined) return { healthy: 0, condition: { type: HEALTHY, status: 'False', reason: 'AppNotFound', message: say.missing(app) } };
  if (appHealthy >= minHealthy) return { healthy: appHealthy, condition: { type: HEALTHY, status: 'True', reason: 'EnoughHealthy', message: say.enough(appHealthy, minHealthy) } };
  return { healthy: appHealthy, condition: { type: HEALTHY, status: 'False', reason: 'TooFewHealthy', message: say.tooFew(appHealthy, minHealthy) } };
}
`;
}

function planTestTs(_names: Names): string {
  return `import { describe, expect, it } from 'vitest';
import { plan } from './plan.js';

describe('plan', () => {
  it.each([
    { scenario: 'no such App', appHealthy: undefined, minHealthy: 1, healthy: 0, status: 'False', reason: 'AppNotFound' },
    { scenario: 'more healthy than wanted', appHealthy: 3, minHealthy: 2, healthy: 3, status: 'True', reason: 'EnoughHealthy' },
    { scenario: 'exactly as many as wanted', appHealthy: 2, minHealthy: 2, healthy: 2, status: 'True', reason: 'EnoughHealthy' },
    { scenario: 'fewer than wanted', appHealthy: 1, minHealthy: 2, healthy: 1, status: 'False', reason: 'TooFewHealthy' },
    { scenario: 'none wanted, none healthy', appHealthy: 0, minHealthy: 0, healthy: 0, status: 'True', reason: 'EnoughHealthy' },
  ])('$scenario → $status ($reason)', ({ appHealthy, minHealthy, healthy, status, reason }) => {
    const result = plan({ app: 'web', minHealthy, appHealthy });
    expect(result.healthy).toBe(healthy);
    expect(result.condition).toMatchObject({ type: 'Healthy', status, reason });
  });
});
`;
}

function controllerTs({ name, kind, camel }: Names): string {
  return `// The ${kind} controller: keeps each ${kind}'s Healthy condition and the App's healthy count in
// its status, and records an event when the condition changes. Level-triggered: whenever it runs it
// recomputes from the caches, so a missed change or a restart is caught up on the next reconcile.
import {
  done,
  getCondition,
  parseRefKey,
  refKey,
  setCondition,
  type AnyObject,
  type Caches,
  type ControllerDefinition,
  type DeepReadonly,
  type InformerEvent,
  type ReconcileContext,
  type Result,
} from 'capstan/sdk';
import { ${camel}Kind, type ${kind}Status } from './kind.js';
import { HEALTHY, plan } from './plan.js';

export function ${camel}Controller(): ControllerDefinition {
  return {
    name: '${name}',
    watches: [
      { kind: ${camel}Kind },
      // A change to an App (its healthy count, or the App appearing) concerns the ${kind}s naming it.
      { kind: 'App', map: targeting },
    ],
    reconcile,
  };
}

function targeting(event: InformerEvent, caches: Caches): string[] {
  const { namespace, name } = event.object.metadata;
  return caches(${camel}Kind)
    .list((object) => object.metadata.namespace === namespace && object.spec.app === name)
    .map((object) => refKey(object.metadata));
}

async function reconcile(key: string, ctx: ReconcileContext): Promise<Result> {
  const object = ctx.informer(${camel}Kind).get(key);
  if (!object) return done();
  // The App is in the object's namespace.
  const app = ctx.informer('App').get(refKey({ ...parseRefKey(key), name: object.spec.app }));
  const next = plan({ app: object.spec.app, minHealthy: object.spec.minHealthy, appHealthy: app ? healthyOf(app) : undefined });

  const before = getCondition(object.status?.conditions, HEALTHY);
  const status: ${kind}Status = {
    healthy: next.healthy,
    conditions: setCondition(object.status?.conditions, next.condition, ctx.now()),
  };
  if (object.metadata.generation !== undefined) status.observedGeneration = object.metadata.generation;
  // Writes nothing when the status is unchanged (our own write would wake us again, forever); a
  // Conflict (someone wrote the object meanwhile) is retried by the runtime with a fresh read.
  const written = await ctx.updateStatus(object, status);
  // The event follows the write, so a retried reconcile does not record it twice.
  if (written && (before?.status !== next.condition.status || before?.reason !== next.condition.reason)) {
    const { reason, message } = next.condition;
    await ctx.events.record(object, { type: next.condition.status === 'True' ? 'Normal' : 'Warning', reason, message });
  }
  return done();
}

/** App is a built-in kind with no typed definition here: its status is read as what we need of it. */
function healthyOf(app: DeepReadonly<AnyObject>): number {
  return (app.status as { healthy?: number } | undefined)?.healthy ?? 0;
}
`;
}

function controllerTestTs({ kind, camel }: Names): string {
  return `// The controller on a real etcd, as it runs in a cluster: a real store, real watches and caches, the
// CustomKind installed. Only the built-in controllers are absent: the test writes the App's status
// itself, as they would.
import { getCondition, type Manager, type Store } from 'capstan/sdk';
import { eventsOf, openStore, startControllers, startEtcd, until, type TestEtcd } from 'capstan/sdk/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ${camel}Controller } from './controller.js';
import { ${camel}Kind, type ${kind} } from './kind.js';

const app = (name: string, instances: number) => ({
  apiVersion: 'capstan/v1',
  kind: 'App',
  metadata: { namespace: 'default', name },
  spec: { instances, driver: 'process', containers: [{ cmd: 'sleep 600' }] },
});

describe('the ${kind} controller', () => {
  let etcd: TestEtcd;
  let store: Store;
  let close: () => void;
  let manager: Manager;

  beforeAll(async () => {
    etcd = await startEtcd();
    ({ store, close } = await openStore({ etcd: etcd.endpoint, kinds: [${camel}Kind] }));
    manager = await startControllers({ store, controllers: [${camel}Controller()], kinds: [${camel}Kind] });
  }, 60_000);

  afterAll(async () => {
    await manager?.stop();
    close?.();
    await etcd?.stop();
  });

  const read = (name: string) => store.mustGet<${kind}>('${kind}', { namespace: 'default', name });
  const healthyCondition = async (name: string) => getCondition((await read(name)).status?.conditions, 'Healthy');

  it('says AppNotFound until the App exists, then follows its healthy count, with an event at each change', async () => {
    await store.create({ apiVersion: 'capstan/v1', kind: '${kind}', metadata: { namespace: 'default', name: 'web' }, spec: { app: 'web', minHealthy: 2 } });
    await until(async () => (await healthyCondition('web'))?.reason === 'AppNotFound', { what: 'Healthy=False, AppNotFound' });

    const created = await store.create(app('web', 3));
    await until(async () => (await healthyCondition('web'))?.reason === 'TooFewHealthy', { what: 'Healthy=False, TooFewHealthy' });

    // What the built-in controllers would write once the App's instances pass their health checks.
    await store.updateStatus({ ...created, status: { instances: 3, staged: 0, running: 3, healthy: 3, unhealthy: 0, ready: 3 } });
    const enough = await until(async () => {
      const object = await read('web');
      return getCondition(object.status?.conditions, 'Healthy')?.status === 'True' && object;
    }, { what: 'Healthy=True' });
    expect(enough.status).toMatchObject({ healthy: 3, observedGeneration: 1 });

    const events = await until(async () => {
      const found = await eventsOf(store, enough);
      return found.length >= 3 && found;
    }, { what: 'three events' });
    expect(events.map((event) => [event.type, event.reason])).toEqual([
      ['Warning', 'AppNotFound'],
      ['Warning', 'TooFewHealthy'],
      ['Normal', 'EnoughHealthy'],
    ]);
  });

  it('is refused by the store when a field breaks the schema, in the words of kind.ts', async () => {
    const bad = { apiVersion: 'capstan/v1', kind: '${kind}', metadata: { namespace: 'default', name: 'bad' }, spec: { app: 'Not An App', minHealthy: -1 } };
    await expect(store.create(bad)).rejects.toThrow(/the name of an App in this namespace/);
  });
});
`;
}

function indexTs({ camel }: Names): string {
  return `// What \`capstan controllers --module\` loads, and main.ts runs: the controllers and the kinds they
// define (registered, and their CustomKinds installed, when the controllers start).
import type { ControllerDefinition } from 'capstan/sdk';
import { ${camel}Controller } from './controller.js';
import { ${camel}Kind } from './kind.js';

export const controllers: ControllerDefinition[] = [${camel}Controller()];
export const kinds = [${camel}Kind];
`;
}

function mainTs(_names: Names): string {
  return `// The controller as a process of its own, leader-elected: \`npm start\` (or node dist/main.js).
// runControllers reads --etcd, CAPSTAN_ETCD and ~/.capstan/config.yaml as \`capstan\` does, so beside
// \`capstan up\` it needs no flag; it exits 0 on SIGINT and SIGTERM; \`--help\` lists its flags.
import { runControllers } from 'capstan/sdk';
import { controllers, kinds } from './index.js';

await runControllers({ controllers, kinds });
`;
}

function exampleYaml({ name, kind }: Names): string {
  return `apiVersion: capstan/v1
kind: ${kind}
metadata:
  name: ${name}-web
spec:
  app: web
  minHealthy: 1
`;
}

function readme({ name, kind, plural }: Names): string {
  const fence = '```';
  return `# ${name}

A Capstan controller with a kind of its own, \`${kind}\`: it names an App and the fewest healthy
instances it should have, and the controller keeps a \`Healthy\` condition, the App's healthy count
and events about it on each ${kind}.

| File | What it is |
| --- | --- |
| \`src/kind.ts\` | The kind, defined once with zod (\`defineKind\`): typed objects for the controller, and the CustomKind the \`capstan\` command validates with |
| \`src/plan.ts\` | The decision, pure; \`src/plan.test.ts\` tests it with a table |
| \`src/controller.ts\` | What it watches, and the reconcile that writes status and events |
| \`src/controller.test.ts\` | The controller on a real etcd (\`capstan/sdk/testing\`) |
| \`src/index.ts\` | \`controllers\` and \`kinds\`, for \`capstan controllers --module\` |
| \`src/main.ts\` | The controller as a process of its own |

## Install and test

${fence}sh
npm install
npm test          # the integration test starts a real etcd: the \`etcd\` binary must be on PATH
npm run typecheck
${fence}

## Run it beside \`capstan up\`

${fence}sh
capstan up &                      # a local cluster; writes ~/.capstan/config.yaml
npm run build
npm start                         # or: node dist/main.js --etcd http://127.0.0.1:2379
capstan apply -f examples/${name}.yaml
capstan get ${plural}
capstan describe ${kind} ${name}-web
${fence}

\`npm start\` is leader-elected: start two and one waits. It reads \`--etcd\`, \`CAPSTAN_ETCD\` and
\`~/.capstan/config.yaml\` as \`capstan\` does; \`node dist/main.js --help\` lists its flags. It
installs the ${kind} CustomKind when it starts, so \`capstan apply\` knows the kind from then on and
says what is wrong with a bad field in the words given in \`src/kind.ts\`.

Or load it into the built-in controllers' process instead of a process of its own:

${fence}sh
npm run build
capstan controllers --module ./dist/index.js
${fence}

## Upgrade

\`npm install capstan@latest\`, then \`npm run typecheck && npm test\`.
`;
}
