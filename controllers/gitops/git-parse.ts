// The pure half of the git source: what a ref means, how git's output reads, which files are
// manifests, and how git's stderr becomes one sentence. No processes here; `git-source.ts` runs git.

/** What a GitRepository follows. A commit is used as given; a branch or tag is resolved per poll. */
export type GitRef = { branch: string } | { tag: string } | { commit: string };

export type GitErrorReason = 'Unreachable' | 'AuthRequired' | 'RefNotFound' | 'PathNotFound' | 'Timeout' | 'GitFailed';

export const say = {
  unreachable: (url: string, detail: string) => `cannot reach git repository ${url} (${detail}): check the URL and that the server is up`,
  authRequired: (url: string) => `git repository ${url} requires credentials, and none are configured: make it readable anonymously, or use a URL that is`,
  refNotFound: (url: string, ref: string) => `${ref} was not found in git repository ${url}: push it, or point the ref at one that exists`,
  pathNotFound: (path: string, commit: string) => `path "${path}" does not exist at commit ${commit.slice(0, 12)}: expected a directory or file there; fix the path or commit the files`,
  timeout: (what: string, ms: number) => `git ${what} did not finish within ${ms} ms and was killed: raise the timeout, or check the server`,
  failed: (what: string, detail: string) => `git ${what} failed: ${detail}`,
  invalidCommit: (commit: string) => `commit "${commit}" is not a full 40-character hexadecimal sha: give the whole sha (git rev-parse <ref>)`,
  invalidPath: (path: string) => `path "${path}" leaves the repository: give a path inside it, such as "deploy/prod" or "."`,
} as const;

/** One sentence a person can act on, with the reason a status condition can carry. */
export class GitSourceError extends Error {
  constructor(
    readonly reason: GitErrorReason,
    message: string,
  ) {
    super(message);
    this.name = 'GitSourceError';
  }
}

const SHA = /^[0-9a-f]{40}$/;

/** `branch main`, `tag v1`, `commit 0a1b2c3d4e5f` — how messages name a ref. */
export function describeRef(ref: GitRef): string {
  if ('branch' in ref) return `branch ${ref.branch}`;
  if ('tag' in ref) return `tag ${ref.tag}`;
  return `commit ${ref.commit.slice(0, 12)}`;
}

/** null, or why the ref cannot be used. Branch and tag names are left to the server to judge. */
export function checkRef(ref: GitRef): string | null {
  if ('commit' in ref && !SHA.test(ref.commit)) return say.invalidCommit(ref.commit);
  return null;
}

/** The full ref name `git ls-remote` and `git fetch` are given for a branch or tag. */
export function remoteRefName(ref: { branch: string } | { tag: string }): string {
  return 'branch' in ref ? `refs/heads/${ref.branch}` : `refs/tags/${ref.tag}`;
}

/**
 * The commit `refName` points at in `git ls-remote` output, or undefined when it is not listed. An
 * annotated tag is listed twice, the tag object and `^{}` peeled to its commit: the commit wins.
 */
export function parseLsRemote(output: string, refName: string): string | undefined {
  let direct: string | undefined;
  for (const line of output.split('\n')) {
    const [sha, name] = line.split('\t');
    if (!sha || !SHA.test(sha)) continue;
    if (name === `${refName}^{}`) return sha;
    if (name === refName) direct = sha;
  }
  return direct;
}

/** A path inside the repository in the form `git ls-tree` takes: no `./`, no trailing `/`, '' for the root. */
export function normalizeRepoPath(path: string): string | { invalid: string } {
  const parts = path.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) return { invalid: say.invalidPath(path) };
  return parts.join('/');
}

export interface TreeEntry {
  mode: string;
  type: string;
  object: string;
  path: string;
}

/** `git ls-tree -r -z` output: `<mode> SP <type> SP <object> TAB <path> NUL`, paths unquoted. */
export function parseLsTree(output: string): TreeEntry[] {
  const entries: TreeEntry[] = [];
  for (const record of output.split('\0')) {
    if (record === '') continue;
    const tab = record.indexOf('\t');
    const [mode = '', type = '', object = ''] = record.slice(0, tab).split(' ');
    entries.push({ mode, type, object, path: record.slice(tab + 1) });
  }
  return entries;
}

