import { describe, expect, it } from 'vitest';
import { scheduledScaleSpecSchema, type ScheduledScaleSpec } from './kind.ts';
import { isTimeZone, planAt } from './plan.ts';

const spec = (input: unknown): ScheduledScaleSpec => scheduledScaleSpecSchema.parse(input);
const businessHours = spec({ app: 'web', windows: [{ days: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri'], from: '08:00', to: '18:00', instances: 5 }], otherwise: 1 });
const nights = spec({ app: 'web', windows: [{ from: '22:00', to: '06:00', instances: 0 }], otherwise: 3 });
const lunchFirst = spec({ app: 'web', windows: [{ from: '12:00', to: '13:00', instances: 2 }, { from: '08:00', to: '18:00', instances: 5 }], otherwise: 1 });
const always = spec({ app: 'web', windows: [{ from: '00:00', to: '00:00', instances: 4 }], otherwise: 1 });
const berlin = spec({ app: 'web', timeZone: 'Europe/Berlin', windows: [{ from: '08:00', to: '18:00', instances: 5 }], otherwise: 1 });

// 2024-01-01 is a Monday.
describe('planAt', () => {
  it.each([
    { scenario: 'before a weekday window', s: businessHours, now: '2024-01-01T07:59:30Z', instances: 1, window: 'otherwise', next: ['2024-01-01T08:00:00.000Z', 5] },
    { scenario: 'at the start of a window (inclusive)', s: businessHours, now: '2024-01-01T08:00:00Z', instances: 5, window: 'Mon,Tue,Wed,Thu,Fri 08:00-18:00', next: ['2024-01-01T18:00:00.000Z', 1] },
    { scenario: 'at the end of a window (exclusive)', s: businessHours, now: '2024-01-05T18:00:00Z', instances: 1, window: 'otherwise', next: ['2024-01-08T08:00:00.000Z', 5] },
    { scenario: 'over the weekend the next change is Monday', s: businessHours, now: '2024-01-06T12:00:00Z', instances: 1, window: 'otherwise', next: ['2024-01-08T08:00:00.000Z', 5] },
    { scenario: 'a window past midnight, before midnight', s: nights, now: '2024-01-01T23:00:00Z', instances: 0, window: '22:00-06:00', next: ['2024-01-02T06:00:00.000Z', 3] },
    { scenario: 'a window past midnight, after midnight', s: nights, now: '2024-01-02T05:59:00Z', instances: 0, window: '22:00-06:00', next: ['2024-01-02T06:00:00.000Z', 3] },
    { scenario: 'the first matching window wins', s: lunchFirst, now: '2024-01-01T12:30:00Z', instances: 2, window: '12:00-13:00', next: ['2024-01-01T13:00:00.000Z', 5] },
    { scenario: 'a boundary that changes nothing is skipped', s: lunchFirst, now: '2024-01-01T13:30:00Z', instances: 5, window: '08:00-18:00', next: ['2024-01-01T18:00:00.000Z', 1] },
    { scenario: 'a schedule that never changes has no next', s: always, now: '2024-01-01T10:00:00Z', instances: 4, window: '00:00-00:00', next: undefined },
    { scenario: 'times are read in the time zone', s: berlin, now: '2024-01-01T06:59:00Z', instances: 1, window: 'otherwise', next: ['2024-01-01T07:00:00.000Z', 5] },
    { scenario: 'a daylight-saving change before the next boundary', s: berlin, now: '2024-03-30T18:00:00Z', instances: 1, window: 'otherwise', next: ['2024-03-31T06:00:00.000Z', 5] },
  ])('$scenario', ({ s, now, instances, window, next }) => {
    const plan = planAt(s, new Date(now));
    expect({ instances: plan.instances, window: plan.window }).toEqual({ instances, window });
    expect(plan.next ? [plan.next.at.toISOString(), plan.next.instances] : undefined).toEqual(next);
  });
});

describe('isTimeZone', () => {
  it.each([
    ['UTC', true],
    ['Europe/Berlin', true],
    ['Mars/Olympus_Mons', false],
  ])('%s → %s', (zone, expected) => expect(isTimeZone(zone)).toBe(expected));
});
