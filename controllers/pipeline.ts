// One controller's pipeline for as long as it may work (one leadership term, or the process when
// election is off), in the order the data flows:
//
//   informer events of each watch ─map─▶ keys ─▶ workQueue ─▶ reconcile(key, ctx) ─▶ Result
//
// On start every cached object of every watch goes through its map as if just added: the controller
// converges from what the store says, not from events it may have missed while not leading.
import { concat, defer, EMPTY, from, interval, merge, mergeMap, Observable, type Subscription } from 'rxjs';
import type { Logger } from 'pino';
import { isStoreError } from '../api/errors.ts';
import type { InformerEvent, InformerFactory } from '../api/informer.ts';
import { getCondition, parseRefKey, setCondition, type AnyObject, type CommonStatus, type DeepReadonly } from '../api/object.ts';
import type { Store } from '../api/store.ts';
import {
  INVALID_CONDITION,
  INVALID_REASON,
  kindName,
  primaryKindOf,
  retry,
  type Caches,
  type ControllerDefinition,
  type EventRecorder,
  type KindRef,
  type ReconcileContext,
  type Result,
  type Watch,
} from './contract.ts';
import type { ControllerMetrics } from './metrics.ts';
import { workQueue, type Processed, type QueueOptions } from './queue.ts';
import { updateStatusIfChanged } from './update-status.ts';

/** Keys marked invalid, by the uid and generation that were invalid. Outlives a term. */
export type InvalidMarks = Map<string, { uid: string | undefined; generation: number | undefined }>;

export interface PipelineOptions {
  definition: ControllerDefinition;
  informers: InformerFactory;
  /** Fenced with the term when under election. */
  store: Store;
  /** Aborted when the term ends (leadership lost). */
  signal: AbortSignal;
  log: Logger;
  metrics: ControllerMetrics;
  events: EventRecorder;
  now: () => Date;
  queue: QueueOptions;
  invalidMarks: InvalidMarks;
}

export interface Pipeline {
  /**
   * Stops taking work, waits up to `graceMs` for reconciles in flight, then aborts their signal.
   * With 0 (leadership lost) it aborts at once: a deposed leader must not keep working.
   */
  stop(graceMs: number): Promise<void>;
}

const ownKey = (event: InformerEvent) => [event.key];

/**
 * `mergeMap` for a synchronous function that returns an array, without mergeMap's inner
 * subscription per value. Every informer event of every watch passes here (each of the scheduler's
 * bindings comes back as one), and mergeMap's per-event observable is a visible share of a burst.
 */
const flatMapSync =
  <T, R>(project: (value: T) => readonly R[]) =>
  (source: Observable<T>): Observable<R> =>
    new Observable<R>((subscriber) =>
      source.subscribe({
        next: (value) => {
          for (const item of project(value)) subscriber.next(item);
        },
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.complete(),
      }),
    );

