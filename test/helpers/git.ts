import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { until } from './poll.ts';
import { freePort } from './ports.ts';

const exec = promisify(execFile);

/** git with no user config, as the test's author, in English. */
const gitEnv = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  LC_ALL: 'C',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'capstan test',
  GIT_AUTHOR_EMAIL: 'test@capstan.invalid',
  GIT_COMMITTER_NAME: 'capstan test',
  GIT_COMMITTER_EMAIL: 'test@capstan.invalid',
};

export async function git(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await exec('git', args, { cwd, env: gitEnv, maxBuffer: 64 * 1024 * 1024 });
  return stdout.trim();
}

/** A bare repository (branch `main`) and a working clone the test commits to and pushes from. */
export interface TestGitRepo {
  /** The directory holding the bare repository: git daemon's base path, http-backend's project root. */
  root: string;
  /** `<name>.git`, the repository's path under root (and in http:// and git:// URLs). */
  name: string;
  bareDir: string;
  fileUrl: string;
  /** Writes (string) or deletes (null) files, commits them all, pushes `main`; the new commit's sha. */
  commit(files: Record<string, string | null>, message?: string): Promise<string>;
  /** Tags HEAD (annotated when a message is given) and pushes the tag. */
  tag(name: string, message?: string): Promise<void>;
  /** `git config` in the bare repository, the server side. */
  configure(key: string, value: string): Promise<void>;
  dispose(): Promise<void>;
}

export async function createGitRepo(name = 'repo'): Promise<TestGitRepo> {
  const root = await mkdtemp(join(tmpdir(), 'capstan-git-'));
  const bareDir = join(root, `${name}.git`);
  const work = join(root, 'work');
  await git(root, 'init', '--quiet', '--bare', '--initial-branch=main', bareDir);
  await git(root, 'init', '--quiet', '--initial-branch=main', work);
  await git(work, 'remote', 'add', 'origin', bareDir);
  return {
    root,
    name: `${name}.git`,
    bareDir,
    fileUrl: `file://${bareDir}`,
    async commit(files, message = 'change') {
      for (const [path, content] of Object.entries(files)) {
        const file = join(work, path);
        if (content === null) {
          await rm(file, { force: true });
        } else {
          await mkdir(dirname(file), { recursive: true });
          await writeFile(file, content);
        }
      }
      await git(work, 'add', '--all');
      await git(work, 'commit', '--quiet', '--allow-empty', '-m', message);
      await git(work, 'push', '--quiet', 'origin', 'HEAD:refs/heads/main');
      return git(work, 'rev-parse', 'HEAD');
    },
    async tag(tagName, message) {
      const annotated = message === undefined ? [] : ['-a', '-m', message];
      await git(work, 'tag', ...annotated, tagName);
      await git(work, 'push', '--quiet', 'origin', `refs/tags/${tagName}`);
    },
    async configure(key, value) {
      await git(bareDir, 'config', key, value);
    },
    dispose: () => rm(root, { recursive: true, force: true }),
  };
}

export interface GitServer {
  url: string;
  close(): Promise<void>;
}

/**
 * The repository over git's smart HTTP protocol on 127.0.0.1: node:http as the CGI bridge to `git
 * http-backend`. `protocolV0` drops the client's `Git-Protocol` header, so the server speaks
 * protocol v0 — as old servers do — where fetching an unadvertised sha is refused unless
 * `uploadpack.allowReachableSHA1InWant` is set.
 */
export async function serveHttp(repo: TestGitRepo, options: { protocolV0?: boolean } = {}): Promise<GitServer> {
  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const protocol = request.headers['git-protocol'];
    const backend = spawn('git', ['http-backend'], {
      env: {
        ...gitEnv,
        GIT_PROJECT_ROOT: repo.root,
        GIT_HTTP_EXPORT_ALL: '1',
        REQUEST_METHOD: request.method ?? 'GET',
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        CONTENT_TYPE: request.headers['content-type'] ?? '',
        REMOTE_ADDR: '127.0.0.1',
        ...(request.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: request.headers['content-encoding'] } : {}),
        ...(typeof protocol === 'string' && !options.protocolV0 ? { GIT_PROTOCOL: protocol } : {}),
      },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    request.pipe(backend.stdin);
    backend.stdin.on('error', () => response.destroy());
    relayCgi(backend, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/${repo.name}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** CGI output: header lines (`Status: 404 Not Found` among them), a blank line, the body. */
function relayCgi(backend: ChildProcess, response: import('node:http').ServerResponse): void {
  let head = Buffer.alloc(0);
  let headersSent = false;
  backend.stdout!.on('data', (chunk: Buffer) => {
    if (headersSent) {
      response.write(chunk);
      return;
    }
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) return;
    let status = 200;
    for (const line of head.toString('latin1', 0, end).split('\r\n')) {
      const colon = line.indexOf(':');
      const field = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (field.toLowerCase() === 'status') status = Number.parseInt(value, 10);
      else response.setHeader(field, value);
    }
    response.writeHead(status);
    headersSent = true;
    response.write(head.subarray(end + 4));
  });
  backend.once('close', () => {
    if (!headersSent) response.writeHead(502);
    response.end();
  });
}

/** The repository over `git://` from `git daemon` on 127.0.0.1 and a free port; close() stops it. */
export async function serveGitDaemon(repo: TestGitRepo): Promise<GitServer> {
  const port = await freePort();
  const daemon = spawn(
    'git',
    ['daemon', '--export-all', '--reuseaddr', '--informative-errors', `--base-path=${repo.root}`, `--port=${port}`, '--listen=127.0.0.1', repo.root],
    { env: gitEnv, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  daemon.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => daemon.once('exit', () => resolve()));
  await until(() => daemon.exitCode === null && accepts(port), { timeoutMs: 10_000, what: `git daemon on port ${port} (${stderr})` });
  return {
    url: `git://127.0.0.1:${port}/${basename(repo.bareDir)}`,
    async close() {
      daemon.kill('SIGTERM');
      await exited;
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
