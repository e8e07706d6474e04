// When probes run: on a fixed cadence anchored at an origin, `origin + k × interval`, never "sleep an
// interval after the last probe". A timer that fires late does not push the following slots back,
// and when a whole slot has been missed (the process was blocked longer than an interval) the cadence
// skips to the next slot still ahead instead of firing a burst to catch up.
import { asyncScheduler, Observable, type SchedulerAction, type SchedulerLike } from 'rxjs';

/** The first slot `origin + k × interval` (k ≥ 0) at or after `t`. */
export function slotAtOrAfter(origin: number, intervalMs: number, t: number): number {
  if (t <= origin) return origin;
  return origin + Math.ceil((t - origin) / intervalMs) * intervalMs;
}

/** The slot after `slot`, or the first one not already past at `now` when `slot + interval` is. */
export function slotAfter(origin: number, intervalMs: number, slot: number, now: number): number {
  return slotAtOrAfter(origin, intervalMs, Math.max(slot + intervalMs, now));
}

/**
 * Emits each slot's scheduled time (ms since the epoch, on the scheduler's clock) when it comes due.
 * The scheduler is a parameter so that tests run in virtual time.
 */
export function cadence(options: { originMs: number; intervalMs: number; scheduler?: SchedulerLike }): Observable<number> {
  const { originMs, intervalMs, scheduler = asyncScheduler } = options;
  return new Observable<number>((subscriber) => {
    const first = slotAtOrAfter(originMs, intervalMs, scheduler.now());
    return scheduler.schedule(
      function (this: SchedulerAction<number>, slot) {
        subscriber.next(slot!);
        const next = slotAfter(originMs, intervalMs, slot!, scheduler.now());
        this.schedule(next, Math.max(0, next - scheduler.now()));
      },
      Math.max(0, first - scheduler.now()),
      first,
    );
  });
}