export async function startPipeline(options: PipelineOptions): Promise<Pipeline> {
  const { definition, informers, log, metrics } = options;
  const controller = definition.name;
  const primaryKind = primaryKindOf(definition);
  const abort = new AbortController();
  const signal = AbortSignal.any([abort.signal, options.signal]);
  // An informer serves every kind; the types say which objects a kind reference stands for.
  const caches = ((kind: KindRef) => informers.informer(kindName(kind))) as Caches;
  await Promise.all([primaryKind, ...definition.watches.map((w) => kindName(w.kind))].map((kind) => informers.informer(kind).start()));

  const keysOf = (watch: Watch, event: InformerEvent): string[] => {
    try {
      return (watch.map ?? ownKey)(event, caches);
    } catch (error) {
      log.error({ err: error, kind: kindName(watch.kind), key: event.key }, 'a watch map threw; the event is ignored');
      return [];
    }
  };
  const snapshot = (watch: Watch): string[] => {
    const informer = informers.informer(kindName(watch.kind));
    return informer.keys().flatMap((key) => {
      const object = informer.get(key);
      return object ? keysOf(watch, { type: 'added', key, object }) : [];
    });
  };
  // concat subscribes to events$ in the same tick the snapshot is taken: nothing falls in between.
  const watched = definition.watches.map((watch) =>
    concat(
      defer(() => from(snapshot(watch))),
      informers.informer(kindName(watch.kind)).events$.pipe(flatMapSync((event: InformerEvent) => keysOf(watch, event))),
    ),
  );
  const resync: Observable<string> = definition.resyncMs
    ? interval(definition.resyncMs).pipe(mergeMap(() => definition.watches.flatMap(snapshot)))
    : EMPTY;

  const inFlight = new Set<Promise<Result>>();
  const ctxFor = (key: string): ReconcileContext => ({
    store: options.store,
    informer: caches,
    updateStatus: (object, status) => updateStatusIfChanged(options.store, object as DeepReadonly<AnyObject>, status),
    events: options.events,
    log: log.child({ key }),
    now: options.now,
    signal,
  });
  const work = (key: string) =>
    defer(() => {
      const running = reconcileOnce(key);
      inFlight.add(running);
      void running.finally(() => inFlight.delete(running));
      return running;
    });

  const reconcileOnce = async (key: string): Promise<Result> => {
    const primary = caches(primaryKind).get(key);
    const mark = options.invalidMarks.get(key);
    if (mark) {
      if (primary && primary.metadata.uid === mark.uid && primary.metadata.generation === mark.generation) {
        return { kind: 'done' };
      }
      options.invalidMarks.delete(key);
    }
    const stopTimer = metrics.latency.startTimer({ controller });
    let result: Result;
    try {
      result = await definition.reconcile(key, ctxFor(key));
    } catch (error) {
      result = retry(error);
    } finally {
      stopTimer();
    }
    try {
      if (result.kind === 'invalid') await markInvalid(key, result);
      else if (result.kind !== 'retry' && primary && isMarkedInvalid(primary)) await clearInvalid(key);
    } catch (error) {
      return retry(error);
    }
    return result;
  };

  const markInvalid = async (key: string, result: Extract<Result, { kind: 'invalid' }>) => {
    const object = await options.store.get(primaryKind, parseRefKey(key));
    if (!object) return;
    const status = (object.status ?? {}) as CommonStatus;
    const message = `${result.field}: ${result.message}`;
    const conditions = setCondition(status.conditions, { type: INVALID_CONDITION, status: 'True', reason: INVALID_REASON, message }, options.now());
    await options.store.updateStatus({ ...object, status: { ...status, observedGeneration: object.metadata.generation, conditions } });
    options.invalidMarks.set(key, { uid: object.metadata.uid, generation: object.metadata.generation });
    await options.events.record(object, { type: 'Warning', reason: INVALID_REASON, message });
  };

  const clearInvalid = async (key: string) => {
    const object = await options.store.get(primaryKind, parseRefKey(key));
    if (!object || !isMarkedInvalid(object)) return;
    const status = (object.status ?? {}) as CommonStatus;
    const conditions = setCondition(status.conditions, { type: INVALID_CONDITION, status: 'False', reason: 'SpecAccepted', message: '' }, options.now());
    await options.store.updateStatus({ ...object, status: { ...status, conditions } });
  };

  const report = (processed: Processed) => {
    const { key, result } = processed;
    metrics.reconciles.inc({ controller, result: result.kind });
    if (result.kind === 'retry') {
      metrics.errors.inc({ controller });
      const error = result.error;
      // A conflict is the expected price of reading from a cache (someone wrote first; the retry
      // reads again), and a fenced write means the term is over, which the election reports: neither
      // is worth more than a debug line. Anything else is a warning with its message; the stack only
      // at debug level.
      if (isStoreError(error, 'Fenced') || isStoreError(error, 'Conflict')) {
        log.debug({ key, reason: (error as Error).message, retryInMs: processed.retryInMs }, 'reconcile will be retried');
      } else {
        log.warn({ key, reason: error instanceof Error ? error.message : String(error), retryInMs: processed.retryInMs }, 'reconcile will be retried');
        log.debug({ key, err: error }, 'reconcile error');
      }
    } else if (result.kind === 'invalid') {
      log.info({ key, field: result.field, message: result.message }, 'invalid spec: not retried until the spec changes');
    } else {
      log.debug({ key, result: result.kind }, 'reconciled');
    }
  };

  const subscription: Subscription = merge(...watched, resync)
    .pipe(
      workQueue(work, {
        ...options.queue,
        concurrency: definition.concurrency ?? 1,
        onDepth: (depth) => metrics.queueDepth.set({ controller }, depth),
      }),
    )
    .subscribe({ next: report, error: (error: unknown) => log.error({ err: error }, 'controller pipeline failed') });

  // Losing leadership stops taking work in the same tick, before the manager hears of it.
  options.signal.addEventListener('abort', () => subscription.unsubscribe(), { once: true });

  let stopping: Promise<void> | undefined;
  return {
    stop(graceMs) {
      stopping ??= (async () => {
        subscription.unsubscribe();
        metrics.queueDepth.set({ controller }, 0);
        if (graceMs > 0 && inFlight.size > 0) {
          let timer: NodeJS.Timeout | undefined;
          const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
          await Promise.race([Promise.allSettled([...inFlight]), deadline]);
          clearTimeout(timer);
        }
        abort.abort(new Error(`controller ${controller} stopped`));
      })();
      return stopping;
    },
  };
}

function isMarkedInvalid(object: { status?: unknown }): boolean {
  const status = object.status as CommonStatus | undefined;
  return getCondition(status?.conditions, INVALID_CONDITION)?.status === 'True';
}
