// `capstan lb`: a load balancer for this node — runtime/lb's Balancer driving a real HAProxy in
// master-worker mode — in the foreground until SIGINT/SIGTERM; and `capstan lb status`, what that
// HAProxy reports of its frontends, backends and servers.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import type { Logger } from 'pino';
import { z } from 'zod';
import { DNS_LABEL } from '../api/object.ts';
import type { Store } from '../api/store.ts';
import { collect, parseDuration, type Act } from './command.ts';
import type { CommandContext } from './context.ts';
import { EXIT, usageError } from './errors.ts';
import { formatTable } from './io.ts';
import { readableLogger } from './logger.ts';

export const LB_DEFAULTS = {
  group: 'external',
  bindAddress: '*',
  httpPort: 80,
  statsAddress: '127.0.0.1',
  statsPort: 9090,
  statsUser: 'admin',
  drainTimeoutSeconds: 60,
  hardStopAfterSeconds: 30,
} as const;

const say = {
  port: (flag: string, value: string) => `${flag}: expected a port number 1-65535, found "${value}"`,
  address: (flag: string, value: string) => `${flag}: expected an IP address or *, found "${value}"`,
  name: (value: string) => `--name: expected a DNS label (lowercase letters, digits, "-"), found "${value}"`,
  https: '--https-port and --certificate go together: HTTPS needs a certificate (a PEM with the key)',
  serving: (name: string, groups: string[], http: string, stats: string, dir: string) =>
    `lb ${name}: serving groups ${groups.join(',')}; shared HTTP frontend ${http}; stats ${stats} (user and password in ${dir}/stats-credentials); Ctrl-C to stop`,
  metricsPort: (value: string) => `--metrics-port: expected a port number 0-65535 (0: any free port), found "${value}"`,
  metrics: (url: string) => `lb: metrics at ${url}`,
  noLoadBalancer: (dir: string) => `no load balancer runs from ${dir}: start one with "capstan lb" (or "capstan up")`,
};

export interface LbCommandOptions {
  name: string;
  groups: string[];
  dir: string;
  bindAddress: string;
  httpPort: number;
  https?: { port: number; certificate: string };
  statsAddress: string;
  statsPort: number;
  drainTimeoutSeconds: number;
  hardStopAfterSeconds: number;
  /** Serve Capstan's own Prometheus metrics (reloads, runtime API updates) on 127.0.0.1:<port> (0: any free port); omitted: none. */
  metricsPort?: number;
}

const flagsSchema = z
  .object({
    name: z.string().optional(),
    group: z.array(z.string()).optional(),
    dir: z.string().optional(),
    bindAddress: z.string().default(LB_DEFAULTS.bindAddress),
    httpPort: z.string().default(String(LB_DEFAULTS.httpPort)),
    httpsPort: z.string().optional(),
    certificate: z.string().optional(),
    statsAddress: z.string().default(LB_DEFAULTS.statsAddress),
    statsPort: z.string().default(String(LB_DEFAULTS.statsPort)),
    drainTimeout: z.string().default(String(LB_DEFAULTS.drainTimeoutSeconds)),
    hardStopAfter: z.string().default(String(LB_DEFAULTS.hardStopAfterSeconds)),
    metricsPort: z.string().optional(),
  })
  .strict();

/** The default name: this host's, as a DNS label, so two machines' load balancers never share one. */
export function defaultLbName(): string {
  const host = hostname().toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+|-+$/g, '').slice(0, 60);
  return `lb-${host || 'local'}`;
}

export const lbDirFor = (name: string) => join(homedir(), '.capstan', 'lb', name);

