// The controllers Capstan ships with, and the one function `capstan controllers [--only a,b]` calls.
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { KindDefinition, KindRegistry } from '../api/kinds/registry.ts';
import type { Store } from '../api/store.ts';
import type { ControllerDefinition } from './contract.ts';
import { endpointsController } from './endpoints/index.ts';
import type { ServicePortRange } from './endpoints/service-ports.ts';
import { gcController } from './gc.ts';
import { gitopsControllers } from './gitops/index.ts';
import { serveWebhook, type WebhookReceiver } from './gitops/webhook.ts';
import { healthController } from './health/index.ts';
import { nodesController } from './nodes.ts';
import { replicasController } from './replicas/index.ts';
import { rolloutController } from './rollout/index.ts';
import { schedulerController } from './scheduler/index.ts';
import { taskGcController } from './task-gc/index.ts';
import { volumesController } from './volumes/index.ts';
import type { InstallableKind } from './install-kinds.ts';
import { installSignalHandlers, Manager } from './manager.ts';
import { ControllerMetrics, serveMetrics, type MetricsServer } from './metrics.ts';

/** Events live under their own prefix with a lease and expire by themselves: nothing to collect. */
const NOT_COLLECTED = new Set(['Event']);

export interface BuiltinOptions {
  servicePortRange?: ServicePortRange;
  /** Ended tasks the task gc keeps per App (default 5). */
  terminalTaskHistory?: number;
  /** Where the gitops controllers keep fetched repositories (default ~/.capstan/git). */
  gitCacheDir?: string;
  /** The gitops webhook receiver's secret: GitRepository statuses show their hook path. */
  webhookSecret?: Uint8Array;
  /** Where the rollout and health controllers count (the manager's metrics). */
  metrics?: ControllerMetrics;
}

/** `capstan controllers --git-cache-dir`'s default; `capstan up` passes its state dir's instead. */
export const defaultGitCacheDir = () => join(homedir(), '.capstan', 'git');

export function builtinControllers(registry: KindRegistry, options: BuiltinOptions = {}): ControllerDefinition[] {
  const kinds = registry.kinds().map((k) => k.kind).filter((kind) => !NOT_COLLECTED.has(kind));
  const endpoints = endpointsController(options.servicePortRange ? { servicePortRange: options.servicePortRange } : {});
  const taskGc = taskGcController(options.terminalTaskHistory !== undefined ? { terminalTaskHistory: options.terminalTaskHistory } : {});
  const gitops = gitopsControllers({ cacheDir: options.gitCacheDir ?? defaultGitCacheDir(), ...(options.webhookSecret ? { webhookSecret: options.webhookSecret } : {}) });
  const metrics = options.metrics ? { metrics: options.metrics } : {};
  return [rolloutController(metrics), replicasController(), schedulerController(), nodesController(), healthController(metrics), endpoints, gcController({ kinds }), taskGc, volumesController(), ...gitops];
}

export interface RunControllersOptions {
  store: Store;
  /** Run only these built-in controllers (by name). Default: all. */
  only?: string[];
  leaderElection?: boolean;
  leaseTtlSeconds?: number;
  /** Serve /metrics on 127.0.0.1:<port>; 0 picks a free port. Omit for none. */
  metricsPort?: number;
  logger?: Logger;
  /** Stop gracefully and exit on SIGTERM/SIGINT. Default true. */
  handleSignals?: boolean;
  /** Extra controllers to run beside the built-in ones (a user's, in the same process). */
  extra?: ControllerDefinition[];
  /** Kinds the extra controllers define (defineKind): registered, and installed as CustomKinds at start. */
  kinds?: (KindDefinition & InstallableKind)[];
  /** Where the endpoints controller allocates service ports (default 10000-10100, marathon-lb's). */
  servicePortRange?: ServicePortRange;
  /** Ended tasks kept per App (`--terminal-task-history`, default 5). */
  terminalTaskHistory?: number;
  /** Where fetched git repositories are kept (`--git-cache-dir`, default ~/.capstan/git). */
  gitCacheDir?: string;
  /** Serve the gitops webhook receiver (controllers/gitops/webhook.ts) on host:port (port 0: any free one). Omit for none. */
  webhook?: { host: string; port: number; secret: Uint8Array };
}

export interface RunningControllers {
  manager: Manager;
  controllers: string[];
  metricsUrl?: string;
  /** `http://host:port` of the webhook receiver, when it runs; a hook is this + a GitRepository's status.webhookPath. */
  webhookUrl?: string;
  stop(): Promise<void>;
}

export class UnknownControllerError extends Error {
  override readonly name = 'UnknownControllerError';
  constructor(readonly unknown: string[], known: string[]) {
    super(`unknown controller${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `"${n}"`).join(', ')} in --only: known controllers are ${known.join(', ')}`);
  }
}

/** An extra controller named like a built-in one: both would campaign for the same leader key. */
export class ControllerNameClashError extends Error {
  override readonly name = 'ControllerNameClashError';
  constructor(readonly controller: string) {
    super(`controller "${controller}" has the name of a built-in controller: names must be unique (they name the leader key, metrics and logs); rename it`);
  }
}

export async function runControllers(options: RunControllersOptions): Promise<RunningControllers> {
  const controllerMetrics = new ControllerMetrics();
  const builtin = builtinControllers(options.store.registry, {
    metrics: controllerMetrics,
    servicePortRange: options.servicePortRange,
    terminalTaskHistory: options.terminalTaskHistory,
    gitCacheDir: options.gitCacheDir,
    webhookSecret: options.webhook?.secret,
  });
  const clash = (options.extra ?? []).find((extra) => builtin.some((c) => c.name === extra.name));
  if (clash) throw new ControllerNameClashError(clash.name);
  const all = [...builtin, ...(options.extra ?? [])];
  const known = all.map((c) => c.name);
  const unknown = (options.only ?? []).filter((name) => !known.includes(name));
  if (unknown.length > 0) throw new UnknownControllerError(unknown, known);
  const controllers = options.only?.length ? all.filter((c) => options.only!.includes(c.name)) : all;

  const manager = new Manager({
    store: options.store,
    metrics: controllerMetrics,
    controllers,
    ...(options.kinds?.length ? { kinds: options.kinds } : {}),
    leaderElection: options.leaderElection,
    leaseTtlSeconds: options.leaseTtlSeconds,
    logger: options.logger,
  });
  await manager.start();
  let metrics: MetricsServer | undefined;
  let webhook: WebhookReceiver | undefined;
  try {
    if (options.metricsPort !== undefined) metrics = await serveMetrics({ registry: manager.metrics.registry, port: options.metricsPort });
    // Served by every replica, leader or not: a hook only stamps an annotation, which the leader acts on.
    if (options.webhook) webhook = await serveWebhook({ store: options.store, ...options.webhook, ...(options.logger ? { logger: options.logger } : {}) });
  } catch (error) {
    await metrics?.close();
    await manager.stop();
    throw error;
  }
  const stop = async () => {
    await webhook?.close();
    await manager.stop();
    await metrics?.close();
  };
  if (options.handleSignals !== false) {
    installSignalHandlers({ stop }, options.logger ? { log: options.logger } : {});
  }
  const running: RunningControllers = { manager, controllers: controllers.map((c) => c.name), stop };
  if (metrics) running.metricsUrl = metrics.url;
  if (webhook) running.webhookUrl = webhook.url;
  return running;
}
