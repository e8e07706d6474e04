// `capstan controllers`: the built-in controllers in the foreground until SIGINT/SIGTERM, then a
// graceful stop (leases released, in-flight reconciles finished or aborted). `--module PATH` adds a
// user's controllers (cli/controller-module.ts) to the same manager.
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import type { Logger } from 'pino';
import type { Store } from '../api/store.ts';
import type { RunningControllers } from '../controllers/builtin.ts';
import { DEFAULT_TERMINAL_TASK_HISTORY } from '../controllers/task-gc/plan.ts';
import { parseListen } from '../controllers/gitops/webhook-auth.ts';
import { positiveInteger, type Act } from './command.ts';
import type { CommandContext } from './context.ts';
import { EXIT, usageError } from './errors.ts';
import { readableLogger } from './logger.ts';
import type { LoadedModule } from './controller-module.ts';

export interface ControllersOptions {
  only?: string[];
  /** `--module`: paths (relative to the cwd) or package names of ES modules exporting `controllers`. */
  modules?: string[];
  leaseTtlSeconds?: number;
  metricsPort?: number;
  servicePortRange?: { from: number; to: number };
  terminalTaskHistory?: number;
  gitCacheDir?: string;
  webhook?: WebhookCliOptions;
}

/** The gitops webhook receiver as the CLI asks for it: where to listen, and the secret's file. */
export interface WebhookCliOptions {
  host: string;
  port: number;
  secretFile: string;
}

/** `--webhook-listen`'s default: loopback only, so nothing beyond this machine can reach it without a proxy the user sets up. */
export const DEFAULT_WEBHOOK_LISTEN = '127.0.0.1:9292';

const say = {
  webhookListen: (value: string) => `--webhook-listen: expected HOST:PORT (e.g. ${DEFAULT_WEBHOOK_LISTEN}, [::1]:9292, :9292 for loopback) or off, found "${value}"`,
  webhookInUse: (where: string) => `the webhook receiver cannot listen on ${where}: the port is taken (another \`capstan controllers\` or \`capstan up\`?); pass --webhook-listen HOST:PORT with a free port, or --webhook-listen off`,
  inModule: (path: string | undefined, message: string) => (path ? `--module ${path}: ${message}` : message),
  history: (value: string) => `--terminal-task-history: expected a whole number of ended tasks to keep per App (0 or more, e.g. ${DEFAULT_TERMINAL_TASK_HISTORY}), found "${value}"`,
} as const;

export interface StartControllersOptions {
  store: Store;
  only?: string[];
  leaderElection?: boolean;
  leaseTtlSeconds?: number;
  metricsPort?: number;
  servicePortRange?: { from: number; to: number };
  terminalTaskHistory?: number;
  /** Where the gitops controllers keep fetched repositories (default ~/.capstan/git). */
  gitCacheDir?: string;
  /** Serve the gitops webhook receiver; only when the gitrepositories controller runs (the hook is for it). */
  webhook?: WebhookCliOptions;
  /** Users' controllers and kinds (`--module`), run beside the built-in ones. */
  modules?: LoadedModule[];
  logger: Logger;
}

/**
 * Runs controllers/builtin.ts, loaded on demand so that `get` and `apply` do not pay for loading every
 * controller. Signals stay with the command: `up` must stop the controllers before the etcd they use.
 */
export async function startControllers(options: StartControllersOptions): Promise<RunningControllers> {
  const { runControllers, UnknownControllerError, ControllerNameClashError } = await import('../controllers/builtin.ts');
  const { UnknownWatchedKindError } = await import('../controllers/manager.ts');
  const { webhook: wanted, modules = [], ...rest } = options;
  const webhook = wanted && (!options.only?.length || options.only.includes('gitrepositories')) ? await webhookOf(wanted) : undefined;
  const extra = modules.flatMap((module) => module.controllers);
  const kinds = modules.flatMap((module) => module.kinds);
  try {
    return await runControllers({ leaderElection: true, ...rest, extra, kinds, ...(webhook ? { webhook } : {}), handleSignals: false });
  } catch (error) {
    if (error instanceof UnknownControllerError) throw usageError(error.message);
    if (error instanceof ControllerNameClashError) throw usageError(say.inModule(moduleOf(modules, error.controller), error.message));
    if (error instanceof UnknownWatchedKindError) throw usageError(say.inModule(moduleOf(modules, error.controller), error.message));
    if ((error as NodeJS.ErrnoException & { port?: number }).code === 'EADDRINUSE' && wanted && (error as { port?: number }).port === wanted.port) throw usageError(say.webhookInUse(`${wanted.host}:${wanted.port}`));
    throw error;
  }
}

/** The file that defines a controller, to name it in an error. */
function moduleOf(modules: LoadedModule[], controller: string): string | undefined {
  return modules.find((module) => module.controllers.some((c) => c.name === controller))?.path;
}

async function webhookOf(options: WebhookCliOptions): Promise<{ host: string; port: number; secret: Uint8Array }> {
  const { readOrCreateSecret, WebhookSecretError } = await import('../controllers/gitops/webhook-secret.ts');
  try {
    const { secret } = await readOrCreateSecret(options.secretFile);
    return { host: options.host, port: options.port, secret };
  } catch (error) {
    if (error instanceof WebhookSecretError) throw usageError(error.message);
    throw error;
  }
}