export function parseLbFlags(flags: unknown): LbCommandOptions {
  const raw = flagsSchema.parse(flags);
  const name = raw.name ?? defaultLbName();
  if (!DNS_LABEL.test(name) || name.length > 63) throw usageError(say.name(name));
  const port = (flag: string, value: string) => {
    const parsed = z.coerce.number().int().min(1).max(65_535).safeParse(value);
    if (!parsed.success || value.trim() === '') throw usageError(say.port(flag, value));
    return parsed.data;
  };
  const address = (flag: string, value: string) => {
    if (value !== '*' && !isIP(value)) throw usageError(say.address(flag, value));
    return value;
  };
  // Durations like every other time flag (30s, 2m; a bare number is seconds), kept in whole seconds
  // for HAProxy's and the drain records' sake, rounded up so that a short one never becomes 0.
  const seconds = (flag: string, value: string) => Math.ceil(parseDuration(value, flag) / 1000);
  if ((raw.httpsPort === undefined) !== (raw.certificate === undefined)) throw usageError(say.https);
  const options: LbCommandOptions = {
    name,
    groups: raw.group?.length ? raw.group.flatMap((g) => g.split(',')).map((g) => g.trim()).filter(Boolean) : [LB_DEFAULTS.group],
    dir: resolve(raw.dir ?? lbDirFor(name)),
    bindAddress: address('--bind-address', raw.bindAddress),
    httpPort: port('--http-port', raw.httpPort),
    statsAddress: address('--stats-address', raw.statsAddress),
    statsPort: port('--stats-port', raw.statsPort),
    drainTimeoutSeconds: seconds('--drain-timeout', raw.drainTimeout),
    hardStopAfterSeconds: seconds('--hard-stop-after', raw.hardStopAfter),
  };
  if (raw.httpsPort !== undefined && raw.certificate !== undefined) options.https = { port: port('--https-port', raw.httpsPort), certificate: resolve(raw.certificate) };
  if (raw.metricsPort !== undefined) {
    const metricsPort = z.coerce.number().int().min(0).max(65_535).safeParse(raw.metricsPort);
    if (!metricsPort.success || raw.metricsPort.trim() === '') throw usageError(say.metricsPort(raw.metricsPort));
    options.metricsPort = metricsPort.data;
  }
  return options;
}


export function lbCommand(act: Act): Command {
  const command = new Command('lb')
    .description("Run a load balancer on this node: marathon-lb's role on a real HAProxy (master-worker), routing each load-balanced App's service port and virtual hosts to its serving tasks (SIGINT/SIGTERM stop it and HAProxy)")
    .option('--name <name>', `this load balancer's name: its registration and drain records (default: lb-<hostname>)`)
    .option('--group <group>', `serve Apps of this HAPROXY_GROUP / loadBalancer.group; repeat or comma-separate; "*" serves every group (default: ${LB_DEFAULTS.group})`, collect)
    .option('--dir <dir>', "where HAProxy's configuration, sockets and state live (default: ~/.capstan/lb/<name>)")
    .option('--bind-address <ip>', 'where frontends listen; * for every address (marathon-lb\'s)', LB_DEFAULTS.bindAddress)
    .option('--http-port <port>', 'the shared HTTP frontend for virtual hosts and paths', String(LB_DEFAULTS.httpPort))
    .option('--https-port <port>', 'a shared HTTPS frontend (SNI on the virtual hosts); needs --certificate')
    .option('--certificate <pem>', 'certificate and key (one PEM) for --https-port')
    .option('--stats-address <ip>', 'the stats page and Prometheus /metrics listen here only (with credentials)', LB_DEFAULTS.statsAddress)
    .option('--stats-port <port>', 'port of the stats page (/haproxy?stats) and /metrics', String(LB_DEFAULTS.statsPort))
    .option('--drain-timeout <duration>', 'the longest a removed server is left draining, e.g. 60s or 2m (an App\'s own drainTimeoutSeconds usually ends it first)', `${LB_DEFAULTS.drainTimeoutSeconds}s`)
    .option('--hard-stop-after <duration>', 'after a reload, the longest an old HAProxy worker may keep finishing its connections, e.g. 30s', `${LB_DEFAULTS.hardStopAfterSeconds}s`)
    .option('--metrics-port <port>', "serve Capstan's metrics of this load balancer (reloads, runtime API updates, etcd latencies) on 127.0.0.1:<port>; 0: any free port")
    .addHelpText(
      'after',
      [
        '',
        'Each load-balanced port (spec.loadBalancer, or marathon-lb\'s HAPROXY_* labels) gets a frontend on its service',
        'port (10000-10100 unless the App names one); virtual hosts and paths route on the shared HTTP frontend.',
        'Scaling, replacing a task or draining one goes through HAProxy\'s runtime API; HAProxy reloads (hitlessly)',
        'only when the configuration\'s shape changes (an App, a port, a setting, or more servers than its slots).',
        'At most one old worker lingers after a reload, and never longer than --hard-stop-after.',
        'A task about to be stopped is drained first: no new connections, its current ones finish, then the agent',
        'stops it (the App\'s drainTimeoutSeconds bounds the wait).',
        '',
        'capstan lb status [--name NAME | --dir DIR] shows what HAProxy reports of frontends, backends and servers.',
      ].join('\n'),
    )
    .action(act(async (ctx, flags: Record<string, unknown>) => runLbCommand(ctx, parseLbFlags(flags))));
  command
    .command('status')
    .description("What this node's load balancer reports: frontends, backends and each server's state, sessions and task")
    .option('--name <name>', 'the load balancer (default: lb-<hostname>)')
    .option('--dir <dir>', 'its directory (default: ~/.capstan/lb/<name>)')
    // The parent `lb` takes --name and --dir first (commander gives an option to the first command
    // that defines it), so read them with the parent's.
    .action(
      act(async (ctx, _flags: unknown, status: Command) => {
        const flags = status.optsWithGlobals<{ name?: string; dir?: string }>();
        return runLbStatus(ctx, resolve(flags.dir ?? lbDirFor(flags.name ?? defaultLbName())));
      }),
    );
  return command;
}

