// Runs a set of controllers in one process. Reads like the sentence it implements: for each
// controller, campaign for leadership; while leading, run its pipeline with a store fenced by the
// term; when the term ends, stop the pipeline at once; on shutdown, drain, resign, close.
//
// All controllers share one InformerFactory, so a kind is listed and watched once per process.
import { cappedBackoff } from '../api/backoff.ts';
import { pino, type Logger } from 'pino';
import { BehaviorSubject, type Observable, type Subscription } from 'rxjs';
import { InformerFactory } from '../api/informer.ts';
import type { Store } from '../api/store.ts';
import type { KindDefinition } from '../api/kinds/registry.ts';
import { kindName, primaryKindOf, type ControllerDefinition } from './contract.ts';
import { installKinds, isInstallableKind, type InstallableKind } from './install-kinds.ts';
import { createEventRecorder } from '../api/events.ts';
import { LeaderElection, defaultIdentity, type Leadership, type Term } from './leader.ts';
import { ControllerMetrics } from './metrics.ts';
import { startPipeline, type InvalidMarks, type Pipeline } from './pipeline.ts';
import type { QueueOptions } from './queue.ts';

export interface ManagerOptions {
  store: Store;
  controllers: ControllerDefinition[];
  /** Campaign per controller on /capstan/leaders/<name>. Default true; false for one-process setups and tests. */
  leaderElection?: boolean;
  /** Default 10 s: a crashed leader is replaced within about this long. */
  leaseTtlSeconds?: number;
  identity?: string;
  logger?: Logger;
  metrics?: ControllerMetrics;
  /** The clock reconciles see as ctx.now(); injectable for schedules in tests. */
  now?: () => Date;
  /** Backoff and rate limit of every controller's queue (concurrency comes from each definition). */
  queue?: Pick<QueueOptions, 'baseBackoffMs' | 'maxBackoffMs' | 'rateLimit'>;
  /** How long stop() waits for reconciles in flight before aborting them. Default 10 s. */
  shutdownGraceMs?: number;
  eventTtlSeconds?: number;
  /** Share informers with other code in the process; the manager then does not stop them. */
  informers?: InformerFactory;
  /**
   * Kinds the controllers define in code (sdk defineKind): registered in the store's registry at
   * construction, and installed as CustomKinds (so the CLI knows them) when the manager starts. A
   * defined kind named directly in a watch is registered the same way without being listed here.
   */
  kinds?: (KindDefinition & InstallableKind)[];
}

const say = {
  duplicate: (name: string) => `manager: two controllers are named "${name}"; names must be unique`,
  unknownKind: (controller: string, kind: string) =>
    `controller ${controller} watches kind "${kind}", which this process does not know: define it with defineKind and pass it in \`kinds\` (or watch the defined kind itself), or apply its CustomKind before starting`,
} as const;

export const DEFAULT_LEASE_TTL_SECONDS = 10;

interface Running {
  definition: ControllerDefinition;
  election?: LeaderElection;
  state: BehaviorSubject<Leadership<Term | undefined>>;
  pipeline?: Pipeline;
  /** Transitions (start/stop of a pipeline) of one controller run one after the other. */
  transition: Promise<void>;
  subscription?: Subscription;
  invalidMarks: InvalidMarks;
}

export class Manager {
  readonly metrics: ControllerMetrics;
  readonly informers: InformerFactory;
  readonly identity: string;
  /** options.store, its etcd requests timed into `metrics`. */
  private readonly store: Store;
  private readonly log: Logger;
  private readonly running = new Map<string, Running>();
  private readonly kinds: (KindDefinition & InstallableKind)[];
  private stopping: Promise<void> | undefined;

  constructor(private readonly options: ManagerOptions) {
    const names = options.controllers.map((c) => c.name);
    const duplicate = names.find((name, index) => names.indexOf(name) !== index);
    if (duplicate) throw new Error(say.duplicate(duplicate));
    this.kinds = definedKinds(options);
    for (const kind of this.kinds) options.store.registry.register(kind);
    // A kind no one registered would make start() retry its informer forever: say so now, by name.
    for (const controller of options.controllers) {
      const kinds = [primaryKindOf(controller), ...controller.watches.map((watch) => kindName(watch.kind))];
      const unknown = kinds.find((kind) => !options.store.registry.find(kind));
      if (unknown) throw new UnknownWatchedKindError(say.unknownKind(controller.name, unknown), controller.name, unknown);
    }
    this.metrics = options.metrics ?? new ControllerMetrics();
    this.store = options.store.withMetrics(this.metrics.etcd);
    this.informers = options.informers ?? new InformerFactory(this.store);
    this.identity = options.identity ?? defaultIdentity();
    this.log = options.logger ?? pino({ level: 'info' });
  }

