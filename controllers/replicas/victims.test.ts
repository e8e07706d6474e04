import { describe, expect, it } from 'vitest';
import type { TaskFacts } from './plan.ts';
import { chooseVictims, type KillSelection } from './victims.ts';

/**
 * `count` running tasks whose GROUP_BY values are `values` (field → value); created one second apart
 * from `firstSecond` on, so that their age orders them.
 */
function tasks(prefix: string, count: number, values: Record<string, string | undefined>, firstSecond: number, extra: Partial<TaskFacts> = {}): TaskFacts[] {
  return Array.from({ length: count }, (_, i) => {
    const name = `${prefix}-${String(i).padStart(2, '0')}`;
    const createdAt = new Date(Date.UTC(2026, 0, 1, 0, 0, firstSecond + i)).toISOString();
    return { name, uid: name, phase: 'Running', bound: true, healthy: undefined, healthChecked: false, deleting: false, createdAt, groupValues: values, ...extra };
  });
}

/** How many of the chosen tasks hold each value of `field`. */
function killedBy(live: readonly TaskFacts[], chosen: readonly string[], field: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of chosen) {
    const value = String(live.find((t) => t.name === name)!.groupValues?.[field]);
    counts[value] = (counts[value] ?? 0) + 1;
  }
  return counts;
}

describe("scale-down under GROUP_BY: Marathon's kill-selection cases", () => {
  const twoByTwo = [
    ...tasks('r1-blue', 10, { rack: 'rack-1', color: 'blue' }, 0),
    ...tasks('r1-green', 10, { rack: 'rack-1', color: 'green' }, 100),
    ...tasks('r2-blue', 10, { rack: 'rack-2', color: 'blue' }, 200),
    ...tasks('r2-green', 10, { rack: 'rack-2', color: 'green' }, 300),
  ];
  it.each<[string, TaskFacts[], number, string[], Record<string, Record<string, number>>]>([
    [
      '20 on 2 hosts, kill 10: 5 from each',
      [...tasks('h0', 10, { '@hostname': 'hostname 0' }, 0), ...tasks('h1', 10, { '@hostname': 'hostname 1' }, 100)],
      10,
      ['@hostname'],
      { '@hostname': { 'hostname 0': 5, 'hostname 1': 5 } },
    ],
    [
      '20 on one host and 10 on another, kill 10: all from the first',
      // The second host's tasks are the youngest: killSelection alone would take them all.
      [...tasks('h1', 20, { '@hostname': 'hostname 1' }, 0), ...tasks('h2', 10, { '@hostname': 'hostname 2' }, 100)],
      10,
      ['@hostname'],
      { '@hostname': { 'hostname 1': 10 } },
    ],
    ['two GROUP_BYs, 10 on each rack and colour pair, kill 20: 10 per rack and 10 per colour', twoByTwo, 20, ['rack', 'color'], { rack: { 'rack-1': 10, 'rack-2': 10 }, color: { blue: 10, green: 10 } }],
    [
      'no GROUP_BY: killSelection alone, the 5 youngest',
      tasks('r1-blue', 10, { rack: 'rack-1', color: 'blue' }, 0),
      5,
      [],
      { rack: { 'rack-1': 5 } },
    ],
  ])('%s', (_name, live, count, groupBy, expected) => {
    const chosen = chooseVictims({ live, count, selection: 'YOUNGEST_FIRST', groupBy });
    expect(chosen).toHaveLength(count);
    expect(new Set(chosen).size).toBe(count);
    for (const [field, counts] of Object.entries(expected)) expect(killedBy(live, chosen, field)).toEqual(counts);
  });

  it('without GROUP_BY the order is killSelection alone', () => {
    const live = tasks('t', 10, {}, 0);
    expect(chooseVictims({ live, count: 5, selection: 'YOUNGEST_FIRST', groupBy: [] })).toEqual(['t-09', 't-08', 't-07', 't-06', 't-05']);
    expect(chooseVictims({ live, count: 5, selection: 'OLDEST_FIRST', groupBy: [] })).toEqual(['t-00', 't-01', 't-02', 't-03', 't-04']);
  });
});

