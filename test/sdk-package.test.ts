// The package as a user gets it: `npm pack` (which builds dist/ through "prepack"), the tarball
// installed into an empty project from npm's cache, then capstan/sdk imported under plain Node,
// type-checked under the tsconfig `tsc --init` writes, and `capstan --help` run from the install.
// One pack and one install for the file (beforeAll): they take most of its time.
import { execFile, type ExecFileOptions } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packedCapstan } from './helpers/packed-capstan.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const SLOW_MS = 300_000;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (no stdin: CI has none, and nothing here may prompt). */
function run(file: string, args: string[], options: ExecFileOptions & { cwd: string }): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { timeout: SLOW_MS, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8', ...options }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
    child.stdin?.end();
  });
}

/** What `npm pack --json` says about the tarball it wrote. */
interface Packed {
  /** The tarball's absolute path. */
  filename: string;
  files: string[];
}

let dir: string;
let project: string;
let packed: Packed;
let installed: Run;
const timings: Record<string, number> = {};

async function timed<T>(name: string, work: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    return await work();
  } finally {
    timings[name] = Date.now() - started;
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'capstan-sdk-package-'));
  project = join(dir, 'consumer');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }, null, 2));

  // Through the helper: packs of parallel test files take turns, each rewrites the checkout's dist/.
  const pack = await timed('npm pack (with the prepack build)', () => packedCapstan());
  packed = { filename: pack.tarball, files: pack.files };

  installed = await timed('npm install of the tarball', () =>
    run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', packed.filename], { cwd: project }),
  );
  expect(installed.code, installed.stderr).toBe(0);
}, SLOW_MS);

afterAll(() => {
  process.stderr.write(`sdk-package: ${JSON.stringify({ ...timings, tarballBytes: packed ? statSync(packed.filename).size : undefined })}\n`);
  rmSync(dir, { recursive: true, force: true });
});

