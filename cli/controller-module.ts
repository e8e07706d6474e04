// `capstan controllers --module PATH`: a user's controllers, loaded from their ES module into the
// built-in manager. The module exports `controllers` (an array of ControllerDefinition, or a function
// returning one or a promise of one) and optionally `kinds` (what defineKind returns).
//
// The module imports `capstan/sdk` from its own node_modules: a second copy of the SDK beside the
// CLI's. That works because the contract is plain data (results are `{ kind: 'done' }` objects, a
// defined kind is checked by shape, store errors are recognised by name and code, not instanceof),
// so this loader checks shapes too, never classes.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ControllerDefinition } from '../controllers/contract.ts';
import type { KindDefinition } from '../api/kinds/registry.ts';
import type { InstallableKind } from '../controllers/install-kinds.ts';

const TYPESCRIPT = new Set(['.ts', '.mts', '.cts']);

const say = {
  notFound: (specifier: string, path: string) => `--module ${specifier}: no such file ${path}; pass the path of an ES module (relative to the current directory) or the name of an installed package`,
  unresolved: (specifier: string, cwd: string, reason: string) => `--module ${specifier}: no file or package of that name from ${cwd} (${reason}); pass a path such as ./${specifier}.js, or install the package`,
  noTsx: (path: string) => `--module ${path}: a TypeScript module needs tsx to load, and tsx is installed neither beside it nor beside capstan; compile it (\`npm run build\`) and pass the .js, or install tsx`,
  syntax: (path: string, where: string, message: string) => `--module ${path}: not an ES module Node can load: ${message} at ${where}; fix it, or compile it to JavaScript with "type": "module" in its package.json`,
  failed: (path: string, message: string) => `--module ${path}: loading it failed: ${message}`,
  noControllers: (path: string, found: string[]) =>
    `--module ${path}: expected an export named "controllers" (an array of controller definitions, or a function returning one), found ${found.length ? `only ${found.map((name) => `"${name}"`).join(', ')}` : 'no exports'}`,
  factoryFailed: (path: string, message: string) => `--module ${path}: its controllers() failed: ${message}`,
  notArray: (path: string, found: string) => `--module ${path}: expected "controllers" to be an array of controller definitions (or a function returning one), found ${found}`,
  badController: (path: string, index: number, found: string) =>
    `--module ${path}: controllers[${index}] is not a controller definition: expected { name, watches, reconcile } (primaryKind optional), found ${found}`,
  badKinds: (path: string, found: string) => `--module ${path}: expected "kinds" to be an array of kinds made by defineKind, found ${found}`,
  twice: (name: string, first: string, second: string) => `controller "${name}" is defined by both ${first} and ${second}: controller names must be unique; rename one`,
} as const;

/** A problem with a --module the person must fix: one sentence. */
export class ControllerModuleError extends Error {
  override readonly name = 'ControllerModuleError';
}

export type ModuleKind = KindDefinition & InstallableKind;

export interface LoadedModule {
  /** As given on the command line. */
  specifier: string;
  /** The file loaded. */
  path: string;
  controllers: ControllerDefinition[];
  kinds: ModuleKind[];
}

export interface LoadOptions {
  /** A path (relative to cwd) or a package name resolved from cwd. */
  specifier: string;
  cwd: string;
}

export async function loadControllerModule(options: LoadOptions): Promise<LoadedModule> {
  const path = resolveModule(options);
  if (TYPESCRIPT.has(extname(path))) await registerTsx(path);
  const namespace = await importModule(path);
  const controllers = await controllersOf(namespace, path);
  return { specifier: options.specifier, path, controllers, kinds: kindsOf(namespace, path) };
}

/** Loads every module; a controller name two modules share is an error naming both files. */
export async function loadControllerModules(options: { specifiers: string[]; cwd: string }): Promise<LoadedModule[]> {
  const loaded: LoadedModule[] = [];
  const owners = new Map<string, string>();
  for (const specifier of options.specifiers) {
    const module = await loadControllerModule({ specifier, cwd: options.cwd });
    for (const controller of module.controllers) {
      const first = owners.get(controller.name);
      if (first) throw new ControllerModuleError(say.twice(controller.name, first, module.path));
      owners.set(controller.name, module.path);
    }
    loaded.push(module);
  }
  return loaded;
}

function looksLikePath(specifier: string): boolean {
  return isAbsolute(specifier) || specifier.startsWith('.') || /\.[cm]?[jt]s$/.test(specifier);
}

