// The work queue, as one RxJS operator: a stream of keys in, a stream of finished reconciles out.
// Semantics (DESIGN.md "Queue"):
//   - keys, not events: adding a key that is already queued does nothing;
//   - a key is never worked on concurrently with itself; a key added while it is being worked on is
//     worked on once more afterwards, however often it was added meanwhile;
//   - `retry` waits per key 5 ms, 10 ms, 20 ms ... up to a cap, and the count resets on any other
//     result; retries also draw from one token bucket, so a storm of failing keys cannot spin;
//   - `requeueAfter(ms)` adds the key again after ms; of two pending delayed adds the earlier wins;
//   - at most `concurrency` keys are worked on at once.
// The rate limit applies to retries only (as client-go's default controller limiter does): a fresh
// change is never made to wait because other keys are failing.
//
// All state lives in the subscription's closure; time comes from the scheduler, so tests run the
// whole thing in virtual time.
import { asyncScheduler, from, Observable, Subscription, type ObservableInput, type OperatorFunction, type SchedulerLike } from 'rxjs';
import { cappedBackoff } from '../api/backoff.ts';
import type { Result } from './contract.ts';

export interface QueueOptions {
  /** Keys worked on at once. Default 1. */
  concurrency?: number;
  /** First retry delay; doubles per consecutive failure of a key. Default 5 ms. */
  baseBackoffMs?: number;
  /** Cap of the per-key retry delay. Default 5 minutes ("a few minutes"). */
  maxBackoffMs?: number;
  /** Overall retry rate: tokens per second, and the bucket size. Default 100/s, burst 200. */
  rateLimit?: { perSecond: number; burst: number };
  scheduler?: SchedulerLike;
  /** Called whenever the number of keys waiting to be worked on changes (a metrics gauge). */
  onDepth?: (depth: number) => void;
}

export interface Processed {
  key: string;
  result: Result;
  startedAt: number;
  finishedAt: number;
  /** For a retry: how long until the key is tried again. */
  retryInMs?: number;
}

export const QUEUE_DEFAULTS = {
  concurrency: 1,
  baseBackoffMs: 5,
  maxBackoffMs: 5 * 60_000,
  rateLimit: { perSecond: 100, burst: 200 },
} as const;

/** The delay before the `failures`-th consecutive retry of a key (1-based). */
export function backoffMs(failures: number, baseMs: number, maxMs: number): number {
  return cappedBackoff({ firstMs: baseMs, maxMs, attempt: failures });
}

/**
 * A token bucket that reserves: taking a token when none is left returns how long until that token
 * would have been there, and later takers queue behind it (tokens go negative).
 */
export function tokenBucket(perSecond: number, burst: number, now: () => number) {
  let tokens = burst;
  let last = now();
  return {
    take(): number {
      const t = now();
      tokens = Math.min(burst, tokens + ((t - last) * perSecond) / 1000);
      last = t;
      tokens -= 1;
      return tokens >= 0 ? 0 : Math.ceil((-tokens * 1000) / perSecond);
    },
  };
}

export function workQueue(
  work: (key: string) => ObservableInput<Result>,
  options: QueueOptions = {},
): OperatorFunction<string, Processed> {
  const concurrency = Math.max(1, options.concurrency ?? QUEUE_DEFAULTS.concurrency);
  const baseMs = options.baseBackoffMs ?? QUEUE_DEFAULTS.baseBackoffMs;
  const maxMs = options.maxBackoffMs ?? QUEUE_DEFAULTS.maxBackoffMs;
  const rate = options.rateLimit ?? QUEUE_DEFAULTS.rateLimit;
  const scheduler = options.scheduler ?? asyncScheduler;

  return (keys$) =>
    new Observable<Processed>((subscriber) => {
      const ready: string[] = [];
      const queued = new Set<string>();
      const active = new Set<string>();
      const dirty = new Set<string>();
      const failures = new Map<string, number>();
      const delayed = new Map<string, { at: number; timer: Subscription }>();
      const bucket = tokenBucket(rate.perSecond, rate.burst, () => scheduler.now());
      const running = new Subscription();
      let inputDone = false;

      const depthChanged = () => options.onDepth?.(ready.length);

      const add = (key: string) => {
        if (active.has(key)) {
          dirty.add(key);
          return;
        }
        if (queued.has(key)) return;
        queued.add(key);
        ready.push(key);
        depthChanged();
        pump();
      };

      const addAfter = (key: string, ms: number) => {
        if (ms <= 0) return add(key);
        const at = scheduler.now() + ms;
        const pending = delayed.get(key);
        if (pending && pending.at <= at) return;
        if (pending) {
          pending.timer.unsubscribe();
          running.remove(pending.timer);
        }
        const timer = scheduler.schedule(() => {
          delayed.delete(key);
          running.remove(timer);
          add(key);
        }, ms);
        delayed.set(key, { at, timer });
        running.add(timer);
      };

      const finish = (key: string, result: Result, startedAt: number) => {
        active.delete(key);
        let retryInMs: number | undefined;
        if (result.kind === 'retry') {
          const count = (failures.get(key) ?? 0) + 1;
          failures.set(key, count);
          retryInMs = Math.max(backoffMs(count, baseMs, maxMs), bucket.take());
          addAfter(key, retryInMs);
        } else {
          failures.delete(key);
          if (result.kind === 'requeueAfter') addAfter(key, result.ms);
        }
        const processed: Processed = { key, result, startedAt, finishedAt: scheduler.now() };
        if (retryInMs !== undefined) processed.retryInMs = retryInMs;
        subscriber.next(processed);
        if (dirty.delete(key)) add(key);
        pump();
        completeIfIdle();
      };

      const start = (key: string) => {
        active.add(key);
        const startedAt = scheduler.now();
        let settled = false;
        const settle = (result: Result) => {
          if (settled) return;
          settled = true;
          if (inner) running.remove(inner);
          finish(key, result, startedAt);
        };
        // A worker may settle synchronously, inside subscribe: `inner` is then still undefined when
        // settle runs, which is why removal tolerates it and `settled` guards the add below.
        let inner: Subscription | undefined;
        try {
          inner = from(work(key)).subscribe({
            next: (result) => settle(result),
            error: (error: unknown) => settle({ kind: 'retry', error }),
            complete: () => settle({ kind: 'done' }),
          });
        } catch (error) {
          settle({ kind: 'retry', error });
        }
        if (!settled && inner) running.add(inner);
      };

      // Re-entrant: finish() calls pump() from inside a worker that settled synchronously within
      // an outer pump(). Each loop iteration re-reads the state, so nesting only dispatches sooner.
      const pump = () => {
        while (active.size < concurrency && ready.length > 0) {
          const key = ready.shift()!;
          queued.delete(key);
          depthChanged();
          start(key);
        }
      };

      const completeIfIdle = () => {
        if (inputDone && ready.length === 0 && active.size === 0 && delayed.size === 0) subscriber.complete();
      };

      const input = keys$.subscribe({
        next: add,
        error: (error: unknown) => subscriber.error(error),
        complete: () => {
          inputDone = true;
          completeIfIdle();
        },
      });

      return () => {
        input.unsubscribe();
        running.unsubscribe();
      };
    });
}