  /** Starts every controller: campaigning, or (without election) running at once. Resolves when started. */
  async start(): Promise<void> {
    if (this.kinds.length > 0) {
      const written = await installKinds(this.store, this.kinds);
      if (written.length > 0) this.log.info({ customKinds: written }, 'installed the CustomKinds of kinds defined in code');
    }
    for (const definition of this.options.controllers) {
      const running: Running = {
        definition,
        state: new BehaviorSubject<Leadership<Term | undefined>>({ state: 'following' }),
        transition: Promise.resolve(),
        invalidMarks: new Map(),
      };
      this.running.set(definition.name, running);
      if (this.options.leaderElection === false) {
        await this.lead(running, this.store, new AbortController().signal);
        this.metrics.leading.set({ controller: definition.name }, 1);
        running.state.next({ state: 'leading', term: undefined });
        continue;
      }
      const election = new LeaderElection({
        client: this.store.client,
        name: definition.name,
        ttlSeconds: this.options.leaseTtlSeconds ?? DEFAULT_LEASE_TTL_SECONDS,
        identity: this.identity,
        log: this.log.child({ controller: definition.name }),
      });
      running.election = election;
      running.subscription = election.leadership$.subscribe((leadership) => this.onLeadership(running, leadership));
      election.start();
    }
  }

  /** One controller's state as it changes: following, leading (in its term; none when election is off), stopped. */
  state$(controller: string): Observable<Leadership<Term | undefined>> {
    const running = this.running.get(controller);
    if (!running) throw new Error(`manager: no controller named "${controller}"`);
    return running.state.asObservable();
  }

  isLeading(controller: string): boolean {
    return this.running.get(controller)?.state.value.state === 'leading';
  }

  /** Stops taking work, waits (bounded) for reconciles in flight, resigns leadership, closes informers. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const grace = this.options.shutdownGraceMs ?? 10_000;
      await Promise.all(
        [...this.running.values()].map(async (running) => {
          running.subscription?.unsubscribe();
          running.transition = running.transition.then(() => running.pipeline?.stop(grace));
          await running.transition;
          running.pipeline = undefined;
          await running.election?.stop();
          this.metrics.leading.set({ controller: running.definition.name }, 0);
          running.state.next({ state: 'stopped' });
          running.state.complete();
        }),
      );
      if (!this.options.informers) await this.informers.stop();
    })();
    return this.stopping;
  }

  private onLeadership(running: Running, leadership: Leadership): void {
    const name = running.definition.name;
    if (leadership.state === 'leading') {
      const { term } = leadership;
      running.transition = running.transition.then(() => this.lead(running, this.store.withFence(term.fence), term.signal));
      this.metrics.leading.set({ controller: name }, 1);
      running.state.next(leadership);
      return;
    }
    if (leadership.state === 'following') {
      // The term is over: its signal is already aborted. Stop at once, not after a grace period.
      running.transition = running.transition.then(async () => {
        await running.pipeline?.stop(0);
        running.pipeline = undefined;
      });
      this.metrics.leading.set({ controller: name }, 0);
      running.state.next(leadership);
    }
  }

  /** Starts the pipeline for a term; if the caches cannot sync (etcd down), tries again until the term ends. */
  private async lead(running: Running, store: Store, signal: AbortSignal): Promise<void> {
    const { definition } = running;
    const log = this.log.child({ controller: definition.name });
    const now = this.options.now ?? (() => new Date());
    const events = createEventRecorder({
      client: store.client,
      registry: store.registry,
      component: definition.name,
      ttlSeconds: this.options.eventTtlSeconds,
      log,
      now,
    });
    for (let attempt = 1; !this.stopping && !signal.aborted; attempt += 1) {
      try {
        const pipeline = await startPipeline({
          definition,
          informers: this.informers,
          store,
          signal,
          log,
          metrics: this.metrics,
          events,
          now,
          queue: this.options.queue ?? {},
          invalidMarks: running.invalidMarks,
        });
        running.pipeline = pipeline;
        // The term may have ended, or stop() begun, while the caches synced.
        if (signal.aborted || this.stopping) await pipeline.stop(0);
        return;
      } catch (error) {
        const retryInMs = cappedBackoff({ firstMs: 100, maxMs: 5_000, attempt: attempt + 1 });
        log.warn({ err: error, retryInMs }, 'controller could not start; trying again');
        await sleep(retryInMs, signal);
      }
    }
  }
}

export class UnknownWatchedKindError extends Error {
  override readonly name = 'UnknownWatchedKindError';
  constructor(
    message: string,
    readonly controller: string,
    readonly kind: string,
  ) {
    super(message);
  }
}

/** The kinds of `options.kinds` and every defined kind a controller names directly, once each. */
function definedKinds(options: ManagerOptions): (KindDefinition & InstallableKind)[] {
  const named = options.controllers.flatMap((c) => [c.primaryKind, ...c.watches.map((w) => w.kind)]);
  const all = [...(options.kinds ?? []), ...named.filter((k): k is KindDefinition & InstallableKind => isInstallableKind(k) && 'spec' in k)];
  return [...new Map(all.map((kind) => [kind.kind, kind])).values()];
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });
}

/**
 * SIGTERM and SIGINT stop the manager gracefully, then exit. A second signal exits at once.
 * Returns a function that removes the handlers.
 */
export function installSignalHandlers(manager: { stop(): Promise<void> }, options: { log?: Logger; exit?: (code: number) => void } = {}): () => void {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let received = false;
  const handler = (signal: NodeJS.Signals) => {
    if (received) return exit(130);
    received = true;
    options.log?.info({ signal }, 'shutting down: draining reconciles and resigning leadership');
    manager.stop().then(
      () => exit(0),
      (error: unknown) => {
        options.log?.error({ err: error }, 'shutdown failed');
        exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  return () => {
    process.off('SIGTERM', handler);
    process.off('SIGINT', handler);
  };
}
