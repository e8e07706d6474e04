import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CONTROLLER = `{ name: 'alerts', watches: [{ kind: 'App' }], reconcile: async () => ({ kind: 'done' }) }`;
const KIND = `{ kind: 'Alert', plural: 'alerts', spec: {}, customKindObject: () => ({}) }`;

/** The files of the modules the cases load, relative to a temp dir. */
const FILES: Record<string, string> = {
  'good.mjs': `export const controllers = [${CONTROLLER}];\nexport const kinds = [${KIND}];\n`,
  'factory.mjs': `export const controllers = async () => [${CONTROLLER}];\n`,
  'typed.ts': `const name: string = 'typed';\nexport const controllers = [{ name, watches: [{ kind: 'App' }], reconcile: async () => ({ kind: 'done' as const }) }];\n`,
  'node_modules/my-controllers/package.json': JSON.stringify({ name: 'my-controllers', type: 'module', main: 'index.js' }),
  'node_modules/my-controllers/index.js': `export const controllers = [${CONTROLLER}];\n`,
  'syntax.mjs': `export const controllers = [\n  ${CONTROLLER},\n  { name: ,\n];\n`,
  'throws.mjs': `throw new Error('etcd URL missing');\n`,
  'missing-import.mjs': `import { defineKind } from 'capstan-not-installed';\nexport const controllers = [];\n`,
  'no-export.mjs': `export const reconcile = () => {};\n`,
  'string.mjs': `export const controllers = 'alerts';\n`,
  'not-a-controller.mjs': `export const controllers = [${CONTROLLER}, { name: 'half' }];\n`,
  'bad-kinds.mjs': `export const controllers = [${CONTROLLER}];\nexport const kinds = ['Alert'];\n`,
  'factory-throws.mjs': `export const controllers = () => { throw new Error('CONFIG_PATH is not set'); };\n`,
  'twin.mjs': `export const controllers = [${CONTROLLER}];\n`,
};

/**
 * The loader runs in a real Node process, as in `capstan controllers`: under vitest, `import()` goes
 * through vite's module runner, which parses and resolves modules its own way.
 */
const DRIVER = `
const [loader, cwd, calls] = process.argv.slice(2);
const { loadControllerModule, loadControllerModules } = await import(loader);
const outcomes = [];
for (const specifiers of JSON.parse(calls)) {
  try {
    const modules = await loadControllerModules({ specifiers, cwd });
    const results = await Promise.all(modules.map((m) => m.controllers[0]?.reconcile('default/x', {})));
    outcomes.push({ controllers: modules.flatMap((m) => m.controllers.map((c) => c.name)), kinds: modules.flatMap((m) => m.kinds.map((k) => k.kind)), results });
  } catch (error) {
    outcomes.push({ error: error.message, name: error.name });
  }
}
process.stdout.write(JSON.stringify(outcomes));
`;

interface Outcome {
  controllers?: string[];
  kinds?: string[];
  results?: unknown[];
  error?: string;
  name?: string;
}

/** Loads each list of specifiers (one loadControllerModules call each) in one Node process. */
function load(calls: string[][]): Outcome[] {
  writeFileSync(join(dir, 'driver.mjs'), DRIVER);
  const loader = fileURLToPath(new URL('./controller-module.ts', import.meta.url));
  const run = spawnSync(process.execPath, ['--import', 'tsx', join(dir, 'driver.mjs'), loader, dir, JSON.stringify(calls)], { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
  if (run.status !== 0) throw new Error(`the driver failed (${run.status}): ${run.stderr}`);
  return JSON.parse(run.stdout) as Outcome[];
}

const REPO = fileURLToPath(new URL('..', import.meta.url));
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'capstan-module-'));
  for (const [path, text] of Object.entries(FILES)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const LOADS = [
  { specifier: './good.mjs', controllers: ['alerts'], kinds: ['Alert'] },
  { specifier: 'factory.mjs', controllers: ['alerts'], kinds: [] },
  { specifier: './typed.ts', controllers: ['typed'], kinds: [] },
  { specifier: 'my-controllers', controllers: ['alerts'], kinds: [] },
];

const FAILURES = [
  { case: 'a missing file', specifier: './nope.js', error: /^--module \.\/nope\.js: no such file \/.*\/nope\.js; pass the path of an ES module/ },
  { case: 'a package not installed', specifier: 'no-such-package', error: /^--module no-such-package: no file or package of that name from .*; pass a path such as \.\/no-such-package\.js/ },
  { case: 'a syntax error, with its line', specifier: './syntax.mjs', error: /^--module \/.*syntax\.mjs: not an ES module Node can load: Unexpected token ',' at \/.*syntax\.mjs:3;/ },
  { case: 'a module that throws', specifier: './throws.mjs', error: /^--module \/.*throws\.mjs: loading it failed: etcd URL missing$/ },
  { case: 'an import not installed', specifier: './missing-import.mjs', error: /loading it failed: Cannot find package 'capstan-not-installed'/ },
  { case: 'no controllers export', specifier: './no-export.mjs', error: /expected an export named "controllers" \(an array of controller definitions, or a function returning one\), found only "reconcile"$/ },
  { case: 'a controllers() that throws', specifier: './factory-throws.mjs', error: /^--module \/.*factory-throws\.mjs: its controllers\(\) failed: CONFIG_PATH is not set$/ },
  { case: 'controllers not an array', specifier: './string.mjs', error: /expected "controllers" to be an array of controller definitions \(or a function returning one\), found string "alerts"$/ },
  { case: 'a controller without watches or reconcile', specifier: './not-a-controller.mjs', error: /controllers\[1\] is not a controller definition: expected \{ name, watches, reconcile \} \(primaryKind optional\), found an object with name$/ },
  { case: 'kinds not made by defineKind', specifier: './bad-kinds.mjs', error: /expected "kinds" to be an array of kinds made by defineKind, found an array of 1$/ },
];

let outcomes: Outcome[];

beforeAll(() => {
  outcomes = load([...LOADS.map((c) => [c.specifier]), ...FAILURES.map((c) => [c.specifier]), ['./good.mjs', './twin.mjs']]);
});

describe('loadControllerModule', () => {
  it.each(LOADS.map((c, index) => ({ ...c, index })))('loads $specifier', ({ index, controllers, kinds }) => {
    expect(outcomes[index]).toEqual({ controllers, kinds, results: [{ kind: 'done' }] });
  });

  it.each(FAILURES.map((c, index) => ({ ...c, index: LOADS.length + index })))('says what is wrong with $case', ({ index, error }) => {
    expect(outcomes[index]!.name).toBe('ControllerModuleError');
    expect(outcomes[index]!.error).toMatch(error);
  });
});

describe('loadControllerModules', () => {
  it('refuses one controller name in two modules, naming both files', () => {
    expect(outcomes[LOADS.length + FAILURES.length]!.error).toMatch(
      /^controller "alerts" is defined by both \/.*good\.mjs and \/.*twin\.mjs: controller names must be unique; rename one$/,
    );
  });
});
