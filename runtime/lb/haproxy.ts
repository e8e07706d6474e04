// Runs a real HAProxy 2.6 in master-worker mode for `capstan lb`, and is the balancer's
// HAProxyControl (balancer.ts): check a configuration, install it atomically and reload hitlessly,
// talk to the runtime API, and keep the master running.
//
// Everything lives in one directory: haproxy.cfg, haproxy.pid (the master's pid) and master.sock
// (the master CLI). The admin socket and the server-state file are wherever the configuration's
// global section names them (render.ts puts them beside these).
//
// The master runs in its own process group: a Ctrl-C in a terminal reaches only `capstan lb`,
// which calls stop() (soft stop, then the whole group killed), and a `capstan lb` killed outright
// leaves a master that the next start() replaces — hitlessly: the new master takes the listening
// sockets from the old worker (`-x <admin socket>`, which `expose-fd listeners` allows) before the
// old master is told to finish and leave, so there are never two masters serving for long.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import { Subject, type Observable } from 'rxjs';
import { cappedBackoff } from '../../api/backoff.ts';
import { adminSocketOf, checkConfig, messages as configMessages, serverStateFileOf, type CheckResult, type ConfigError } from './haproxy-config.ts';
import { findHAProxyProcesses, killGroup, signal, terminate, waitGone, type HAProxyProcessInfo } from './haproxy-processes.ts';
import { parseShowProc, RuntimeApi, sendCommand, sendCommands, type ProcList } from './runtime-api.ts';

/** A problem `haproxy -c` reported, with the 1-based line of the checked text when it named one. */

export type InstallResult =
  | { outcome: 'unchanged' }
  /** Written without a reload: a restarted master starts from it. */
  | { outcome: 'written' }
  | { outcome: 'reloaded'; workerPid: number }
  | { outcome: 'rejected'; errors: ConfigError[] };

/** The master died and a new one serves the installed configuration: runtime API changes made since the last reload are gone. */
export interface HAProxyRestart {
  masterPid: number;
  reason: string;
}

export interface HAProxyProcessOptions {
  /** Holds haproxy.cfg, haproxy.pid and master.sock. Must be short enough for a unix socket path. */
  dir: string;
  /** The configuration to start with (checked first). */
  config: string;
  log: Logger;
  binary?: string;
  /** How long start, reload and restart may take before they fail. */
  readyTimeoutMs?: number;
}


