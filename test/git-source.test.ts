import { spawn } from 'node:child_process';
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitSourceError, type GitRef } from '../controllers/gitops/git-parse.ts';
import { GitSource } from '../controllers/gitops/git-source.ts';
import { createGitRepo, git, serveGitDaemon, serveHttp, type GitServer, type TestGitRepo } from './helpers/git.ts';
import { freePort } from './helpers/ports.ts';

const main: GitRef = { branch: 'main' };

/** A GitSource whose git processes are counted by subcommand. */
function counted(url: string, cacheDir: string, timeoutMs = 20_000) {
  const runs: string[] = [];
  const onRun = (args: readonly string[]) => runs.push(args.find((arg) => ['ls-remote', 'fetch', 'cat-file', 'ls-tree', 'init', 'rev-parse', 'update-ref'].includes(arg)) ?? '?');
  const source = new GitSource({ url, cacheDir, timeoutMs, onRun });
  return { source, fetches: () => runs.filter((run) => run === 'fetch').length, runs };
}

async function failure(promise: Promise<unknown>): Promise<GitSourceError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(GitSourceError);
  return error as GitSourceError;
}

let repo: TestGitRepo;
let http: GitServer;
let daemon: GitServer;
let cacheRoot: string;
const timings: string[] = [];

beforeAll(async () => {
  repo = await createGitRepo('apps');
  await repo.commit({ 'deploy/web.yaml': 'kind: App\n', 'deploy/db.yml': 'kind: App\n', 'deploy/notes.md': '# not a manifest\n', 'README.md': 'hi\n' }, 'first');
  http = await serveHttp(repo);
  daemon = await serveGitDaemon(repo);
  cacheRoot = await mkdtemp(join(tmpdir(), 'capstan-git-cache-'));
});

afterAll(async () => {
  await http?.close();
  await daemon?.close();
  await repo?.dispose();
  await rm(cacheRoot, { recursive: true, force: true });
  if (timings.length > 0) console.log(`git source timings:\n${timings.join('\n')}`);
});

describe.each([
  ['file://', () => repo.fileUrl],
  ['http://', () => http.url],
  ['git://', () => daemon.url],
])('a branch over %s', (transport, url) => {
  it('is fetched once, read without a worktree, and a new commit (with a deleted file) is seen', async () => {
    // Each transport commits to a directory of its own, as the three cases share one repository.
    const dir = `by-${transport.replace(/\W/g, '')}`;
    await repo.commit({ [`${dir}/web.yaml`]: 'kind: App\n', [`${dir}/db.yml`]: 'kind: App\n', [`${dir}/notes.md`]: '# no\n' }, `first ${dir}`);
    const { source, fetches } = counted(url(), join(cacheRoot, dir));

    let started = performance.now();
    const first = await source.checkout(main, dir);
    const firstMs = performance.now() - started;
    expect(first.fetched).toBe(true);
    expect(first.files).toEqual([
      { path: `${dir}/db.yml`, content: 'kind: App\n' },
      { path: `${dir}/web.yaml`, content: 'kind: App\n' },
    ]);

    started = performance.now();
    const again = await source.checkout(main, dir);
    const pollMs = performance.now() - started;
    expect(again).toEqual({ ...first, fetched: false });
    expect(fetches()).toBe(1);
    timings.push(`  ${transport.padEnd(8)} first fetch ${firstMs.toFixed(0)} ms, no-change poll ${pollMs.toFixed(0)} ms`);

    const second = await repo.commit({ [`${dir}/added.json`]: '{"kind":"App"}', [`${dir}/db.yml`]: null }, `second ${dir}`);
    const next = await source.checkout(main, `./${dir}/`);
    expect(next).toEqual({
      commit: second,
      fetched: true,
      files: [
        { path: `${dir}/added.json`, content: '{"kind":"App"}' },
        { path: `${dir}/web.yaml`, content: 'kind: App\n' },
      ],
    });
    expect(fetches()).toBe(2);
  });
});