describe('scale-down under GROUP_BY: ranks, killSelection and uneven spreads', () => {
  const rack = (value: string | undefined) => ({ rack: value });
  it.each<[string, TaskFacts[], number, KillSelection, string[]]>([
    [
      'within the most loaded value, killSelection picks: YOUNGEST_FIRST',
      [...tasks('a', 3, rack('a'), 0), ...tasks('b', 1, rack('b'), 100)],
      2,
      'YOUNGEST_FIRST',
      ['a-02', 'a-01'],
    ],
    ['within the most loaded value, killSelection picks: OLDEST_FIRST', [...tasks('a', 3, rack('a'), 0), ...tasks('b', 1, rack('b'), 100)], 2, 'OLDEST_FIRST', ['a-00', 'a-01']],
    [
      'an even spread: killSelection picks the first, then the other value evens it out',
      [...tasks('a', 2, rack('a'), 0), ...tasks('b', 2, rack('b'), 100)],
      2,
      'YOUNGEST_FIRST',
      ['b-01', 'a-01'],
    ],
    [
      'unplaced tasks go first, whatever the spread',
      [...tasks('a', 3, rack('a'), 0), ...tasks('b', 1, rack('b'), 100), ...tasks('pending', 1, {}, 200, { bound: false, phase: 'Pending' })],
      2,
      'YOUNGEST_FIRST',
      ['pending-00', 'a-02'],
    ],
    [
      'an unhealthy task goes before a healthy one, even from the least loaded value',
      [...tasks('a', 3, rack('a'), 0), ...tasks('b', 1, rack('b'), 100, { healthy: false })],
      1,
      'YOUNGEST_FIRST',
      ['b-00'],
    ],
    [
      'among starting tasks, the spread still decides',
      [...tasks('a', 3, rack('a'), 0, { phase: 'Starting' }), ...tasks('b', 1, rack('b'), 100, { phase: 'Starting' }), ...tasks('c', 2, rack('c'), 200)],
      1,
      'YOUNGEST_FIRST',
      ['a-02'],
    ],
    [
      // Marathon compares with the spread before the scale-down and would fall back to the youngest (c).
      '10 / 10 / 5: the racks of 10 lose first, never the rack of 5',
      [...tasks('a', 10, rack('a'), 0), ...tasks('b', 10, rack('b'), 100), ...tasks('c', 5, rack('c'), 200)],
      4,
      'YOUNGEST_FIRST',
      ['b-09', 'a-09', 'b-08', 'a-08'],
    ],
    [
      'tasks on nodes lacking the field are a value of their own',
      [...tasks('a', 2, rack('a'), 0), ...tasks('none', 4, rack(undefined), 100)],
      2,
      'OLDEST_FIRST',
      ['none-00', 'none-01'],
    ],
  ])('%s', (_name, live, count, selection, expected) => {
    expect(chooseVictims({ live, count, selection, groupBy: ['rack'] })).toEqual(expected);
  });

  it('kills every task when asked for all of them', () => {
    const live = [...tasks('a', 2, rack('a'), 0), ...tasks('b', 1, rack('b'), 100)];
    expect(chooseVictims({ live, count: 3, selection: 'YOUNGEST_FIRST', groupBy: ['rack'] }).sort()).toEqual(['a-00', 'a-01', 'b-00']);
  });
});

describe("scale-down of a resident App: the highest slots go first", () => {
  /** Tasks created one second apart in slot order, so killSelection alone would pick otherwise. */
  const slotted = (slots: number[], extra: (slot: number) => Partial<TaskFacts> = () => ({})) =>
    slots.flatMap((slot, i) => tasks(`s${slot}`, 1, {}, i, { slot, ...extra(slot) }));
  it.each<[string, TaskFacts[], number, KillSelection, string[]]>([
    ['3 → 1 keeps slot 0, whichever is youngest', slotted([2, 0, 1]), 2, 'OLDEST_FIRST', ['s2-00', 's1-00']],
    ['YOUNGEST_FIRST would take slot 0 (the youngest): the slot decides', slotted([1, 2, 0]), 1, 'YOUNGEST_FIRST', ['s2-00']],
    ['an unhealthy or starting low slot stays: the slot decides among placed tasks', slotted([0, 1, 2], (slot) => (slot === 0 ? { healthy: false } : slot === 1 ? { phase: 'Starting' } : {})), 2, 'YOUNGEST_FIRST', ['s2-00', 's1-00']],
    [
      'a task not placed yet (no slot) goes before any slot',
      [...slotted([0, 1]), ...tasks('pending', 1, {}, 50, { bound: false, phase: 'Pending' })],
      2,
      'YOUNGEST_FIRST',
      ['pending-00', 's1-00'],
    ],
  ])('%s', (_name, live, count, selection, expected) => {
    expect(chooseVictims({ live, count, selection, groupBy: [] })).toEqual(expected);
  });
});
