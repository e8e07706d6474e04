// Runs Capstan's TypeScript without a build step in the tree: the first run (and any run after a
// source file changed) bundles an entry point with esbuild into node_modules/.cache/capstan/, and
// later runs import that bundle. Compared with transpiling through tsx's loader on every start, a
// process starts faster and carries no loader thread (about 33 MB less resident memory).
//
// Code splitting: every dynamic import() in the sources becomes a chunk of its own, loaded only when
// that import runs, with the packages it needs. So `capstan get` loads neither the Docker client nor
// the controllers, and a command that is never run costs nothing. When the bundle cannot be made (no
// esbuild, a read-only checkout), the caller falls back to tsx. The package as npm packs it carries
// the CLI built ahead of time with the same options (dist/cli/, scripts/build-package.mjs) and no
// sources: an installed Capstan needs neither esbuild nor tsx.
//
// Packages: the few every command loads (INLINE) are bundled, with everything they import; the rest
// stay external, loaded from node_modules as usual. The etcd client as one file instead of ~300
// (gRPC, protobuf.js, ...) took a third off `capstan get`'s CPU time when measured. A package goes
// on the list only if it finds no files of its own at run time: dockerode (native ssh2 parts) and
// pino (worker scripts) stay off it. Bundled CommonJS gets a `require` (the banner) for what it loads.
// etcd3 parses its .proto file (1,000 lines, beside its code) on every start: the bundle carries it
// parsed instead, as protobuf.js JSON made at build time (etcdWithParsedProto), about 30 ms less.
//
// Freshness, checked on every start, must cost little: a build records the files esbuild read (its
// metafile's inputs: exactly the sources in the bundle) with their mtimes, plus this file and
// node_modules/.package-lock.json (rewritten by every install, it stands for the bundled packages);
// a start stats those files and nothing else, well under a millisecond. An edited source changes
// its mtime; a new source can only enter the bundle through an import in a file that changed; so
// both rebuild.
//
// Layout, per entry (cli/main.ts):
//   node_modules/.cache/capstan/cli/main.json            which build is current, and its inputs
//   node_modules/.cache/capstan/cli/main/<hash>/main.mjs  the build, with its chunks beside it
// A build is written to a temporary directory and renamed into place, then the manifest is replaced
// by a rename: processes starting at the same moment never import a half-written file, and a process
// still running an older build (its chunks load lazily) finds that build where it was.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SELF = fileURLToPath(import.meta.url);
const REPOSITORY = join(dirname(SELF), '..');
/** A replaced build stays this long for processes still running it, then goes at the next build. */
const KEEP_OLD_BUILDS_MS = 24 * 3_600_000;
const INLINE = new Set(['etcd3', 'zod', 'yaml', 'commander', 'cockatiel', 'rxjs']);
const BANNER = "import { createRequire as __capstanCreateRequire } from 'node:module'; const require = __capstanCreateRequire(import.meta.url);";

const packageOf = (specifier) => specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/');

/** Bundles the INLINE packages and what they import; leaves other packages and Node's modules external. */
const packagesPlugin = {
  name: 'capstan-packages',
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('node:')) return { path: args.path, external: true };
      const fromPackage = /[\\/]node_modules[\\/]/.test(args.importer);
      return fromPackage || INLINE.has(packageOf(args.path)) ? undefined : { path: args.path, external: true };
    });
    build.onLoad({ filter: /[\\/]etcd3[\\/]lib[\\/]connection-pool\.js$/ }, (args) => ({ contents: etcdWithParsedProto(args.path), loader: 'js' }));
    // zod's messages come in 60-odd languages, all reachable from `z.locales`; Capstan speaks
    // English (zod's default, `en`): keeping that one leaves half of zod's code out of the bundle.
    build.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, (args) => ({ contents: 'export { default as en } from "./en.js";\n', loader: 'js', resolveDir: dirname(args.path) }));
  },
};

/**
 * etcd3's connection-pool.js with its `loadSync(rpc.proto, {keepCase: true, ...})` replaced by
 * `fromJSON(<the same file, parsed>, {...})`: same options, same package definition, no parsing.
 */
function etcdWithParsedProto(file) {
  const source = readFileSync(file, 'utf8');
  const call = 'proto_loader_1.loadSync)(`${__dirname}/../proto/rpc.proto`, {\n    keepCase: true,';
  if (!source.includes(call)) throw new Error(`${file}: expected etcd3 to load its rpc.proto with keepCase (${call}), found another call: update etcdWithParsedProto in bin/bundle.js for this etcd3 version`);
  // The protobuf.js that etcd3's proto-loader uses, so the JSON is the one it reads.
  const protobuf = createRequire(createRequire(file).resolve('@grpc/proto-loader'))('protobufjs');
  const parsed = new protobuf.Root().loadSync(join(dirname(file), '..', 'proto', 'rpc.proto'), { keepCase: true });
  return source.replace(call, () => `proto_loader_1.fromJSON)(${JSON.stringify(parsed.toJSON())}, {\n    keepCase: true,`);
}

