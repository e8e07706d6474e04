// bin/bundle.js on sources of its own in a temporary directory, with the real esbuild: a start with
// nothing changed reuses the build, an edited or newly imported source rebuilds it, the current
// directory does not matter (for bundled() and for the `capstan` command), and a dynamic import()
// stays out of the entry's chunk.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execFile } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bundled } from './bundle.js';

const execFileAsync = promisify(execFile);
let root: string;

/** Writes a source dated a minute ago, as a file saved before the build started. */
function write(path: string, text: string, agoMs = 60_000): void {
  const file = join(root, path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  const when = new Date(Date.now() - agoMs);
  utimesSync(file, when, when);
}

async function run(path: string): Promise<unknown> {
  const module = (await import(`${pathToFileURL(path).href}?${Date.now()}`)) as { value: () => Promise<unknown> };
  return module.value();
}

const manifest = () => JSON.parse(readFileSync(join(root, 'node_modules/.cache/capstan/cli/main.json'), 'utf8')) as { build: string; inputs: [string, number][] };
/** What the manifest holds for a source: its mtime, or -1 for "changed, build again". */
const recordedMtime = (path: string) => new Map(manifest().inputs).get(path);

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'capstan-bundle-'));
  write('cli/main.ts', "import { greeting } from './greeting.ts';\nexport async function value() { return greeting; }\n");
  write('cli/greeting.ts', "export const greeting = 'hello';\n");
});

afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('bundled', () => {
  it('builds once and reuses the build while no source changes', async () => {
    const first = await bundled('cli/main.ts', { root });
    expect(await run(first)).toBe('hello');
    const recorded = manifest();
    expect(await bundled('cli/main.ts', { root })).toBe(first);
    expect(manifest()).toEqual(recorded);
  });

  it('rebuilds after an imported source is edited, and after a new source is imported', async () => {
    const first = await bundled('cli/main.ts', { root });
    write('cli/greeting.ts', "export const greeting = 'hello again';\n", 0);
    const second = await bundled('cli/main.ts', { root });
    expect(second).not.toBe(first);
    expect(await run(second)).toBe('hello again');

    write('cli/name.ts', "export const name = 'world';\n");
    write('cli/main.ts', "import { greeting } from './greeting.ts';\nimport { name } from './name.ts';\nexport async function value() { return `${greeting}, ${name}`; }\n", 0);
    expect(await run(await bundled('cli/main.ts', { root }))).toBe('hello again, world');
    // The build the first start ran is still there for a process that runs it.
    expect(existsSync(first)).toBe(true);
  });

  it('builds again after a source saved during the build, but not forever after one dated in the future', async () => {
    write('cli/greeting.ts', "export const greeting = 'hello';\n", 0);
    await bundled('cli/main.ts', { root });
    expect(recordedMtime('cli/greeting.ts')).toBe(-1);
    expect(recordedMtime('cli/main.ts')).toBeGreaterThan(0);

    write('cli/greeting.ts', "export const greeting = 'from the future';\n", -3_600_000);
    expect(await run(await bundled('cli/main.ts', { root }))).toBe('from the future');
    const settled = manifest();
    await bundled('cli/main.ts', { root });
    expect(manifest()).toEqual(settled);
  });

  it('puts the build under the root whatever the current directory', async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'capstan-bundle-cwd-'));
    const cwd = process.cwd();
    process.chdir(elsewhere);
    try {
      const path = await bundled('./cli/main.ts', { root });
      expect(path.startsWith(join(root, 'node_modules/.cache/capstan/cli/main/'))).toBe(true);
      expect(existsSync(join(elsewhere, 'node_modules'))).toBe(false);
    } finally {
      process.chdir(cwd);
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it('runs `capstan --help` from another directory without making a cache there', async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'capstan-bundle-cwd-'));
    try {
      const { stdout } = await execFileAsync(process.execPath, [fileURLToPath(new URL('./capstan.js', import.meta.url)), '--help'], { cwd: elsewhere, timeout: 120_000 });
      expect(stdout).toContain('Usage: capstan');
      expect(readdirSync(elsewhere)).toEqual([]);
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it("bundles the repository's CLI with etcd3's rpc.proto parsed at build time", async () => {
    const path = await bundled('cli/main.ts');
    const chunks = readdirSync(dirname(path)).map((name) => readFileSync(join(dirname(path), name), 'utf8'));
    expect(chunks.filter((text) => text.includes('proto_loader_1.fromJSON)({')).length).toBe(1);
    expect(chunks.some((text) => text.includes('rpc.proto`'))).toBe(false);
  });

  it('gives a dynamic import() a chunk of its own, loaded when it runs', async () => {
    write('cli/main.ts', "export async function value() { return (await import('./later.ts')).later; }\n");
    write('cli/later.ts', "export const later = 'loaded on use';\n");
    const path = await bundled('cli/main.ts', { root });
    expect(readdirSync(dirname(path)).length).toBe(2);
    expect(readFileSync(path, 'utf8')).not.toContain('loaded on use');
    expect(await run(path)).toBe('loaded on use');
  });
});