describe('refs and paths', () => {
  it('a lightweight and an annotated tag resolve to their commits', async () => {
    const tagged = await repo.commit({ 'deploy/tagged.yaml': 'kind: App\n' }, 'tagged');
    await repo.tag('v1');
    await repo.tag('v1-annotated', 'release 1');
    await repo.commit({ 'deploy/tagged.yaml': null }, 'after the tags');
    const { source } = counted(http.url, join(cacheRoot, 'tags'));
    for (const tag of ['v1', 'v1-annotated']) {
      const checkout = await source.checkout({ tag }, 'deploy');
      expect(checkout.commit).toBe(tagged);
      expect(checkout.files.map((file) => file.path)).toContain('deploy/tagged.yaml');
    }
  });

  it('a commit by sha is fetched as given, and found in the cache without asking the server again', async () => {
    const old = await repo.commit({ 'deploy/old.yaml': 'kind: App\n' }, 'old');
    await repo.commit({ 'deploy/old.yaml': null }, 'newer');
    const { source, runs } = counted(daemon.url, join(cacheRoot, 'sha'));
    const checkout = await source.checkout({ commit: old }, 'deploy');
    expect(checkout).toMatchObject({ commit: old, fetched: true });
    expect(checkout.files.map((file) => file.path)).toContain('deploy/old.yaml');
    const before = runs.length;
    expect(await source.checkout({ commit: old }, 'deploy')).toMatchObject({ commit: old, fetched: false });
    expect(runs.slice(before)).toEqual(['cat-file', 'ls-tree', 'cat-file']);
  });

  it('a server that refuses a sha it does not advertise (protocol v0) gets a full fetch instead', async () => {
    const old = await repo.commit({ 'deploy/v0.yaml': 'kind: App\n' }, 'for v0');
    await repo.commit({ 'deploy/v0.yaml': null }, 'after v0');
    const v0 = await serveHttp(repo, { protocolV0: true });
    try {
      const { source, fetches } = counted(v0.url, join(cacheRoot, 'v0'));
      const checkout = await source.checkout({ commit: old }, 'deploy');
      expect(checkout.files.map((file) => file.path)).toContain('deploy/v0.yaml');
      expect(fetches()).toBe(2);
    } finally {
      await v0.close();
    }
  });

  it('a dumb HTTP server (static files, no shallow fetch) gets a full fetch of the branch', async () => {
    const head = await repo.commit({ 'deploy/dumb.yaml': 'kind: App\n' }, 'for dumb http');
    await git(repo.bareDir, 'update-server-info');
    const files = createHttpServer((request, response) => {
      readFile(join(repo.root, new URL(request.url ?? '/', 'http://127.0.0.1').pathname)).then(
        (body) => response.end(body),
        () => response.writeHead(404).end(),
      );
    });
    await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
    const address = files.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const { source, fetches } = counted(`http://127.0.0.1:${port}/${repo.name}`, join(cacheRoot, 'dumb'));
      const checkout = await source.checkout(main, 'deploy');
      expect(checkout).toMatchObject({ commit: head, fetched: true });
      expect(checkout.files.map((file) => file.path)).toContain('deploy/dumb.yaml');
      expect(fetches()).toBe(2);
    } finally {
      files.closeAllConnections();
      files.close();
    }
  });

  it('the root and a single file can be the path; only manifests are returned', async () => {
    const { source } = counted(repo.fileUrl, join(cacheRoot, 'root'));
    const root = await source.checkout(main, '.');
    expect(root.files.every((file) => /\.(ya?ml|json)$/.test(file.path))).toBe(true);
    expect(root.files.map((file) => file.path)).toContain('deploy/web.yaml');
    const single = await source.checkout(main, 'deploy/web.yaml');
    expect(single.files).toEqual([{ path: 'deploy/web.yaml', content: 'kind: App\n' }]);
  });
});

