// Starts a real etcd (Debian's etcd-server) as a child process on loopback. Used by `capstan up` and
// by the tests; both want the same thing: a data dir, two ports, readiness, and a clean stop.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { RAISED_TXN_LIMITS } from '../../api/txn.ts';

export interface EtcdServerOptions {
  dataDir: string;
  clientPort: number;
  peerPort: number;
  /** etcd's own log goes here; defaults to <dataDir>/../etcd.log */
  logFile?: string;
  binary?: string;
  /**
   * Start etcd in its own process group, so that a Ctrl-C in the terminal reaches only the command
   * that started it, which stops etcd last, after everything that writes to it (`capstan up`).
   */
  ownProcessGroup?: boolean;
}

export class EtcdServer {
  private child: ChildProcess | undefined;

  constructor(readonly options: EtcdServerOptions) {}

  get url(): string {
    return `http://127.0.0.1:${this.options.clientPort}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(timeoutMs = 15_000): Promise<void> {
    const { dataDir, clientPort, peerPort } = this.options;
    mkdirSync(dataDir, { recursive: true });
    const log = createWriteStream(this.options.logFile ?? join(dataDir, '..', 'etcd.log'), { flags: 'a' });
    const client = `http://127.0.0.1:${clientPort}`;
    const peer = `http://127.0.0.1:${peerPort}`;
    const child = spawn(
      this.options.binary ?? 'etcd',
      [
        '--name', 'capstan',
        '--data-dir', dataDir,
        '--listen-client-urls', client,
        '--advertise-client-urls', client,
        '--listen-peer-urls', peer,
        '--initial-advertise-peer-urls', peer,
        '--initial-cluster', `capstan=${peer}`,
        '--initial-cluster-state', 'new',
        // Tests and the local cluster want fast leases and elections on a single member.
        '--heartbeat-interval', '50',
        '--election-timeout', '500',
        // A commit applied whole in one transaction (api/apply/apply.ts atomic): etcd's defaults are
        // 128 operations and 1.5 MiB per request.
        '--max-txn-ops', String(RAISED_TXN_LIMITS.maxTxnOps),
        '--max-request-bytes', String(RAISED_TXN_LIMITS.maxRequestBytes),
        '--logger', 'zap',
        '--log-outputs', 'stderr',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], detached: this.options.ownProcessGroup ?? false, env: { ...process.env, ETCD_UNSUPPORTED_ARCH: process.env.ETCD_UNSUPPORTED_ARCH ?? '' } },
    );
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    this.child = child;
    const spawnError = new Promise<never>((_, reject) => {
      child.once('error', (error: NodeJS.ErrnoException) => {
        reject(
          error.code === 'ENOENT'
            ? new Error('etcd is not installed: install Debian\'s etcd-server package (apt-get install etcd-server)')
            : error,
        );
      });
      child.once('exit', (code, signal) => reject(new Error(`etcd exited during start (code ${code}, signal ${signal}); see its log in ${dataDir}/..`)));
    });
    spawnError.catch(() => undefined);
    await Promise.race([this.waitHealthy(timeoutMs), spawnError]);
  }

  private async waitHealthy(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      try {
        const response = await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(500) });
        if (response.ok) {
          const body = (await response.json()) as { health?: string };
          if (body.health === 'true') return;
        }
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`etcd did not become healthy on ${this.url} within ${timeoutMs} ms`);
  }

  /** SIGKILL, for crash tests. */
  async kill(): Promise<void> {
    await this.signalAndWait('SIGKILL');
  }

  async stop(): Promise<void> {
    await this.signalAndWait('SIGTERM');
  }

  private async signalAndWait(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}
