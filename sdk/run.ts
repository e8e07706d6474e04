// runControllers: a user's controller process in one call. It reads the same flags, environment and
// config file as the `capstan` command (--etcd > CAPSTAN_ETCD > $CAPSTAN_CONFIG or
// ~/.capstan/config.yaml > http://127.0.0.1:2379), so a controller started beside `capstan up` finds
// the cluster with no flag at all; registers the kinds defined in code; starts a leader-elected
// Manager (which installs their CustomKinds); serves metrics when asked; and on SIGINT/SIGTERM drains
// reconciles, resigns leadership and exits 0.
//
// Problems a person must fix (a bad flag, an unreachable etcd, a broken config file) are one
// sentence on stderr and exit code 2 (usage) or 1, not a stack trace — unless `exitOnError: false`,
// for embedding and tests, which gets them thrown instead.
import { homedir } from 'node:os';
import { parseArgs } from 'node:util';
import { pino, type Logger } from 'pino';
import type { KindDefinition } from '../api/kinds/registry.ts';
import type { Store } from '../api/store.ts';
import { ConfigError, envSchema, resolveConfig } from '../cli/config.ts';
import { readableLogger } from '../cli/logger.ts';
import type { ControllerDefinition } from '../controllers/contract.ts';
import { installSignalHandlers, Manager, UnknownWatchedKindError } from '../controllers/manager.ts';
import { serveMetrics, type MetricsServer } from '../controllers/metrics.ts';
import type { InstallableKind } from '../controllers/install-kinds.ts';
import { EtcdUnreachableError } from '../api/etcd-errors.ts';
import { openStore } from './store.ts';

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;

export const RUN_USAGE = `Options (flags win over the environment, which wins over the config file):
  --etcd URL               etcd's client URL (default: CAPSTAN_ETCD, then "etcd:" in $CAPSTAN_CONFIG
                           or ~/.capstan/config.yaml, which \`capstan up\` writes, then http://127.0.0.1:2379)
  --lease-ttl SECONDS      leader lease TTL: a crashed leader is replaced within about this long (default 10)
  --no-leader-election     run at once, without campaigning (one replica only)
  --metrics-port PORT      serve Prometheus metrics on 127.0.0.1:PORT (0: any free port)
  --log-level LEVEL        trace, debug, info, warn or error (default info)
  -h, --help               show this help`;

const say = {
  usage: (problem: string) => `${problem}\n\n${RUN_USAGE}`,
  positive: (flag: string, value: string) => `${flag}: expected a whole number of at least 1, found "${value}"`,
  port: (value: string) => `--metrics-port: expected a port number from 0 to 65535, found "${value}"`,
  level: (value: string) => `--log-level: expected one of ${LOG_LEVELS.join(', ')}, found "${value}"`,
  running: (controllers: string[], etcd: string, source: string) => `running ${controllers.join(', ')} against ${etcd} (from ${source}); Ctrl-C to stop`,
} as const;

export interface RunControllersOptions {
  controllers: ControllerDefinition[];
  /** Kinds the controllers define (defineKind): registered here and installed as CustomKinds. */
  kinds?: (KindDefinition & InstallableKind)[];
  /** Default process.argv.slice(2). */
  argv?: string[];
  /** Default process.env. */
  env?: Record<string, string | undefined>;
  /** Default: a readable log on a terminal, JSON lines otherwise, at --log-level. */
  logger?: Logger;
  /** Stop gracefully and exit on SIGINT/SIGTERM. Default true. */
  handleSignals?: boolean;
  /** Print problems as one sentence and exit (the default), or throw them (false). */
  exitOnError?: boolean;
}

export interface RunningControllers {
  manager: Manager;
  store: Store;
  /** The etcd endpoint used, and where it came from ("--etcd", "CAPSTAN_ETCD", a config path, "default"). */
  etcd: string;
  etcdSource: string;
  metricsUrl?: string;
  /** Drains reconciles, resigns leadership, closes metrics and the etcd connection. Idempotent. */
  stop(): Promise<void>;
}

