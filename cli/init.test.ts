import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import repoPackage from '../package.json' with { type: 'json' };
import { versionsOf } from './init.ts';
import { runCli } from './program.ts';
import { namesOf, scaffoldController, type ScaffoldFile } from './scaffold-files.ts';

const root = mkdtempSync(join(tmpdir(), 'capstan-init-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function init(args: string[], cwd: string) {
  let stdout = '';
  let stderr = '';
  const code = await runCli({
    argv: ['init', 'controller', ...args],
    env: { NO_COLOR: '1' },
    stdout: { write: (chunk: string) => (stdout += chunk), isTTY: false },
    stderr: { write: (chunk: string) => (stderr += chunk), isTTY: false },
    stdin: Readable.from(['']),
    cwd,
    homedir: '/nonexistent',
  });
  return { code, stdout, stderr };
}

const files = scaffoldController({ name: 'app-alert', capstan: '^9.9.9', versions: versionsOf(repoPackage) });
const fileNamed = (path: string): ScaffoldFile => files.find((file) => file.path === path)!;

describe('scaffoldController', () => {
  it('writes a package, its tsconfig, the kind, the pure plan, the controller, their tests, the entry points and a README', () => {
    expect(files.map((file) => file.path).sort()).toEqual(
      [
        '.gitignore',
        'README.md',
        'examples/app-alert.yaml',
        'package.json',
        'src/controller.test.ts',
        'src/controller.ts',
        'src/index.ts',
        'src/kind.ts',
        'src/main.ts',
        'src/plan.test.ts',
        'src/plan.ts',
        'tsconfig.json',
      ].sort(),
    );
  });

  it("depends on capstan as given, and pins zod, typescript, vitest and @types/node at this repository's versions", () => {
    const pkg = JSON.parse(fileNamed('package.json').content);
    expect(pkg).toMatchObject({
      name: 'app-alert',
      type: 'module',
      dependencies: { capstan: '^9.9.9', zod: repoPackage.dependencies.zod },
      devDependencies: { typescript: repoPackage.devDependencies.typescript, vitest: repoPackage.devDependencies.vitest, '@types/node': repoPackage.devDependencies['@types/node'] },
      scripts: { build: 'tsc -p .', typecheck: 'tsc --noEmit -p .', start: 'node dist/main.js' },
    });
    expect(pkg.scripts.test).toMatch(/^vitest run/);
  });

  it('has the tsconfig `tsc --init` writes for a Node ESM project, without allowImportingTsExtensions', () => {
    const { compilerOptions } = JSON.parse(fileNamed('tsconfig.json').content);
    expect(compilerOptions).toMatchObject({ module: 'nodenext', target: 'es2022', strict: true, skipLibCheck: true, outDir: './dist', rootDir: './src', declaration: false });
    expect(compilerOptions).not.toHaveProperty('allowImportingTsExtensions');
  });

  it('imports Capstan only through capstan/sdk and capstan/sdk/testing, and its own modules by .js', () => {
    const specifiers = files
      .filter((file) => file.path.endsWith('.ts'))
      .flatMap((file) => [...file.content.matchAll(/^import [^;]*? from '([^']+)';$/gms)].map((match) => match[1]!));
    expect(new Set(specifiers)).toEqual(new Set(['capstan/sdk', 'capstan/sdk/testing', 'zod', 'vitest', './kind.js', './plan.js', './controller.js', './index.js']));
  });

  it('names the kind after the project, in PascalCase, everywhere', () => {
    expect(fileNamed('src/kind.ts').content).toContain("kind: 'AppAlert'");
    expect(fileNamed('src/controller.ts').content).toContain("name: 'app-alert'");
    expect(fileNamed('examples/app-alert.yaml').content).toContain('kind: AppAlert');
    expect(fileNamed('README.md').content).toContain('capstan get appalerts');
  });
});

describe('namesOf', () => {
  it.each([
    { name: 'guard', kind: 'Guard', camel: 'guard', plural: 'guards' },
    { name: 'app-alert', kind: 'AppAlert', camel: 'appAlert', plural: 'appalerts' },
    { name: 'web2-health-guard', kind: 'Web2HealthGuard', camel: 'web2HealthGuard', plural: 'web2healthguards' },
    { name: 'a--b', kind: 'AB', camel: 'aB', plural: 'abs' },
  ])('$name → $kind', ({ name, kind, camel, plural }) => {
    expect(namesOf(name)).toEqual({ kind, camel, plural });
  });
});

describe('capstan init controller', () => {
  it('creates ./NAME with the files, depending on this version of capstan by default', async () => {
    const cwd = join(root, 'default');
    mkdirSync(cwd);
    const result = await init(['app-alert'], cwd);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('created app-alert:');
    for (const file of files) expect(existsSync(join(cwd, 'app-alert', file.path)), file.path).toBe(true);
    const pkg = JSON.parse(readFileSync(join(cwd, 'app-alert/package.json'), 'utf8'));
    expect(pkg.dependencies.capstan).toBe(`^${repoPackage.version}`);
  });

  it('creates --dir DIR with --capstan SPEC, into an existing empty directory too', async () => {
    const cwd = join(root, 'options');
    mkdirSync(join(cwd, 'empty'), { recursive: true });
    const result = await init(['app-alert', '--dir', 'empty', '--capstan', 'file:../capstan-0.1.0.tgz'], cwd);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(cwd, 'empty/package.json'), 'utf8')).dependencies.capstan).toBe('file:../capstan-0.1.0.tgz');
  });

  const occupied = join(root, 'occupied');
  mkdirSync(join(occupied, 'taken'), { recursive: true });
  writeFileSync(join(occupied, 'taken/notes.txt'), 'mine\n');
  writeFileSync(join(occupied, 'a-file'), 'mine\n');

  it.each([
    { scenario: 'a name with capitals', args: ['AppAlert'], message: 'NAME: expected a DNS label such as "app-alert"' },
    { scenario: 'a name with an underscore', args: ['app_alert'], message: 'found "app_alert": a DNS label: lowercase letters' },
    { scenario: 'a name that starts with a digit', args: ['9lives'], message: 'NAME: expected a name that starts with a letter' },
    { scenario: 'a name longer than a DNS label', args: ['a'.repeat(64)], message: 'at most 63 characters' },
    { scenario: 'a name whose kind is built in', args: ['app'], message: 'NAME: "app" makes the kind App, whose names clash with Capstan\'s built-in App: choose another, e.g. "app-guard"' },
    { scenario: "a name whose kind is a built-in's plural", args: ['nodes'], message: "clash with Capstan's built-in Node" },
    { scenario: 'a directory that is not empty', args: ['app-alert', '--dir', 'taken'], message: `${join(occupied, 'taken')} exists and is not empty: give a new directory with --dir DIR` },
    { scenario: 'a file where the directory would be', args: ['app-alert', '--dir', 'a-file'], message: `${join(occupied, 'a-file')} exists and is not a directory` },
    { scenario: 'no name', args: [], message: "missing required argument 'name'" },
  ])('refuses $scenario with exit code 2 and writes nothing', async ({ args, message }) => {
    const result = await init(args, occupied);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(readFileSync(join(occupied, 'taken/notes.txt'), 'utf8')).toBe('mine\n');
    expect(existsSync(join(occupied, 'app-alert'))).toBe(false);
  });
});