const DEFAULT_READY_TIMEOUT_MS = 10_000;
const POLL_MS = 20;
/** Restarts of a master that keeps dying back off from the first delay to the last. */
const RESTART_DELAY_MS = { firstMs: 100, maxMs: 5_000 };
/** A master that lived this long before dying is restarted at the first delay again. */
const STABLE_AFTER_MS = 10_000;
/** Linux's sun_path holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH = 107;

const messages = {
  pathTooLong: (path: string) =>
    `The HAProxy master socket ${path} is ${Buffer.byteLength(path)} bytes, longer than the ${MAX_SOCKET_PATH} a unix socket allows: choose a shorter directory.`,
  invalid: (errors: ConfigError[]) =>
    `The HAProxy configuration does not pass "haproxy -c": ${errors.map((e) => (e.line ? `line ${e.line}: ${e.message}` : e.message)).join('; ')}.`,
  exited: (code: number | null, signal: string | null) => `the HAProxy master exited (code ${code}, signal ${signal})`,
  notReady: (what: string, ms: number) => `HAProxy did not ${what} within ${ms} ms; its messages are in the capstan lb log.`,
  reloadFailed: (failed: number) =>
    `HAProxy could not load the new configuration (failed reloads: ${failed}); the previous worker keeps serving; its messages are in the capstan lb log.`,
  stopped: () => 'This HAProxy process manager was stopped.',
};

export class HAProxyProcess {
  private child: ChildProcess | undefined;
  private childStartedAt = 0;
  /** Restarts since a master last lived past STABLE_AFTER_MS: how far the restart delay has backed off. */
  private restartsInARow = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  /** Another manager replaced our master: stop() must leave its haproxy alone. */
  private superseded = false;
  /** Installs, restarts and stop run one at a time, in order (a reload during a restart would race it). */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly restartSubject = new Subject<HAProxyRestart>();
  /** Each restart after the master died; the caller re-applies its runtime state (addresses, drains). */
  readonly restarts: Observable<HAProxyRestart> = this.restartSubject.asObservable();

  private constructor(readonly options: HAProxyProcessOptions) {}

  /** Starts HAProxy on `config`, replacing (hitlessly) a master a previous run left for this directory. */
  static async start(options: HAProxyProcessOptions): Promise<HAProxyProcess> {
    const haproxy = new HAProxyProcess(options);
    if (Buffer.byteLength(haproxy.masterSocket) > MAX_SOCKET_PATH) throw new Error(messages.pathTooLong(haproxy.masterSocket));
    mkdirSync(options.dir, { recursive: true });
    const checked = await haproxy.check(options.config);
    if (!checked.ok) throw new Error(messages.invalid(checked.errors));
    // Fails now, with a sentence, rather than at the first runtime API call.
    adminSocketOf(options.config);
    writeAtomically(haproxy.configFile, options.config);
    await haproxy.launch();
    return haproxy;
  }

  get configFile(): string {
    return join(this.options.dir, 'haproxy.cfg');
  }

  get pidFile(): string {
    return join(this.options.dir, 'haproxy.pid');
  }

  get masterSocket(): string {
    return join(this.options.dir, 'master.sock');
  }

  /** The admin socket the installed configuration names. */
  get adminSocket(): string {
    return adminSocketOf(this.installed());
  }

  get masterPid(): number | undefined {
    return this.child?.pid;
  }

  /** The runtime API of the current worker. */
  get runtime(): RuntimeApi {
    return new RuntimeApi({ socketPath: this.adminSocket });
  }

  /** `haproxy -c` on this text. */
  check(text: string): Promise<CheckResult> {
    return checkConfig(text, { dir: this.options.dir, binary: this.binary });
  }

  /**
   * Installs `text` as haproxy.cfg: unchanged text does nothing; with `reload` (the default) it is
   * checked, the server state saved and HAProxy reloaded, answering once the new worker serves and
   * the old ones are leaving; without, it is only written (atomically), unchecked.
   */
  install(text: string, options: { reload?: boolean; checked?: boolean } = {}): Promise<InstallResult> {
    return this.serialized(async () => {
      if (text === this.installed()) return { outcome: 'unchanged' };
      // Without a reload the caller vouches for the text: it differs from a checked one only in what
      // the runtime API changed (addresses, states), and a check (~60 ms) would delay the next change.
      if (options.reload === false) {
        writeAtomically(this.configFile, text);
        return { outcome: 'written' };
      }
      // `checked`: the caller ran `haproxy -c` on this very text a moment ago (another costs ~60 ms).
      const checked = options.checked ? { ok: true as const } : await this.check(text);
      if (!checked.ok) return { outcome: 'rejected', errors: checked.errors };
      // The state first, from the running worker, to the file the new configuration loads from:
      // runtime API changes (addresses, drain, maint) survive the reload.
      await this.saveServerState(text);
      writeAtomically(this.configFile, text);
      const workerPid = await this.reload();
      return { outcome: 'reloaded', workerPid };
    });
  }

  /** One runtime API command on the admin socket; HAProxy's answer. */
  command(command: string): Promise<string> {
    return this.runtime.command(command);
  }

  /** Runtime API commands in order on one connection; HAProxy's answers run together. */
  commands(commands: readonly string[]): Promise<string> {
    return sendCommands(this.adminSocket, commands);
  }

  /** Current sessions per `backend/server`. */
  sessions(): Promise<Map<string, number>> {
    return this.runtime.sessions();
  }

  /** The master's `show proc`. */
  async processes(): Promise<ProcList> {
    const list = parseShowProc(await sendCommand(this.masterSocket, 'show proc'));
    if (!list) throw new Error(`HAProxy's master CLI at ${this.masterSocket} answered "show proc" with no master row.`);
    return list;
  }

  /** Workers from before the last reload, still finishing their connections. */
  async oldWorkers(): Promise<number> {
    return (await this.processes()).oldWorkers.length;
  }

  /**
   * Soft stop (listeners closed, current requests finished, bounded by the configuration's
   * hard-stop-after), then after `timeoutMs` the whole process group is killed. Leaves no haproxy
   * process of this directory behind.
   */
  stop(options: { timeoutMs?: number } = {}): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    return this.serialized(async () => {
      const child = this.child;
      this.child = undefined;
      if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGUSR1');
        const timer = setTimeout(() => killGroup(child.pid!), options.timeoutMs ?? 5_000);
        await exited;
        clearTimeout(timer);
        // Workers die with their master, a moment later; none may outlive stop().
        killGroup(child.pid);
      }
      if (!this.superseded) await this.killLeftovers(2_000);
      this.restartSubject.complete();
    });
  }

  private get binary(): string {
    return this.options.binary ?? 'haproxy';
  }

  private get readyTimeoutMs(): number {
    return this.options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  }

  private installed(): string {
    return readFileSync(this.configFile, 'utf8');
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /**
   * Starts a master on the installed file. A live master of this directory (a previous run's)
   * hands its listening sockets and server state over and is then soft-stopped.
   */
  private async launch(): Promise<void> {
    const previous = this.previousMaster();
    const adminSocket = this.adminSocket;
    let takeOver = false;
    if (previous) {
      takeOver = await this.saveServerState(this.installed()).then(() => true, () => false);
      this.options.log.info({ pid: previous.pid, hitless: takeOver }, 'replacing the HAProxy master a previous run left');
      if (!takeOver) await terminate(previous.pid, this.readyTimeoutMs);
    }
    const args = ['-W', '-S', this.masterSocket, '-f', this.configFile, '-p', this.pidFile];
    if (takeOver) args.push('-x', adminSocket);
    const child = spawn(this.binary, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.childStartedAt = Date.now();
    forwardLines(child, this.options.log);
    const failed = new Promise<never>((_, reject) => {
      child.once('error', (error: NodeJS.ErrnoException) =>
        reject(error.code === 'ENOENT' ? new Error(configMessages.notInstalled(this.binary)) : error),
      );
      child.once('exit', (code, signal) => reject(new Error(messages.exited(code, signal))));
    });
    failed.catch(() => undefined);
    try {
      await Promise.race([this.waitServing(new Set()), failed]);
    } catch (error) {
      // A master that never served is not left running behind an error.
      killGroup(child.pid!);
      this.child = undefined;
      throw error;
    }
    child.once('exit', (code, signal) => this.onMasterExit(child, messages.exited(code, signal)));
    if (previous && takeOver) {
      // SIGUSR1: the old master stops its workers softly (they finish what they hold, bounded by
      // hard-stop-after) and exits after them.
      signal(previous.pid, 'SIGUSR1');
      await waitGone(previous.pid, this.readyTimeoutMs).catch(() => terminate(previous.pid, 1_000));
    }
    await this.killLeftovers(1_000);
  }

  /** The master a pidfile names, when it is alive and an haproxy of this directory (not ours). */
  private previousMaster(): HAProxyProcessInfo | undefined {
    if (!existsSync(this.pidFile)) return undefined;
    const pid = Number(readFileSync(this.pidFile, 'utf8').trim());
    return findHAProxyProcesses(this.options.dir).find((p) => p.pid === pid && p.pid !== this.child?.pid);
  }

  /** Any haproxy of this directory other than our master and its children (a master the pidfile no longer names, say). */
  private async killLeftovers(timeoutMs: number): Promise<void> {
    const ours = this.child?.pid;
    const strays = findHAProxyProcesses(this.options.dir).filter((p) => p.pid !== ours && p.ppid !== ours);
    for (const stray of strays) {
      this.options.log.warn({ pid: stray.pid }, 'killing a stray HAProxy process of this directory');
      signal(stray.pid, 'SIGKILL');
    }
    await Promise.all(strays.map((stray) => waitGone(stray.pid, timeoutMs)));
  }

  /** Writes `show servers state` of the running worker to the state file `config` names. */
  private async saveServerState(config: string): Promise<void> {
    const file = serverStateFileOf(config);
    if (!file) return;
    const { text } = await new RuntimeApi({ socketPath: adminSocketOf(this.installed()) }).showServersState();
    writeAtomically(file, text);
  }

  /**
   * `reload` on the master CLI. 2.6 gives no answer (the master re-executes itself, and the
   * connection ends or is left hanging), so success is read from `show proc`: the master's reload
   * count went up, a worker that did not exist before answers on its CLI, and `failed` did not grow.
   */
  private async reload(): Promise<number> {
    const before = await this.processes();
    await fireAndForget(this.masterSocket, 'reload\n');
    const deadline = Date.now() + this.readyTimeoutMs;
    for (;;) {
      const now = await this.processes().catch(() => undefined);
      if (now && now.master.failedReloads > before.master.failedReloads) throw new Error(messages.reloadFailed(now.master.failedReloads));
      if (now && now.master.reloads > before.master.reloads) {
        return this.waitServing(new Set(before.workers.map((w) => w.pid)), deadline);
      }
      if (Date.now() > deadline) throw new Error(messages.notReady('reload', this.readyTimeoutMs));
      await delay(POLL_MS);
    }
  }

  /**
   * Waits for a worker of our master, not in `previous`, whose own CLI answers (it has bound its
   * listeners and runs); its pid. Until our new master has bound master.sock, the path still leads
   * to a replaced master, whose worker must not be taken for ours.
   */
  private async waitServing(previous: ReadonlySet<number>, deadline = Date.now() + this.readyTimeoutMs): Promise<number> {
    for (;;) {
      const list = await this.processes().catch(() => undefined);
      const ours = list?.master.pid === this.child?.pid;
      const worker = ours ? list?.workers.find((w) => !previous.has(w.pid)) : undefined;
      if (worker && (await sendCommand(this.masterSocket, `@!${worker.pid} show info`).then(() => true, () => false))) return worker.pid;
      if (Date.now() > deadline) throw new Error(messages.notReady('start serving', this.readyTimeoutMs));
      await delay(POLL_MS);
    }
  }

  /** Supervision: a master that died unasked is started again, on the installed configuration. */
  private onMasterExit(child: ChildProcess, reason: string): void {
    if (this.stopping || this.child !== child) return;
    this.child = undefined;
    const successor = this.previousMaster();
    if (successor) {
      // Another process manager started on this directory and replaced our master: restarting
      // would replace it in turn, and the two would fight forever.
      this.superseded = true;
      this.options.log.warn({ pid: successor.pid }, `${reason}: another process manager took over ${this.options.dir}; this one stops supervising it`);
      return;
    }
    if (Date.now() - this.childStartedAt > STABLE_AFTER_MS) this.restartsInARow = 0;
    this.scheduleRestart(reason);
  }

  /** Starts a master again after a delay that doubles while restarts keep failing or dying young. */
  private scheduleRestart(reason: string): void {
    this.restartsInARow += 1;
    const wait = cappedBackoff({ ...RESTART_DELAY_MS, attempt: this.restartsInARow });
    this.options.log.error({ restartInMs: wait }, `${reason}; restarting it with the installed configuration`);
    this.restartTimer = setTimeout(() => {
      this.serialized(async () => {
        if (this.stopping) return;
        await this.killLeftovers(1_000);
        await this.launch();
        const masterPid = this.child?.pid ?? 0;
        this.options.log.warn({ pid: masterPid }, 'HAProxy master restarted; runtime API changes since the last reload must be applied again');
        this.restartSubject.next({ masterPid, reason });
      }).catch((error: unknown) => {
        if (this.stopping) return;
        this.scheduleRestart(`restarting HAProxy failed (${error instanceof Error ? error.message : String(error)})`);
      });
    }, wait);
  }
}


function writeAtomically(file: string, text: string): void {
  const temp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(temp, text);
  renameSync(temp, file);
}

/** Sends a line and closes without waiting for an answer that 2.6's `reload` never gives. */
function fireAndForget(socketPath: string, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath, () => socket.end(line, () => resolve()));
    socket.setTimeout(1_000, () => socket.destroy());
    socket.on('error', reject);
    socket.on('close', () => resolve());
  });
}

/** HAProxy's lines into the log, at the level HAProxy gave them. */
function forwardLines(child: ChildProcess, log: Logger): void {
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on('line', (line) => {
      if (line.startsWith('[ALERT]')) log.error({ source: 'haproxy' }, line);
      else if (line.startsWith('[WARNING]')) log.warn({ source: 'haproxy' }, line);
      else log.info({ source: 'haproxy' }, line);
    });
  }
}


function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