/** A problem the person running the controller must fix: said in one sentence, never a stack trace. */
export class RunError extends Error {
  override readonly name = 'RunError';
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

interface RunFlags {
  etcd?: string;
  leaseTtlSeconds: number;
  leaderElection: boolean;
  metricsPort?: number;
  logLevel: (typeof LOG_LEVELS)[number];
  help: boolean;
}

export function parseRunFlags(argv: string[]): RunFlags {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        etcd: { type: 'string' },
        'lease-ttl': { type: 'string' },
        'no-leader-election': { type: 'boolean' },
        'metrics-port': { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new RunError(say.usage((error as Error).message), 2);
  }
  const text = (name: string) => values[name] as string | undefined;
  const flags: RunFlags = { leaseTtlSeconds: 10, leaderElection: values['no-leader-election'] !== true, logLevel: 'info', help: values['help'] === true };
  if (text('etcd') !== undefined) flags.etcd = text('etcd');
  const ttl = text('lease-ttl');
  if (ttl !== undefined) {
    if (!/^\d+$/.test(ttl) || Number(ttl) < 1) throw new RunError(say.usage(say.positive('--lease-ttl', ttl)), 2);
    flags.leaseTtlSeconds = Number(ttl);
  }
  const port = text('metrics-port');
  if (port !== undefined) {
    if (!/^\d+$/.test(port) || Number(port) > 65_535) throw new RunError(say.usage(say.port(port)), 2);
    flags.metricsPort = Number(port);
  }
  const level = text('log-level');
  if (level !== undefined) {
    if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new RunError(say.usage(say.level(level)), 2);
    flags.logLevel = level as RunFlags['logLevel'];
  }
  return flags;
}

/** Runs the controllers until SIGINT/SIGTERM (or stop()). */
export async function runControllers(options: RunControllersOptions): Promise<RunningControllers> {
  try {
    return await start(options);
  } catch (error) {
    if (options.exitOnError === false) throw error;
    const known = error instanceof RunError || error instanceof EtcdUnreachableError || error instanceof ConfigError || error instanceof UnknownWatchedKindError;
    if (!known) throw error;
    process.stderr.write(`${error.message}\n`);
    return process.exit(error instanceof RunError ? error.exitCode : 1);
  }
}

async function start(options: RunControllersOptions): Promise<RunningControllers> {
  const flags = parseRunFlags(options.argv ?? process.argv.slice(2));
  if (flags.help) {
    process.stdout.write(`${RUN_USAGE}\n`);
    return process.exit(0);
  }
  const env = envSchema.parse(options.env ?? process.env);
  const config = resolveConfig({ globals: flags.etcd !== undefined ? { etcd: flags.etcd } : {}, env, cwd: process.cwd(), homedir: homedir() });
  const log = options.logger ?? defaultLogger(flags.logLevel);
  const kinds = options.kinds ?? [];
  const { store, close } = await openStore({ etcd: config.etcd, kinds });
  let manager: Manager;
  try {
    manager = new Manager({ store, controllers: options.controllers, kinds, leaderElection: flags.leaderElection, leaseTtlSeconds: flags.leaseTtlSeconds, logger: log });
    await manager.start();
  } catch (error) {
    close();
    throw error;
  }
  let metrics: MetricsServer | undefined;
  if (flags.metricsPort !== undefined) metrics = await serveMetrics({ registry: manager.metrics.registry, port: flags.metricsPort });
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await manager.stop();
      await metrics?.close();
      close();
    })());
  if (options.handleSignals !== false) installSignalHandlers({ stop }, { log });
  log.info({ metrics: metrics?.url }, say.running(options.controllers.map((c) => c.name), config.etcd, config.etcdSource));
  const running: RunningControllers = { manager, store, etcd: config.etcd, etcdSource: config.etcdSource, stop };
  if (metrics) running.metricsUrl = metrics.url;
  return running;
}

function defaultLogger(level: string): Logger {
  if (process.stderr.isTTY) return readableLogger({ out: process.stderr, color: !process.env['NO_COLOR'], level });
  return pino({ level });
}