describe('errors are one sentence', () => {
  it.each([
    ['a missing branch', () => ({ url: http.url, ref: { branch: 'nope' } as GitRef, path: 'deploy' }), 'RefNotFound', /branch nope was not found in git repository http:/],
    ['a missing tag', () => ({ url: daemon.url, ref: { tag: 'v9' } as GitRef, path: 'deploy' }), 'RefNotFound', /tag v9 was not found/],
    ['a commit the server lacks', () => ({ url: repo.fileUrl, ref: { commit: 'f'.repeat(40) } as GitRef, path: '' }), 'RefNotFound', /commit ffffffffffff was not found/],
    ['a short sha', () => ({ url: repo.fileUrl, ref: { commit: 'abc123' } as GitRef, path: '' }), 'RefNotFound', /not a full 40-character/],
    ['a missing path', () => ({ url: repo.fileUrl, ref: main, path: 'nowhere/at-all' }), 'PathNotFound', /path "nowhere\/at-all" does not exist at commit [0-9a-f]{12}/],
    ['a path out of the repository', () => ({ url: repo.fileUrl, ref: main, path: '../etc' }), 'PathNotFound', /leaves the repository/],
    ['a repository that is not there', () => ({ url: `${http.url.replace(/apps\.git$/, 'missing.git')}`, ref: main, path: '' }), 'Unreachable', /cannot reach git repository .*missing\.git/],
  ])('%s', async (_name, given, reason, message) => {
    const { url, ref, path } = given();
    const error = await failure(new GitSource({ url, cacheDir: join(cacheRoot, 'errors'), timeoutMs: 20_000 }).checkout(ref, path));
    expect(error.reason).toBe(reason);
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain('\n');
  });

  it('an unreachable server over each transport', async () => {
    const port = await freePort();
    for (const url of [`http://127.0.0.1:${port}/apps.git`, `git://127.0.0.1:${port}/apps.git`, 'file:///nonexistent/apps.git']) {
      const error = await failure(new GitSource({ url, cacheDir: join(cacheRoot, 'errors'), timeoutMs: 20_000 }).checkout(main, ''));
      expect(error.reason).toBe('Unreachable');
      expect(error.message).toMatch(/^cannot reach git repository .*: check the URL and that the server is up$/);
    }
  });

  it('a server that never answers is killed at the timeout', async () => {
    const silent: Server = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const started = Date.now();
      const error = await failure(new GitSource({ url: `http://127.0.0.1:${port}/apps.git`, cacheDir: join(cacheRoot, 'errors'), timeoutMs: 500 }).checkout(main, ''));
      expect(error.reason).toBe('Timeout');
      expect(error.message).toBe('git ls-remote did not finish within 500 ms and was killed: raise the timeout, or check the server');
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      silent.close();
    }
  });
});

describe('the cache', () => {
  it('two GitSources fetching one URL at once into one cache both succeed, with one fetch', async () => {
    const cacheDir = join(cacheRoot, 'concurrent');
    const head = await repo.commit({ 'deploy/concurrent.yaml': 'kind: App\n' }, 'concurrent');
    const a = counted(http.url, cacheDir);
    const b = counted(http.url, cacheDir);
    const [left, right] = await Promise.all([a.source.checkout(main, 'deploy'), b.source.checkout(main, 'deploy')]);
    expect(left.commit).toBe(head);
    expect(right).toEqual({ ...left, fetched: right.fetched });
    expect(a.fetches() + b.fetches()).toBe(1);
  });

  it('takes over the lock of a fetch whose process died (kill -9 mid-fetch)', async () => {
    const cacheDir = join(cacheRoot, 'stale-lock');
    const { source, fetches } = counted(repo.fileUrl, cacheDir);
    const dead = spawn(process.execPath, ['-e', '']);
    await new Promise((resolve) => dead.once('exit', resolve));
    await mkdir(cacheDir, { recursive: true });
    await writeFile(`${source.repoDir}.lock`, String(dead.pid));
    expect(await source.checkout(main, 'deploy')).toMatchObject({ fetched: true });
    expect(fetches()).toBe(1);
    await expect(access(`${source.repoDir}.lock`)).rejects.toThrow(/ENOENT/);
  });

  it('survives a restart: a new GitSource on the same directory fetches nothing', async () => {
    const cacheDir = join(cacheRoot, 'restart');
    const before = counted(daemon.url, cacheDir);
    const first = await before.source.checkout(main, 'deploy');
    const after = counted(daemon.url, cacheDir);
    const second = await after.source.checkout(main, 'deploy');
    expect(second).toEqual({ ...first, fetched: false });
    expect(after.fetches()).toBe(0);
  });
});
