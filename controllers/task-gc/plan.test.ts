import { describe, expect, it } from 'vitest';
import { beyondHistory, planOrphan, type HistoryFacts } from './plan.ts';

describe('planOrphan', () => {
  it.each([
    ['a running task held by the agent is lost, then released', { terminal: false, held: true }, { lose: true, release: true }],
    ['a failed task held by the agent keeps its phase and is released', { terminal: true, held: true }, { lose: false, release: true }],
    ['a pending task the agent never held is only lost', { terminal: false, held: false }, { lose: true, release: false }],
    ['an ended, released task needs nothing', { terminal: true, held: false }, { lose: false, release: false }],
  ])('%s', (_name, facts, expected) => {
    expect(planOrphan(facts)).toEqual(expected);
  });
});

describe('beyondHistory', () => {
  const at = (minute: number) => `2026-01-01T00:${String(minute).padStart(2, '0')}:00.000Z`;
  const ended = (name: string, minute: number, extra: Partial<HistoryFacts> = {}): HistoryFacts => ({
    name,
    state: 'ended',
    deleting: false,
    createdAt: at(0),
    finishedAt: at(minute),
    ...extra,
  });
  const running = (name: string): HistoryFacts => ({ name, state: 'live', deleting: false, createdAt: at(0) });
  const killed = (name: string, minute: number, extra: Partial<HistoryFacts> = {}) => ended(name, minute, { state: 'killed', ...extra });

  it.each([
    ['nothing while within the history', [ended('a', 1), ended('b', 2)], 2, []],
    ['the oldest beyond the history, by when they ended', [ended('a', 3), ended('b', 1), ended('c', 2), ended('d', 4)], 2, ['c', 'b']],
    ['never a live task', [running('r'), ended('a', 1), ended('b', 2)], 1, ['a']],
    ['tasks already being deleted neither kept nor deleted again', [ended('a', 5, { deleting: true }), ended('b', 1), ended('c', 2)], 1, ['b']],
    ['by creation time when no end time was recorded', [ended('a', 0, { finishedAt: undefined, createdAt: at(9) }), ended('b', 5)], 1, ['b']],
    ['every ended task with a history of 0', [ended('a', 1), ended('b', 2), running('r')], 0, ['b', 'a']],
    ['killed tasks at once, however new, without counting them', [ended('a', 1), killed('k', 9), ended('b', 2)], 2, ['k']],
    ['not a killed task already being deleted', [killed('k', 9, { deleting: true })], 2, []],
  ])('%s', (_name, tasks, keep, expected) => {
    expect(beyondHistory(tasks, keep)).toEqual(expected);
  });
});