export function controllersCommand(act: Act): Command {
  return new Command('controllers')
    .description('Run the built-in controllers in the foreground (leader-elected; SIGINT/SIGTERM stop them gracefully)')
    .option('--only <names>', "comma-separated controllers to run, e.g. rollout,replicas (a --module's controllers too)")
    .option(
      '--module <path>',
      'also run the controllers of this ES module (a path relative to the current directory, or an installed package name) that exports `controllers` (an array, or a function returning one) and optionally `kinds` (defineKind); a .ts module loads through tsx when installed; repeatable',
      collect,
      [] as string[],
    )
    .option('--lease-ttl <seconds>', 'leader lease TTL in seconds', positiveInteger('--lease-ttl'))
    .option('--metrics-port <port>', 'serve Prometheus metrics on this port', positiveInteger('--metrics-port'))
    .option('--service-port-range <from-to>', "where load-balanced ports get their service ports when an App names none (marathon-lb's)", portRange, { from: 10000, to: 10100 })
    .option(
      '--terminal-task-history <n>',
      "Finished, Failed and Lost tasks kept per App for lastTaskFailure, logs --previous and debugging; older ones, and Killed ones, are deleted (Kubernetes' terminated-pod-gc-threshold, per App)",
      terminalTaskHistory,
      DEFAULT_TERMINAL_TASK_HISTORY,
    )
    .option('--git-cache-dir <dir>', 'where the gitops controllers keep the repositories they fetch, reused across restarts (default ~/.capstan/git)')
    .option(
      '--webhook-listen <host:port|off>',
      'serve the gitops webhook receiver (POST /hook/<token>, HMAC-SHA256 signed; the path is in `capstan describe gitrepository`) here; off for none',
      DEFAULT_WEBHOOK_LISTEN,
    )
    .option('--webhook-secret-file <file>', "the webhook receiver's secret: it signs request bodies and derives each repository's token; created with a random one when absent (default ~/.capstan/webhook-secret)")
    .action(
      act(
        async (
          ctx,
          options: {
            only?: string;
            module: string[];
            leaseTtl?: number;
            metricsPort?: number;
            servicePortRange: { from: number; to: number };
            terminalTaskHistory: number;
            gitCacheDir?: string;
            webhookListen: string;
            webhookSecretFile?: string;
          },
        ) =>
        runControllersCommand(ctx, {
          only: options.only?.split(',').map((s) => s.trim()).filter(Boolean),
          modules: options.module,
          leaseTtlSeconds: options.leaseTtl,
          metricsPort: options.metricsPort,
          servicePortRange: options.servicePortRange,
          terminalTaskHistory: options.terminalTaskHistory,
          gitCacheDir: resolve(ctx.config.cwd, options.gitCacheDir ?? join(ctx.config.home, '.capstan', 'git')),
          webhook: webhookListen(options.webhookListen, resolve(ctx.config.cwd, options.webhookSecretFile ?? join(ctx.config.home, '.capstan', 'webhook-secret'))),
        }),
      ),
    );
}

/** `--webhook-listen`: off → no receiver. */
function webhookListen(value: string, secretFile: string): WebhookCliOptions | undefined {
  if (value.trim() === 'off') return undefined;
  const listen = parseListen(value);
  if (!listen) throw usageError(say.webhookListen(value));
  return { ...listen, secretFile };
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function terminalTaskHistory(value: string): number {
  const number = Number(value);
  if (value.trim() === '' || !Number.isInteger(number) || number < 0) throw usageError(say.history(value));
  return number;
}

function portRange(value: string): { from: number; to: number } {
  const match = /^(\d+)-(\d+)$/.exec(value.trim());
  const [from, to] = match ? [Number(match[1]), Number(match[2])] : [0, 0];
  if (!match || from < 1 || to > 65_535 || from > to) throw usageError(`--service-port-range: expected FROM-TO with 1 <= FROM <= TO <= 65535, e.g. 10000-10100, found "${value}"`);
  return { from, to };
}

export async function runControllersCommand(ctx: CommandContext, options: ControllersOptions): Promise<number> {
  const interrupted = ctx.untilInterrupted();
  const { modules: specifiers = [], ...rest } = options;
  const modules = specifiers.length > 0 ? await loadModules(specifiers, ctx.config.cwd) : [];
  const session = await ctx.session();
  const logger = readableLogger({ out: ctx.io.stderr, color: ctx.io.color });
  const running = await startControllers({ store: session.store, logger, ...rest, modules });
  const metrics = running.metricsUrl ? `, metrics on ${running.metricsUrl}` : '';
  const webhook = running.webhookUrl ? `, gitops webhook receiver on ${running.webhookUrl}/hook/<token> (each GitRepository's status.webhookPath)` : '';
  logger.info(`running ${running.controllers.join(', ')} against ${ctx.config.etcd}${metrics}${webhook}; Ctrl-C to stop`);
  await interrupted;
  logger.info('stopping controllers');
  await running.stop();
  return EXIT.ok;
}

/** Loaded before etcd is asked anything: a broken module is the first thing to fix. */
async function loadModules(specifiers: string[], cwd: string): Promise<LoadedModule[]> {
  const { loadControllerModules, ControllerModuleError } = await import('./controller-module.ts');
  try {
    return await loadControllerModules({ specifiers, cwd });
  } catch (error) {
    if (error instanceof ControllerModuleError) throw usageError(error.message);
    throw error;
  }
}
