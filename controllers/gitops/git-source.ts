import { createHash } from 'node:crypto';
import { access, mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  checkRef,
  classifyGitFailure,
  describeRef,
  GitSourceError,
  needsFullFetch,
  normalizeRepoPath,
  parseCatFileBatch,
  parseLsRemote,
  parseLsTree,
  remoteRefName,
  say,
  selectManifests,
  type GitRef,
} from './git-parse.ts';
import { withRepoLock } from './repo-lock.ts';
import { runGit, type GitOutput } from './run-git.ts';

export interface GitSourceOptions {
  /** `file://`, `http(s)://` or `git://`. */
  url: string;
  /** Holds one bare repository per URL, reused between syncs and restarts. */
  cacheDir: string;
  /** Per git process (ls-remote, fetch, each read), and for waiting on another fetch's lock. */
  timeoutMs: number;
  /** Called once per git process that ran, with its argv and duration. */
  onRun?: (args: readonly string[], ms: number) => void;
}

export interface ManifestFile {
  /** Relative to the repository's root, as `capstan apply` errors name files. */
  path: string;
  content: string;
}

export interface Checkout {
  commit: string;
  /** Whether this call fetched from the server; false when the cache held the commit already. */
  fetched: boolean;
  files: ManifestFile[];
}

/** The ref a fetch lands in, which also keeps the latest commit's objects from `git gc`. */
const FETCHED = 'refs/capstan/fetched';

/**
 * A git repository as Capstan reads it: a ref resolved to a commit, that commit fetched into a cache
 * repository (shallow where the server allows), and the manifests under a path read straight from
 * the object store, with no worktree. Several GitSources (and processes) may share a cacheDir.
 */
export class GitSource {
  readonly repoDir: string;
  readonly #options: GitSourceOptions;

  constructor(options: GitSourceOptions) {
    this.#options = options;
    const slug = options.url.replace(/[^A-Za-z0-9]+/g, '-').slice(-40);
    const hash = createHash('sha256').update(options.url).digest('hex').slice(0, 16);
    this.repoDir = join(options.cacheDir, `${hash}-${slug}.git`);
  }

  /**
   * The commit `ref` names now, the manifests under `path` at it, and whether it had to be fetched.
   * A poll that finds the commit it saw last costs one `git ls-remote` and the reads.
   */
  async checkout(ref: GitRef, path: string): Promise<Checkout> {
    const repoPath = normalizeRepoPath(path);
    if (typeof repoPath !== 'string') throw new GitSourceError('PathNotFound', repoPath.invalid);
    const { commit, fetched } = await this.fetch(ref);
    return { commit, fetched, files: await this.readFiles(commit, repoPath) };
  }

