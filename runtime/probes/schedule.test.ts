import { TestScheduler } from 'rxjs/testing';
import { take } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { cadence, slotAfter, slotAtOrAfter } from './schedule.ts';

describe('slotAtOrAfter', () => {
  it.each([
    ['before the origin: the origin', 1000, 500, 200, 1000],
    ['at the origin', 1000, 500, 1000, 1000],
    ['just after a slot: the next one', 1000, 500, 1001, 1500],
    ['on a later slot', 1000, 500, 3000, 3000],
  ])('%s', (_name, origin, interval, t, expected) => {
    expect(slotAtOrAfter(origin, interval, t)).toBe(expected);
  });
});

describe('slotAfter', () => {
  it.each([
    ['on time: one interval later', 1000, 1000, 1000, 2000],
    ['fired 300 ms late: still one interval after the slot, not after the firing', 1000, 1000, 1300, 2000],
    ['a whole slot missed: the next slot ahead, no catch-up burst', 1000, 1000, 3500, 4000],
  ])('%s', (_name, slot, interval, now, expected) => {
    expect(slotAfter(0, interval, slot, now)).toBe(expected);
  });
});

describe('cadence in virtual time', () => {
  it('emits origin + k × interval, starting at the first slot ahead of now', () => {
    new TestScheduler((a, b) => expect(a).toEqual(b)).run(({ expectObservable }) => {
      // now = 0 in virtual time; origin 250 ms in the past (a task started earlier) → slots at 750, 1750, ...
      const times = cadence({ originMs: -250, intervalMs: 1000 }).pipe(take(3));
      expectObservable(times).toBe('750ms a 999ms b 999ms (c|)', { a: 750, b: 1750, c: 2750 });
    });
  });

  it('keeps the cadence slot after slot', () => {
    new TestScheduler((a, b) => expect(a).toEqual(b)).run(({ expectObservable }) => {
      const times = cadence({ originMs: 0, intervalMs: 100 }).pipe(take(4));
      expectObservable(times).toBe('a 99ms b 99ms c 99ms (d|)', { a: 0, b: 100, c: 200, d: 300 });
    });
  });
});