const MANIFEST = /\.(ya?ml|json)$/i;

/**
 * The entries worth reading: regular files (not symlinks, whose target could point out of the
 * tree, nor submodules, whose commits are not fetched) named `*.yaml`, `*.yml` or `*.json`, sorted
 * by path so a commit always applies in the same order.
 */
export function selectManifests(entries: readonly TreeEntry[]): TreeEntry[] {
  return entries
    .filter((entry) => entry.type === 'blob' && (entry.mode === '100644' || entry.mode === '100755') && MANIFEST.test(entry.path))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * `git cat-file --batch` output for `count` requests: per object a header `<sha> <type> <size>\n`,
 * `size` bytes, then `\n`. A request for a missing object answers `<sha> missing\n` — a bug here,
 * since every sha came from ls-tree of a commit we hold, so it throws.
 */
export function parseCatFileBatch(output: Buffer, count: number): Buffer[] {
  const contents: Buffer[] = [];
  let offset = 0;
  while (contents.length < count) {
    const newline = output.indexOf(0x0a, offset);
    if (newline < 0) throw new Error(`git cat-file --batch: output ended after ${contents.length} of ${count} objects`);
    const header = output.toString('utf8', offset, newline).split(' ');
    const size = Number(header[2]);
    if (header.length !== 3 || !Number.isInteger(size)) throw new Error(`git cat-file --batch: unexpected header "${header.join(' ')}"`);
    contents.push(output.subarray(newline + 1, newline + 1 + size));
    offset = newline + 1 + size + 1;
  }
  return contents;
}

/**
 * Whether a shallow fetch failed for a reason a full fetch avoids:
 * - fetching one commit by sha is refused by a server that speaks protocol v0 with
 *   `uploadpack.allowReachableSHA1InWant` off (the default; protocol v2 allows it), and "not our
 *   ref" may mean the same — or that the server lacks the commit, which the full fetch then shows;
 * - git's dumb HTTP transport (a repository served as static files) has no shallow fetch at all.
 */
export function needsFullFetch(stderr: string): boolean {
  return /does not allow request for unadvertised object|not our ref|does not support shallow/i.test(stderr);
}

/**
 * git's stderr (run with LC_ALL=C, so in English) as one sentence. `what` names the step
 * (`ls-remote`, `fetch`) for the catch-all, whose detail is git's last `fatal:`/`error:` line.
 */
export function classifyGitFailure(options: { stderr: string; url: string; what: string; ref?: string }): GitSourceError {
  const { stderr, url, what, ref } = options;
  if (/could not read Username|terminal prompts disabled|Authentication failed|HTTP Basic: Access denied|returned error: 40[13]/i.test(stderr)) {
    return new GitSourceError('AuthRequired', say.authRequired(url));
  }
  if (ref && /couldn't find remote ref|not our ref|does not allow request for unadvertised object/i.test(stderr)) {
    return new GitSourceError('RefNotFound', say.refNotFound(url, ref));
  }
  const unreachable = stderr.match(
    /Could not resolve host[^\n]*|Connection refused|Couldn't connect to server|Failed to connect[^\n]*|Connection timed out|No route to host|does not appear to be a git repository|repository '[^']*' not found|returned error: 404|Could not read from remote repository/i,
  );
  if (unreachable) return new GitSourceError('Unreachable', say.unreachable(url, unreachable[0].replace(/^fatal: /, '')));
  return new GitSourceError('GitFailed', say.failed(what, lastFatalLine(stderr)));
}

function lastFatalLine(stderr: string): string {
  const lines = stderr.split('\n').map((line) => line.trim()).filter((line) => line !== '');
  const fatal = lines.filter((line) => /^(fatal|error):/.test(line)).at(-1) ?? lines.at(-1) ?? 'no output';
  return fatal.replace(/^(fatal|error):\s*/, '');
}
