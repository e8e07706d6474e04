// `capstan init controller NAME [--dir DIR] [--capstan SPEC]`: a new project, outside this
// repository, for a controller of one kind of its own, whose `npm install && npm test` passes as
// generated. What it writes is plain text made here (scaffold-files.ts), so the command needs no
// template files beside the bundled CLI; this module checks the name and the directory and writes.
//
// The versions the project depends on are this package's own: capstan at the running CLI's version,
// and zod, typescript, vitest and @types/node as package.json pins them, read when the CLI is built,
// so a scaffold never drifts from what the SDK is built and tested with.
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { Command } from 'commander';
import packageJson from '../package.json' with { type: 'json' };
import { builtinRegistry } from '../api/kinds/builtin.ts';
import { checkDnsLabel } from '../api/object.ts';
import type { Act } from './command.ts';
import type { CommandContext } from './context.ts';
import { EXIT, usageError } from './errors.ts';
import { namesOf, scaffoldController, type ScaffoldVersions } from './scaffold-files.ts';

const say = {
  badName: (name: string, problem: string) => `NAME: expected a DNS label such as "app-alert" (it names the package, the controller and, in PascalCase, the kind), found "${name}": ${problem}`,
  digitFirst: (name: string) => `NAME: expected a name that starts with a letter (the kind is its PascalCase, which must too), found "${name}"`,
  builtIn: (name: string, kind: string, builtIn: string) =>
    `NAME: "${name}" makes the kind ${kind}, whose names clash with Capstan's built-in ${builtIn}: choose another, e.g. "${name}-guard"`,
  notEmpty: (dir: string) => `${dir} exists and is not empty: give a new directory with --dir DIR, or empty this one`,
  notADirectory: (dir: string) => `${dir} exists and is not a directory: give a new directory with --dir DIR`,
  created: (dir: string, files: string[]) => `created ${dir}:\n${files.map((file) => `  ${file}`).join('\n')}`,
  next: (cd: string) =>
    `\nnext:\n  cd ${cd}\n  npm install\n  npm test           # the table test and an integration test on a real etcd\n  npm run build && npm start   # beside \`capstan up\`; see README.md`,
} as const;

export interface InitControllerOptions {
  name: string;
  /** Default ./NAME. */
  dir?: string;
  /** The dependency spec for capstan: default `^` + this CLI's version; a tarball path or `file:` works. */
  capstan?: string;
}

export function initCommand(act: Act): Command {
  const init = new Command('init').description('Create a project');
  init
    .command('controller')
    .description('Create a project for a controller with a kind of its own: package.json, tsconfig, kind, controller, tests, README')
    .argument('<name>', 'a DNS label: the package and controller name; the kind is its PascalCase ("app-alert" → AppAlert)')
    .option('--dir <dir>', 'where to create it (default: ./NAME); must not exist or be empty')
    .option('--capstan <spec>', 'the capstan dependency as npm understands it (default: ^ and this CLI\'s version; a tarball path or file: works)')
    .action(act(async (ctx, name: string, options: { dir?: string; capstan?: string }) => runInitController(ctx, { name, ...options })));
  return init;
}

export async function runInitController(ctx: CommandContext, options: InitControllerOptions): Promise<number> {
  checkName(options.name);
  const dir = resolve(ctx.config.cwd, options.dir ?? options.name);
  checkEmpty(dir);
  const files = scaffoldController({ name: options.name, capstan: options.capstan ?? `^${packageJson.version}`, versions: versionsOf(packageJson) });
  for (const file of files) {
    mkdirSync(dirname(join(dir, file.path)), { recursive: true });
    writeFileSync(join(dir, file.path), file.content);
  }
  const shown = relative(ctx.config.cwd, dir) || '.';
  ctx.io.stdout.write(`${say.created(shown, files.map((file) => file.path))}\n${say.next(shown)}\n`);
  return EXIT.ok;
}

export function checkName(name: string): void {
  const problem = checkDnsLabel(name);
  if (problem) throw usageError(say.badName(name, problem));
  if (!/^[a-z]/.test(name)) throw usageError(say.digitFirst(name));
  // The kind is known by its name, singular and plural, case-insensitively: none may be a built-in's.
  const { kind, plural } = namesOf(name);
  const registry = builtinRegistry();
  const clash = registry.find(kind) ?? registry.find(kind.toLowerCase()) ?? registry.find(plural);
  if (clash) throw usageError(say.builtIn(name, kind, clash.kind));
}

/** A directory that does not exist yet, or an empty one: never a file of the user's overwritten. */
function checkEmpty(dir: string): void {
  let entries: string[];
  try {
    if (!statSync(dir).isDirectory()) throw usageError(say.notADirectory(dir));
    entries = readdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (entries.length > 0) throw usageError(say.notEmpty(dir));
}

interface PackageJsonVersions {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
}

export function versionsOf(pkg: PackageJsonVersions): ScaffoldVersions {
  return {
    zod: pkg.dependencies['zod']!,
    typescript: pkg.devDependencies['typescript']!,
    vitest: pkg.devDependencies['vitest']!,
    typesNode: pkg.devDependencies['@types/node']!,
  };
}