export interface RunningLoadBalancer {
  name: string;
  httpUrl: string;
  statsUrl: string;
  credentials: { user: string; password: string };
  stop(): Promise<void>;
  balancer: import('../runtime/lb/balancer.ts').Balancer;
  /** Where Capstan's metrics of this load balancer are served (--metrics-port). */
  metricsUrl?: string;
}

/** Starts HAProxy and the balancer; `capstan lb`, `capstan up` and the tests call this. */
export async function startLoadBalancer(options: LbCommandOptions & { store: Store; log: Logger }): Promise<RunningLoadBalancer> {
  // Loaded here, not at the top: other commands would otherwise pay for the load balancer.
  const { Balancer } = await import('../runtime/lb/balancer.ts');
  const { HAProxyProcess } = await import('../runtime/lb/haproxy.ts');
  const { checkConfig } = await import('../runtime/lb/haproxy-config.ts');
  const { hasPrometheusExporter } = await import('../runtime/lb/render.ts');
  const { LbMetrics, serveMetrics } = await import('../api/metrics.ts');
  const metrics = new LbMetrics();
  mkdirSync(options.dir, { recursive: true });
  const credentials = statsCredentials(options.dir);
  const render = {
    bindAddress: options.bindAddress,
    httpPort: options.httpPort,
    ...(options.https ? { https: options.https } : {}),
    stats: { address: options.statsAddress, port: options.statsPort, ...credentials, prometheus: hasPrometheusExporter(await haproxyVersion()) },
    adminSocket: join(options.dir, 'admin.sock'),
    serverStateFile: join(options.dir, 'server-state'),
    hardStopAfterSeconds: options.hardStopAfterSeconds,
  };
  const balancer = new Balancer({
    store: options.store.withMetrics(metrics.etcd),
    metrics,
    name: options.name,
    groups: options.groups,
    render,
    check: (text) => checkConfig(text, { dir: options.dir }),
    log: options.log,
    drainTimeoutMs: options.drainTimeoutSeconds * 1000,
  });
  let haproxy: import('../runtime/lb/haproxy.ts').HAProxyProcess | undefined;
  let restarts: { unsubscribe(): void } | undefined;
  let metricsServer: Awaited<ReturnType<typeof serveMetrics>> | undefined;
  try {
    // HAProxy starts (or takes over from one a previous run left) with every App already in its
    // configuration: never a moment of serving nothing.
    haproxy = await HAProxyProcess.start({ dir: options.dir, config: await balancer.prepare(), log: options.log });
    // A master that died and was restarted from the file: set every slot again.
    restarts = haproxy.restarts.subscribe(() => balancer.restarted());
    await balancer.start(haproxy);
    if (options.metricsPort !== undefined) metricsServer = await serveMetrics({ registry: metrics.registry, port: options.metricsPort });
  } catch (error) {
    restarts?.unsubscribe();
    await balancer.stop();
    await haproxy?.stop();
    throw error;
  }
  const host = options.bindAddress === '*' ? '127.0.0.1' : options.bindAddress;
  return {
    name: options.name,
    httpUrl: `http://${host}:${options.httpPort}/`,
    statsUrl: `http://${options.statsAddress}:${options.statsPort}/haproxy?stats`,
    credentials,
    balancer,
    ...(metricsServer ? { metricsUrl: metricsServer.url } : {}),
    stop: async () => {
      restarts?.unsubscribe();
      await metricsServer?.close();
      await balancer.stop();
      await haproxy?.stop();
    },
  };
}

/** The stats page's credentials: made once per directory, kept in a file only its owner reads. */
function statsCredentials(dir: string): { user: string; password: string } {
  const file = join(dir, 'stats-credentials');
  if (existsSync(file)) {
    const [user, password] = readFileSync(file, 'utf8').trim().split(':');
    if (user && password) return { user, password };
  }
  const credentials = { user: LB_DEFAULTS.statsUser, password: randomBytes(12).toString('base64url') };
  writeFileSync(file, `${credentials.user}:${credentials.password}\n`, { mode: 0o600 });
  return credentials;
}

