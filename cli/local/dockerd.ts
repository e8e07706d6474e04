// Starts a private Docker Engine (Debian's docker.io) as a child process, with its own socket, data
// root and exec root under one directory. Used by `capstan up` and by the tests. No bridge, no
// iptables: containers always use host networking, so the engine never touches the host's firewall.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';

export interface DockerEngineOptions {
  /** Everything the engine writes lives here: data/ and dockerd.log, and the run files unless runDir says otherwise. */
  dir: string;
  /**
   * The socket, the exec root (containerd's socket) and the pid file: paths that must stay short (see
   * MAX_SOCKET_PATH). Defaults to `dir`; `runDirFor` picks one for a directory that may be long.
   */
  runDir?: string;
  /** dockerd's own log; defaults to <dir>/dockerd.log */
  logFile?: string;
  binary?: string;
  /**
   * Start dockerd in its own process group, so that a Ctrl-C in the terminal reaches only the
   * command that started it, which then stops it after the workloads that depend on it (`capstan up`).
   */
  ownProcessGroup?: boolean;
}

/** Linux's sun_path holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH = 107;
/**
 * The longest socket dockerd and containerd make below the run dir is about 45 bytes
 * (exec/containerd/containerd-debug.sock and the like); a run dir up to this long keeps every one of
 * them under 100 bytes.
 */
const MAX_RUN_DIR = 50;

/**
 * Where the engine of `dir` keeps its sockets: `dir` itself when short enough, else a directory under
 * /tmp named by a hash of `dir`, so the same state dir always gets the same one (a second run finds
 * its engine's socket where the first left it).
 */
export function runDirFor(dir: string): string {
  if (Buffer.byteLength(dir) <= MAX_RUN_DIR) return dir;
  return join('/tmp', `capstan-${createHash('sha256').update(dir).digest('hex').slice(0, 12)}`);
}

const messages = {
  notInstalled: (binary: string) =>
    `${binary} is not installed: install Debian's docker.io package (apt-get install docker.io)`,
  notRoot: () =>
    'dockerd must run as root: run capstan as root, or point it at a running Docker Engine socket instead',
  pathTooLong: (path: string) =>
    `the Docker socket path ${path} is ${path.length} bytes, longer than the ${MAX_SOCKET_PATH} a unix socket allows: choose a shorter directory`,
  exitedDuringStart: (code: number | null, signal: string | null, logFile: string, tail: string) =>
    `dockerd exited during start (code ${code}, signal ${signal}); see ${logFile}${tail ? `, which ends with:\n${tail}` : ''}`,
  notReady: (socket: string, timeoutMs: number) => `dockerd did not answer /_ping on ${socket} within ${timeoutMs} ms`,
};

export class DockerEngine {
  private child: ChildProcess | undefined;

  constructor(readonly options: DockerEngineOptions) {}

  get socketPath(): string {
    return join(this.runDir, 'docker.sock');
  }

  private get runDir(): string {
    return this.options.runDir ?? this.options.dir;
  }

  /** For dockerode: `new Docker({ socketPath: engine.socketPath })`. */
  get host(): string {
    return `unix://${this.socketPath}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  private get logFile(): string {
    return this.options.logFile ?? join(this.options.dir, 'dockerd.log');
  }

  async start(timeoutMs = 30_000): Promise<void> {
    const { dir } = this.options;
    const runDir = this.runDir;
    if (process.getuid?.() !== 0) throw new Error(messages.notRoot());
    if (Buffer.byteLength(this.socketPath) > MAX_SOCKET_PATH) throw new Error(messages.pathTooLong(this.socketPath));
    mkdirSync(dir, { recursive: true });
    mkdirSync(runDir, { recursive: true });
    const binary = this.options.binary ?? 'dockerd';
    const log = createWriteStream(this.logFile, { flags: 'a' });
    const child = spawn(
      binary,
      [
        '--bridge=none',
        '--iptables=false',
        '--ip-masq=false',
        '--host', this.host,
        '--data-root', join(dir, 'data'),
        // containerd's socket lives under the exec root: it must stay short (see MAX_SOCKET_PATH).
        '--exec-root', join(runDir, 'exec'),
        '--pidfile', join(runDir, 'docker.pid'),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], detached: this.options.ownProcessGroup ?? false },
    );
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    this.child = child;
    const failed = new Promise<never>((_, reject) => {
      child.once('error', (error: NodeJS.ErrnoException) => {
        reject(error.code === 'ENOENT' ? new Error(messages.notInstalled(binary)) : error);
      });
      child.once('exit', (code, signal) =>
        reject(new Error(messages.exitedDuringStart(code, signal, this.logFile, tailOf(this.logFile)))),
      );
    });
    failed.catch(() => undefined);
    await Promise.race([this.waitReady(timeoutMs), failed]);
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if ((await ping(this.socketPath)).reachable) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(messages.notReady(this.socketPath, timeoutMs));
  }

  /**
   * SIGTERM, then wait for dockerd to exit (it stops its containers and its containerd first), with
   * SIGKILL as a last resort after `timeoutMs`. Then unmounts what dockerd leaves mounted under its
   * directory (the default network namespace), so the directory can be removed.
   */
  async stop(timeoutMs = 30_000): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
    }
    unmountUnder(this.options.dir);
    if (this.runDir !== this.options.dir) unmountUnder(this.runDir);
  }
}

export type DockerReachability =
  | { reachable: true; socketPath: string; apiVersion: string }
  | { reachable: false; socketPath: string; reason: string };

/** Is a Docker Engine answering at this socket? Never throws. */
export async function findReachableDocker(socketPath = '/var/run/docker.sock'): Promise<DockerReachability> {
  return ping(socketPath);
}

function ping(socketPath: string): Promise<DockerReachability> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', method: 'GET', timeout: 1_000 }, (res) => {
      res.resume();
      const apiVersion = String(res.headers['api-version'] ?? '');
      if (res.statusCode === 200) resolve({ reachable: true, socketPath, apiVersion });
      else resolve({ reachable: false, socketPath, reason: `/_ping answered HTTP ${res.statusCode}` });
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 1 s')));
    req.on('error', (error: NodeJS.ErrnoException) => {
      const reason =
        error.code === 'ENOENT' ? 'no socket there' : error.code === 'ECONNREFUSED' ? 'nothing listens on it' : error.message;
      resolve({ reachable: false, socketPath, reason });
    });
    req.end();
  });
}

function tailOf(file: string, lines = 5): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Unmounts every mount point below `dir`, deepest first (lazy, so a busy one does not block). */
function unmountUnder(dir: string): void {
  let mountinfo: string;
  try {
    mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return;
  }
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const points = mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((point): point is string => point !== undefined && point.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
  for (const point of points) spawnSync('umount', ['-l', point], { stdio: 'ignore' });
}
