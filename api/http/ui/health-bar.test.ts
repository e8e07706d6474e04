import { describe, expect, it } from 'vitest';
// @ts-expect-error the dashboard's modules are plain JavaScript for the browser, without declarations
import { healthSegments } from './health-bar.js';

type Segment = { name: string; count: number; percent: number };
const bar = (segments: Segment[]) => Object.fromEntries(segments.filter((s) => s.count > 0).map((s) => [s.name, [s.count, Math.round(s.percent)]]));

describe("healthSegments: Marathon's health bar from an App's status counts", () => {
  it.each([
    ['nothing wanted, nothing running', undefined, 0, {}],
    ['no status yet: all unscheduled', undefined, 3, { unscheduled: [3, 100] }],
    ['all healthy', { running: 3, healthy: 3 }, 3, { healthy: [3, 100] }],
    ['one killed: its place unscheduled', { running: 2, healthy: 2 }, 3, { healthy: [2, 67], unscheduled: [1, 33] }],
    ['health not yet known', { running: 2, healthy: 1 }, 2, { healthy: [1, 50], unknown: [1, 50] }],
    ['unhealthy and staged', { running: 2, healthy: 1, unhealthy: 1, staged: 1 }, 3, { healthy: [1, 33], unhealthy: [1, 33], staged: [1, 33] }],
    // As Marathon draws it: the surplus is a segment of its own, added to the tasks' share.
    ['a rollout over capacity', { running: 4, healthy: 4 }, 3, { healthy: [4, 80], overCapacity: [1, 20] }],
    ['counts that disagree are clamped to running', { running: 1, healthy: 2, unhealthy: 1 }, 1, { healthy: [1, 100] }],
  ])('%s', (_scenario, status, wanted, expected) => {
    expect(bar(healthSegments(status, wanted))).toEqual(expected);
  });

  it('always has the six segments, in order', () => {
    expect(healthSegments({ running: 1, healthy: 1 }, 1).map((s: Segment) => s.name)).toEqual(['healthy', 'unhealthy', 'unknown', 'staged', 'overCapacity', 'unscheduled']);
  });
});
