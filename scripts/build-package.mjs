// Builds what the package ships into dist/ (run by `npm pack` and `npm publish` as "prepack"):
//   dist/sdk/…, dist/api/…, …  capstan/sdk and capstan/sdk/testing as JavaScript plus .d.ts, in the
//                              sources' layout (tsc -p tsconfig.build.json)
//   dist/cli/main.mjs + chunks the `capstan` command, bundled as bin/bundle.js bundles it in a checkout
// so an installed Capstan runs under plain Node, type-checks under a default tsconfig, and needs
// neither tsx nor esbuild.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBundle } from '../bin/bundle.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIST = join(ROOT, 'dist');

const say = {
  tscFailed: (status) => `capstan build: tsc -p tsconfig.build.json exited with ${status}: fix the type errors above, then pack again`,
  built: (ms) => `capstan build: dist/ (the SDK with its .d.ts, the CLI bundle) in ${ms} ms\n`,
};

/**
 * A relative specifier ending in .ts, quoted: `from '../api/store.ts'`, `import('./kind.ts')`.
 * tsc rewrites these in the JavaScript (rewriteRelativeImportExtensions) but keeps them in the .d.ts.
 * TypeScript 5.9 finds `store.d.ts` for `./store.ts` all the same; the rewrite makes each declaration
 * name the file it describes, as the JavaScript beside it does, for any other reader of them.
 */
const TS_SPECIFIER = /(['"])(\.{1,2}\/[^'"]*?)\.ts\1/g;

function compileSdk(outDir) {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const { status } = spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', outDir], { cwd: ROOT, stdio: 'inherit' });
  if (status !== 0) throw new Error(say.tscFailed(status));
  for (const entry of readdirSync(outDir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.d.ts')) continue;
    const file = join(entry.parentPath, entry.name);
    const text = readFileSync(file, 'utf8');
    const rewritten = text.replace(TS_SPECIFIER, (_, quote, path) => `${quote}${path}.js${quote}`);
    if (rewritten !== text) writeFileSync(file, rewritten);
  }
}

// Built beside dist/ and swapped in by two renames: a `npm pack` running meanwhile (two test files
// may pack the checkout at once) finds the previous dist/ or this one, never one half-written.
const started = Date.now();
const building = `${DIST}.${process.pid}.tmp`;
const replaced = `${DIST}.${process.pid}.old`;
rmSync(building, { recursive: true, force: true });
try {
  compileSdk(building);
  await buildBundle('cli/main.ts', { outdir: join(building, 'cli') });
  // The dashboard's static files (api/http/ui.ts finds them above the bundle).
  cpSync(join(ROOT, 'api', 'http', 'ui'), join(building, 'api', 'http', 'ui'), { recursive: true, filter: (path) => !path.endsWith('.test.ts') });
  if (existsSync(DIST)) renameSync(DIST, replaced);
  renameSync(building, DIST);
} finally {
  rmSync(building, { recursive: true, force: true });
  rmSync(replaced, { recursive: true, force: true });
}
process.stderr.write(say.built(Date.now() - started));