/** `cli/main.ts` → `cli/main`: where the entry's manifest and builds live under the cache. */
function entryBase(entry) {
  return entry.replace(/\\/g, '/').replace(/^\.\//, '').replace(/\.ts$/, '');
}

/** The current build's entry file, or undefined when there is none or a source changed since. */
function freshBuild(root, manifestPath) {
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  } catch {
    return undefined; // not built yet (or an unreadable manifest): build
  }
  for (const [path, mtimeMs] of manifest.inputs) {
    try {
      if (statSync(resolve(root, path)).mtimeMs !== mtimeMs) return undefined;
    } catch {
      return undefined; // an input that is gone: its importer changed too, and the build shows it
    }
  }
  return join(dirname(manifestPath), manifest.build);
}

/**
 * Bundles `entry` (a .ts path relative to `root`) into `outdir`: `<entry's name>.mjs` with its chunks
 * beside it. bundled() builds its cache with it; scripts/build-package.mjs, the CLI a package ships.
 * Resolves with esbuild's result (its metafile lists the files read).
 */
export async function buildBundle(entry, { root = REPOSITORY, outdir }) {
  const { build } = await import('esbuild');
  return build({
    absWorkingDir: root,
    entryPoints: [join(root, entry)],
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    plugins: [packagesPlugin],
    banner: { js: BANNER },
    outdir,
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunk-[hash]',
    metafile: true,
    logLevel: 'error',
  });
}

/**
 * The path of an up-to-date bundle of `entry`, a .ts path relative to `root` (this repository unless
 * given: the tests bundle sources of their own), whatever the current directory.
 */
export async function bundled(entry, { root = REPOSITORY } = {}) {
  const base = entryBase(entry);
  const cache = join(root, 'node_modules', '.cache', 'capstan');
  const manifestPath = join(cache, `${base}.json`);
  const fresh = freshBuild(root, manifestPath);
  if (fresh) return fresh;

  const builds = join(cache, base);
  const temporary = join(builds, `.${process.pid}.tmp`);
  rmSync(temporary, { recursive: true, force: true });
  const started = Date.now();
  let result;
  try {
    result = await buildBundle(entry, { root, outdir: temporary });
  } catch (error) {
    rmSync(temporary, { recursive: true, force: true });
    throw error;
  }
  const entryFile = `${base.split('/').at(-1)}.mjs`;
  const hash = createHash('sha256');
  for (const name of readdirSync(temporary).sort()) hash.update(name).update(readFileSync(join(temporary, name)));
  const id = hash.digest('hex').slice(0, 16);
  const final = join(builds, id);
  try {
    renameSync(temporary, final);
  } catch (error) {
    // Another process renamed the same build (same hash, same content) into place first: use it.
    rmSync(temporary, { recursive: true, force: true });
    if (!existsSync(join(final, entryFile))) throw error;
  }

  // A file saved while esbuild ran may be in the build as it was before: record it as changed, so
  // the next start builds again. (A second of slack each side: mtimes and the clock are not in
  // lockstep. A file dated in the future was not saved meanwhile, and is recorded as it is: marking
  // it would rebuild on every start.)
  const finished = Date.now();
  const recorded = (mtimeMs) => (mtimeMs >= started - 1_000 && mtimeMs <= finished + 1_000 ? -1 : mtimeMs);
  const sources = Object.keys(result.metafile.inputs).filter((path) => !/(^|\/)node_modules\//.test(path));
  const lockfile = join(root, 'node_modules', '.package-lock.json');
  const inputs = [...sources, SELF, ...(existsSync(lockfile) ? [lockfile] : [])].map((path) => [path, recorded(statSync(resolve(root, path)).mtimeMs)]);
  const manifestTemporary = `${manifestPath}.${process.pid}.tmp`;
  writeFileSync(manifestTemporary, JSON.stringify({ build: `${base.split('/').at(-1)}/${id}/${entryFile}`, inputs }));
  renameSync(manifestTemporary, manifestPath);
  removeOldBuilds(builds, id);
  return join(final, entryFile);
}

/**
 * A build stops being current when another replaces it: it is marked retired then, and removed a day
 * later, so a process started from it (a `capstan up` running for hours) still finds the chunks it
 * has not loaded yet. Temporary directories of builds that crashed go after a day too.
 */
function removeOldBuilds(builds, current) {
  const cutoff = Date.now() - KEEP_OLD_BUILDS_MS;
  const olderThanCutoff = (path) => (statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? Infinity) < cutoff;
  for (const name of readdirSync(builds)) {
    if (name === current) continue;
    const path = join(builds, name);
    const retired = join(path, '.retired');
    if (name.startsWith('.') ? olderThanCutoff(path) : olderThanCutoff(retired)) rmSync(path, { recursive: true, force: true });
    else if (!name.startsWith('.') && !existsSync(retired)) writeFileSync(retired, '');
  }
}