describe('the packed package', () => {
  it('holds the built SDK and CLI, and no tests, benchmarks, scripts or TypeScript sources', () => {
    const paths = packed.files;
    expect(paths).toEqual(expect.arrayContaining(['dist/sdk/index.js', 'dist/sdk/index.d.ts', 'dist/sdk/testing.js', 'dist/sdk/testing.d.ts', 'dist/cli/main.mjs', 'bin/capstan.js', 'package.json']));
    expect(paths.filter((path) => /^(test|bench|scripts)\//.test(path))).toEqual([]);
    expect(paths.filter((path) => /\.test\.|(?<!\.d)\.ts$/.test(path))).toEqual([]);
  });

  it('installs from the npm cache without esbuild or tsx, which only this repository needs', () => {
    const lock = JSON.parse(readFileSync(join(project, 'node_modules/.package-lock.json'), 'utf8')) as { packages: Record<string, unknown> };
    const names = Object.keys(lock.packages).map((path) => path.replace(/^.*node_modules\//, ''));
    expect(names).toContain('capstan');
    expect(names.filter((name) => ['esbuild', 'tsx'].includes(name) || name.startsWith('@esbuild/'))).toEqual([]);
  });

  it('imports capstan/sdk under plain Node, loading no Docker client and no bundler', async () => {
    // ESM resolutions through a loader hook (it runs in a thread of its own: it appends to a file),
    // CommonJS ones from require.cache at exit: between them every module the process loaded.
    const record = join(dir, 'loaded.txt');
    writeFileSync(
      join(project, 'record-hooks.mjs'),
      "import { appendFileSync } from 'node:fs';\n" +
        'export async function resolve(specifier, context, next) {\n' +
        '  const resolved = await next(specifier, context);\n' +
        "  appendFileSync(process.env.RECORD, resolved.url + '\\n');\n" +
        '  return resolved;\n' +
        '}\n',
    );
    writeFileSync(
      join(project, 'record.mjs'),
      "import { register, createRequire } from 'node:module';\nimport { appendFileSync } from 'node:fs';\n" +
        "register('./record-hooks.mjs', import.meta.url);\n" +
        "process.on('exit', () => appendFileSync(process.env.RECORD, Object.keys(createRequire(import.meta.url).cache).join('\\n') + '\\n'));\n",
    );
    const imported = await run(process.execPath, ['--import', './record.mjs', '-e', "import('capstan/sdk').then((sdk) => console.log(typeof sdk.done, typeof sdk.defineKind, typeof sdk.runControllers))"], {
      cwd: project,
      env: { ...process.env, RECORD: record },
    });
    expect(imported.stderr).toBe('');
    expect(imported.stdout.trim()).toBe('function function function');

    const loaded = readFileSync(record, 'utf8').split('\n').filter(Boolean);
    expect(loaded).toContainEqual(expect.stringMatching(/node_modules\/capstan\/dist\/sdk\/index\.js$/));
    // etcd3 is CommonJS: seen here, the CommonJS half of the record works.
    expect(loaded).toContainEqual(expect.stringMatching(/node_modules\/etcd3\/lib\/index\.js$/));
    expect(loaded.filter((path) => /node_modules\/(dockerode|docker-modem|ssh2|cpu-features|esbuild|@esbuild|tsx)\//.test(path))).toEqual([]);
  });

  it('type-checks a user file importing capstan/sdk and capstan/sdk/testing under the tsconfig `tsc --init` writes', async () => {
    const init = await run(process.execPath, [TSC, '--init'], { cwd: project });
    expect(init.code, init.stdout).toBe(0);
    const tsconfig = readFileSync(join(project, 'tsconfig.json'), 'utf8');
    expect(tsconfig).toMatch(/"module": "nodenext"/);
    expect(tsconfig).toMatch(/"strict": true/);
    expect(tsconfig).toMatch(/"skipLibCheck": true/);
    writeFileSync(
      join(project, 'controller.ts'),
      "import { done, requeueAfter, type ControllerDefinition, type Result } from 'capstan/sdk';\n" +
        "import { manualClock, until } from 'capstan/sdk/testing';\n" +
        '\n' +
        'export const controller: ControllerDefinition = {\n' +
        "  name: 'noop',\n" +
        "  watches: [{ kind: 'App' }],\n" +
        '  reconcile: async (): Promise<Result> => (Date.now() % 2 === 0 ? done() : requeueAfter(1_000)),\n' +
        '};\n' +
        'const clock = manualClock(new Date(0));\n' +
        'clock.advance(1_000);\n' +
        "export const second: Promise<boolean> = until(async () => clock.now().getTime() === 1_000, { what: 'a second' });\n" +
        '// The declarations are real types, not `any`: a Result is not a string.\n' +
        '// @ts-expect-error\n' +
        'export const wrong: string = done();\n',
    );
    const checked = await run(process.execPath, [TSC, '--noEmit', '-p', '.'], { cwd: project });
    expect(checked.stdout).toBe('');
    expect(checked.code).toBe(0);

    // The declarations import each other as the JavaScript does: by .js, never by a source's .ts.
    const dist = join(project, 'node_modules/capstan/dist');
    const declarations = readdirSync(dist, { recursive: true, encoding: 'utf8' }).filter((path) => path.endsWith('.d.ts'));
    expect(declarations.length).toBeGreaterThan(10);
    const tsImports = declarations.filter((path) => /(['"])\.{1,2}\/[^'"]*\.ts\1/.test(readFileSync(join(dist, path), 'utf8')));
    expect(tsImports).toEqual([]);
  });

  it('runs `capstan --help` from the install, from its prebuilt CLI', async () => {
    const help = await run('npx', ['--no', '--', 'capstan', '--help'], { cwd: project });
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toContain('Usage: capstan');
    // The prebuilt CLI: no bundle was made at run time, in the package or here.
    expect(existsSync(join(project, 'node_modules/.cache'))).toBe(false);
    expect(existsSync(join(project, 'node_modules/capstan/node_modules'))).toBe(false);
  });
});
