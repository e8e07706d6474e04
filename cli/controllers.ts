// `capstan controllers`: the built-in controllers in the foreground until SIGINT/SIGTERM, then a
// graceful stop (leases released, in-flight reconciles finished or aborted).
import { Command } from 'commander';
import type { Logger } from 'pino';
import type { Store } from '../api/store.ts';
import type { CommandContext } from './context.ts';
import { EXIT, usageError } from './errors.ts';
import { readableLogger } from './logger.ts';
import type { Act } from './program.ts';

export interface ControllersOptions {
  only?: string[];
  leaseTtlSeconds?: number;
  metricsPort?: number;
}

/** What a running set of controllers gives back: a way to stop it. */
export interface RunningControllers {
  stop(): Promise<void>;
}

interface RunControllersOptions {
  store: Store;
  only?: string[];
  leaderElection: boolean;
  leaseTtlSeconds?: number;
  metricsPort?: number;
  logger: Logger;
}

type RunControllers = (options: RunControllersOptions) => Promise<RunningControllers> | RunningControllers;

/**
 * Loads controllers/builtin.ts on demand: `get` and `apply` should not pay for loading every
 * controller, and cli/ stays usable while a controller fails to load.
 */
export async function startControllers(options: Omit<RunControllersOptions, 'leaderElection'> & { leaderElection?: boolean }): Promise<RunningControllers> {
  const modulePath = '../controllers/builtin.ts';
  const module = (await import(modulePath)) as { runControllers: RunControllers };
  return module.runControllers({ leaderElection: true, ...options });
}

export function controllersCommand(act: Act): Command {
  return new Command('controllers')
    .description('Run the built-in controllers in the foreground (leader-elected; SIGINT/SIGTERM stop them gracefully)')
    .option('--only <names>', 'comma-separated controllers to run, e.g. rollout,replicas')
    .option('--lease-ttl <seconds>', 'leader lease TTL in seconds', positiveInteger('--lease-ttl'))
    .option('--metrics-port <port>', 'serve Prometheus metrics on this port', positiveInteger('--metrics-port'))
    .action(
      act(async (ctx, options: { only?: string; leaseTtl?: number; metricsPort?: number }) =>
        runControllersCommand(ctx, {
          only: options.only?.split(',').map((s) => s.trim()).filter(Boolean),
          leaseTtlSeconds: options.leaseTtl,
          metricsPort: options.metricsPort,
        }),
      ),
    );
}

export function positiveInteger(flag: string): (value: string) => number {
  return (value) => {
    const number = Number(value);
    if (!Number.isInteger(number) || number <= 0) throw usageError(`${flag}: expected a positive integer, found "${value}"`);
    return number;
  };
}

export async function runControllersCommand(ctx: CommandContext, options: ControllersOptions): Promise<number> {
  const interrupted = ctx.untilInterrupted();
  const session = await ctx.session();
  const logger = readableLogger({ out: ctx.io.stderr, color: ctx.io.color });
  const running = await startControllers({ store: session.store, logger, ...options });
  logger.info(`controllers running against ${ctx.config.etcd}; Ctrl-C to stop`);
  await interrupted;
  logger.info('stopping controllers');
  await running.stop();
  return EXIT.ok;
}