function resolveModule({ specifier, cwd }: LoadOptions): string {
  const path = resolve(cwd, specifier);
  if (existsSync(path) && statSync(path).isFile()) return path;
  if (looksLikePath(specifier)) throw new ControllerModuleError(say.notFound(specifier, path));
  try {
    return createRequire(join(cwd, 'noop.js')).resolve(specifier);
  } catch (error) {
    throw new ControllerModuleError(say.unresolved(specifier, cwd, firstLine(error)));
  }
}

/** tsx from beside the module first (the user's version), else from beside capstan (a checkout). */
async function registerTsx(path: string): Promise<void> {
  const api = findTsx([join(dirname(path), 'noop.js'), import.meta.url]);
  if (!api) throw new ControllerModuleError(say.noTsx(path));
  const { register } = (await import(pathToFileURL(api).href)) as { register: () => unknown };
  register();
}

/**
 * tsx/esm/api's ES module entry. require.resolve would give its CommonJS one, which cannot be
 * import()ed, so the path comes from tsx's own exports map.
 */
function findTsx(from: string[]): string | undefined {
  for (const base of from) {
    let manifest: string;
    try {
      manifest = createRequire(base).resolve('tsx/package.json');
    } catch {
      continue; // Not installed there: the next place may have it; none at all is said by the caller.
    }
    const exports = (JSON.parse(readFileSync(manifest, 'utf8')) as { exports?: Record<string, { import?: { default?: string } }> }).exports;
    const entry = exports?.['./esm/api']?.import?.default;
    if (entry) return join(dirname(manifest), entry);
  }
  return undefined;
}

async function importModule(path: string): Promise<Record<string, unknown>> {
  try {
    return (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof SyntaxError) throw new ControllerModuleError(say.syntax(path, syntaxErrorPlace(path), error.message));
    // tsx's (esbuild's) "Transform failed with 1 error:\n/x.ts:1:17: ERROR: Unexpected ";"".
    const transform = /^(\S+:\d+:\d+): ERROR: (.*)$/m.exec(error instanceof Error ? error.message : '');
    if (transform) throw new ControllerModuleError(say.syntax(path, transform[1]!, transform[2]!));
    throw new ControllerModuleError(say.failed(path, firstLine(error)));
  }
}

/**
 * Node 20 keeps an ES module's syntax error's line out of the error it throws (it prints it only when
 * the error kills the process), so the file is checked again, as a module, by `node --check`: only on
 * this path, where a few tens of milliseconds do not matter.
 */
function syntaxErrorPlace(path: string): string {
  const checked = spawnSync(process.execPath, ['--input-type=module', '--check', '-'], { input: readFileSync(path), encoding: 'utf8' });
  const line = /^\[stdin\]:(\d+)/.exec(checked.stderr ?? '');
  return line ? `${path}:${line[1]}` : path;
}

async function controllersOf(namespace: Record<string, unknown>, path: string): Promise<ControllerDefinition[]> {
  if (!('controllers' in namespace)) throw new ControllerModuleError(say.noControllers(path, Object.keys(namespace)));
  const exported = namespace['controllers'];
  const value = typeof exported === 'function' ? await called(exported as () => unknown, path) : exported;
  if (!Array.isArray(value)) throw new ControllerModuleError(say.notArray(path, describe(value)));
  value.forEach((controller, index) => {
    if (!isControllerDefinition(controller)) throw new ControllerModuleError(say.badController(path, index, describe(controller)));
  });
  return value as ControllerDefinition[];
}

async function called(factory: () => unknown, path: string): Promise<unknown> {
  try {
    return await factory();
  } catch (error) {
    throw new ControllerModuleError(say.factoryFailed(path, firstLine(error)));
  }
}

function kindsOf(namespace: Record<string, unknown>, path: string): ModuleKind[] {
  const kinds = namespace['kinds'];
  if (kinds === undefined) return [];
  if (!Array.isArray(kinds) || !kinds.every(isDefinedKind)) throw new ControllerModuleError(say.badKinds(path, describe(kinds)));
  return kinds as ModuleKind[];
}

function isControllerDefinition(value: unknown): value is ControllerDefinition {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Partial<ControllerDefinition>;
  return typeof candidate.name === 'string' && candidate.name !== '' && Array.isArray(candidate.watches) && typeof candidate.reconcile === 'function';
}

/** defineKind's result, by shape: the module's copy of the SDK is not this one. */
function isDefinedKind(value: unknown): value is ModuleKind {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Partial<ModuleKind>;
  return typeof candidate.kind === 'string' && typeof candidate.customKindObject === 'function' && typeof candidate.spec === 'object';
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object') {
    const keys = Object.keys(value);
    return keys.length ? `an object with ${keys.slice(0, 5).join(', ')}` : 'an empty object';
  }
  if (typeof value === 'function') return 'a function';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
}
