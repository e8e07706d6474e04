// Runs Capstan's TypeScript without a build step in the tree: the first run (and any run after a
// source file changed) bundles an entry point with esbuild into node_modules/.cache/capstan/, and
// later runs import that bundle. Compared with transpiling through tsx's loader on every start, a
// process starts faster and carries no loader thread (about 33 MB less resident memory).
//
// Dependencies stay external (resolved from node_modules as usual). When the bundle cannot be made
// (no esbuild, a read-only checkout), the caller falls back to tsx.
import { mkdirSync, readdirSync, renameSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE_DIRS = ['api', 'controllers', 'runtime', 'cli', 'bench', 'examples'];

function newestSource() {
  let newest = statSync(join(root, 'package.json')).mtimeMs;
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
    }
  };
  for (const dir of SOURCE_DIRS) {
    try {
      walk(join(root, dir));
    } catch {
      // a folder that does not exist has nothing newer
    }
  }
  return newest;
}

/** The path of an up-to-date bundle of `entry` (relative to the repository root). */
export async function bundled(entry) {
  const outfile = join(root, 'node_modules', '.cache', 'capstan', relative(root, entry).replace(/\.ts$/, '.mjs'));
  let built = 0;
  try {
    built = statSync(outfile).mtimeMs;
  } catch {
    // not built yet
  }
  if (built > newestSource()) return outfile;
  const { build } = await import('esbuild');
  mkdirSync(dirname(outfile), { recursive: true });
  // Built beside the target and renamed into place: processes starting at the same moment each
  // build their own copy and never import a half-written file.
  const temporary = `${outfile}.${process.pid}.tmp.mjs`;
  await build({
    entryPoints: [join(root, entry)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    outfile: temporary,
    logLevel: 'error',
  });
  renameSync(temporary, outfile);
  return outfile;
}