async function haproxyVersion(): Promise<string> {
  const { execFile } = await import('node:child_process');
  return new Promise((resolve) => execFile('haproxy', ['-vv'], (error, stdout) => resolve(error ? '' : stdout)));
}

export async function runLbCommand(ctx: CommandContext, options: LbCommandOptions): Promise<number> {
  const interrupted = ctx.untilInterrupted();
  const session = await ctx.session();
  const log = readableLogger({ out: ctx.io.stderr, color: ctx.io.color, name: 'lb' });
  const lb = await startLoadBalancer({ ...options, store: session.store, log });
  ctx.io.stdout.write(`${say.serving(lb.name, options.groups, lb.httpUrl, lb.statsUrl, options.dir)}\n`);
  if (lb.metricsUrl) ctx.io.stdout.write(`${say.metrics(lb.metricsUrl)}\n`);
  await interrupted;
  log.info('stopping the load balancer and HAProxy');
  await lb.stop();
  return EXIT.ok;
}

/** `address:port` → task, from every Endpoints in the store; empty when the store cannot be read (status still shows HAProxy's view). */
async function tasksByAddress(ctx: CommandContext): Promise<Map<string, string>> {
  const tasks = new Map<string, string>();
  try {
    const { store } = await ctx.session();
    for (const endpoints of (await store.list('Endpoints')).items) {
      for (const port of (endpoints.spec as { ports: { addresses: { address: string; hostPort: number; task: string }[] }[] }).ports) {
        for (const a of port.addresses) tasks.set(`${a.address}:${a.hostPort}`, `${endpoints.metadata.namespace}/${a.task}`);
      }
    }
  } catch {
    // etcd unreachable: HAProxy's own view is still worth showing, without task names.
  }
  return tasks;
}

/** `capstan lb status`: HAProxy's own view (show stat) of every frontend, backend and non-empty server slot. */
export async function runLbStatus(ctx: CommandContext, dir: string): Promise<number> {
  const { parseShowStat, sendCommand } = await import('../runtime/lb/runtime-api.ts');
  const socket = join(dir, 'admin.sock');
  let csv: string;
  try {
    csv = await sendCommand(socket, 'show stat');
  } catch {
    ctx.io.stderr.write(`${say.noLoadBalancer(dir)}\n`);
    return EXIT.failed;
  }
  const rows = parseShowStat(csv).filter((r) => !r.pxname.startsWith('capstan_stats'));
  const frontends = rows.filter((r) => r.svname === 'FRONTEND');
  const backends = rows.filter((r) => r.svname === 'BACKEND');
  // An empty slot is a disabled server at the placeholder address: not worth a line.
  const servers = rows.filter((r) => r.svname !== 'FRONTEND' && r.svname !== 'BACKEND' && !(r.status === 'MAINT' && r.addr?.endsWith(':1')));
  const serving = (r: { status: string }) => r.status.startsWith('UP') || r.status === 'no check';
  const tasks = await tasksByAddress(ctx);
  // MAINT with an address is a slot whose task was drained and stopped: free for the next one.
  const taskOf = (r: { status: string; addr?: string }) => (r.status === 'MAINT' ? '(free)' : (tasks.get(r.addr ?? '') ?? '?'));
  const shown = (r: { status: string }) => (r.status === 'no check' ? 'UP (no check)' : r.status);
  ctx.io.stdout.write('FRONTENDS\n');
  ctx.io.stdout.write(formatTable([['NAME', 'STATUS', 'SESSIONS', 'TOTAL'], ...frontends.map((r) => [r.pxname, r.status, String(r.scur), String(r.stot)])]));
  ctx.io.stdout.write('\nBACKENDS\n');
  ctx.io.stdout.write(formatTable([['NAME', 'STATUS', 'SERVING', 'SESSIONS', 'TOTAL'], ...backends.map((r) => [r.pxname, r.status, String(servers.filter((s) => s.pxname === r.pxname && serving(s)).length), String(r.scur), String(r.stot)])]));
  ctx.io.stdout.write('\nSERVERS\n');
  ctx.io.stdout.write(formatTable([['BACKEND', 'SERVER', 'ADDRESS', 'TASK', 'STATUS', 'CHECK', 'SESSIONS', 'TOTAL'], ...servers.map((r) => [r.pxname, r.svname, r.addr ?? '', taskOf(r), shown(r), r.checkStatus ?? '', String(r.scur), String(r.stot)])]));
  return EXIT.ok;
}