  /** The commit `ref` names now, in the cache (fetched unless it was there): checkout without the reads. */
  async fetch(ref: GitRef): Promise<{ commit: string; fetched: boolean }> {
    const problem = checkRef(ref);
    if (problem) throw new GitSourceError('RefNotFound', problem);
    await this.#ensureRepo();
    const resolved = await this.resolve(ref);
    if (await this.has(resolved)) return { commit: resolved, fetched: false };
    return withRepoLock(`${this.repoDir}.lock`, this.#options.timeoutMs, () => this.#fetchLocked(ref, resolved));
  }

  /** The commit a branch or tag points at on the server (`git ls-remote`); a commit as given. */
  async resolve(ref: GitRef): Promise<string> {
    if ('commit' in ref) return ref.commit;
    const refName = remoteRefName(ref);
    const output = await this.#git('ls-remote', ['ls-remote', '--', this.#options.url, refName], { ref: describeRef(ref) });
    const commit = parseLsRemote(output.stdout.toString(), refName);
    if (!commit) throw new GitSourceError('RefNotFound', say.refNotFound(this.#options.url, describeRef(ref)));
    return commit;
  }

  /** Whether the cache repository holds `commit` (and so its tree: fetches bring whole commits). */
  async has(commit: string): Promise<boolean> {
    const output = await this.#run('cat-file', ['-C', this.repoDir, 'cat-file', '-e', `${commit}^{commit}`]);
    return output.code === 0;
  }

  /**
   * The `*.yaml`, `*.yml` and `*.json` files under `path` (as `normalizeRepoPath` returns it) at
   * `commit`, which the cache must hold. The path is literal: `*` or `:(glob)` in it match nothing
   * but themselves.
   */
  async readFiles(commit: string, path: string): Promise<ManifestFile[]> {
    const pathspec = path === '' ? [] : ['--', path];
    const tree = await this.#git('ls-tree', ['--literal-pathspecs', '-C', this.repoDir, 'ls-tree', '-r', '-z', '--full-tree', commit, ...pathspec]);
    const entries = parseLsTree(tree.stdout.toString());
    if (entries.length === 0 && path !== '') throw new GitSourceError('PathNotFound', say.pathNotFound(path, commit));
    const manifests = selectManifests(entries);
    if (manifests.length === 0) return [];
    const input = manifests.map((entry) => `${entry.object}\n`).join('');
    const blobs = await this.#git('cat-file', ['-C', this.repoDir, 'cat-file', '--batch'], { input });
    const contents = parseCatFileBatch(blobs.stdout, manifests.length);
    return manifests.map((entry, index) => ({ path: entry.path, content: contents[index]!.toString('utf8') }));
  }

  /**
   * Runs holding the repository's lock. Another sync of this URL may have fetched the commit while
   * we waited for it.
   */
  async #fetchLocked(ref: GitRef, resolved: string): Promise<{ commit: string; fetched: boolean }> {
    if (await this.has(resolved)) return { commit: resolved, fetched: false };
    return { commit: await this.#fetch(ref), fetched: true };
  }

  /**
   * A branch or tag is fetched by name, so the commit is the one the server holds now — newer than
   * ls-remote's if someone pushed since, which is what a poll wants. A commit is fetched by sha.
   * Shallow first; in full when the server cannot (see `needsFullFetch`): the ref alone for a
   * branch or tag, every branch and tag for a commit, which holds it if anything does.
   */
  async #fetch(ref: GitRef): Promise<string> {
    const url = this.#options.url;
    const named = describeRef(ref);
    const source = 'commit' in ref ? ref.commit : remoteRefName(ref);
    const fetch = ['-C', this.repoDir, '-c', 'gc.auto=0', 'fetch', '--quiet', '--no-tags', '--no-write-fetch-head'];
    const shallow = await this.#run('fetch', [...fetch, '--depth', '1', '--', url, `+${source}:${FETCHED}`]);
    if (shallow.code !== 0 && !needsFullFetch(shallow.stderr)) throw classifyGitFailure({ stderr: shallow.stderr, url, what: 'fetch', ref: named });
    if (shallow.code !== 0 && !('commit' in ref)) await this.#git('fetch', [...fetch, '--', url, `+${source}:${FETCHED}`], { ref: named });
    if (shallow.code !== 0 && 'commit' in ref) {
      await this.#git('fetch', [...fetch, '--', url, '+refs/heads/*:refs/capstan/heads/*', '+refs/tags/*:refs/capstan/tags/*']);
      if (!(await this.has(ref.commit))) throw new GitSourceError('RefNotFound', say.refNotFound(url, named));
      await this.#git('update-ref', ['-C', this.repoDir, 'update-ref', FETCHED, ref.commit]);
    }
    const fetched = await this.#git('rev-parse', ['-C', this.repoDir, 'rev-parse', '--verify', `${FETCHED}^{commit}`]);
    return fetched.stdout.toString().trim();
  }

  /**
   * `git init --bare` into a temporary name, renamed into place: a process killed mid-init leaves a
   * temporary directory (removed by the next init), never a half-made cache repository.
   */
  async #ensureRepo(): Promise<void> {
    if (await exists(join(this.repoDir, 'HEAD'))) return;
    await mkdir(this.#options.cacheDir, { recursive: true });
    await withRepoLock(`${this.repoDir}.lock`, this.#options.timeoutMs, async () => {
      if (await exists(join(this.repoDir, 'HEAD'))) return;
      const temporary = `${this.repoDir}.init`;
      await rm(temporary, { recursive: true, force: true });
      await this.#git('init', ['init', '--quiet', '--bare', temporary]);
      await rename(temporary, this.repoDir);
    });
  }

  /** Runs git and turns a non-zero exit into a GitSourceError. */
  async #git(what: string, args: string[], extra: { input?: string; ref?: string } = {}): Promise<GitOutput> {
    const output = await this.#run(what, args, extra.input);
    if (output.code !== 0) throw classifyGitFailure({ stderr: output.stderr, url: this.#options.url, what, ref: extra.ref });
    return output;
  }

  #run(what: string, args: string[], input?: string): Promise<GitOutput> {
    const { cacheDir, timeoutMs, onRun } = this.#options;
    return runGit({ home: cacheDir, onRun }, { what, args, input, timeoutMs });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
