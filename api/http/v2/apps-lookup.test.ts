import { describe, expect, it } from 'vitest';
import { flag, many, parseAppPath, type AppPath } from './apps-lookup.ts';

describe('parseAppPath', () => {
  it.each<[string, AppPath]>([
    ['web', { id: '/web', part: 'app' }],
    ['prod/web', { id: '/prod/web', part: 'app' }],
    ['prod/web/', { id: '/prod/web', part: 'app' }],
    ['prod/web/restart', { id: '/prod/web', part: 'restart' }],
    ['prod/web/tasks', { id: '/prod/web', part: 'tasks' }],
    ['prod/web/tasks/prod_web.abc-123', { id: '/prod/web', part: 'tasks', taskId: 'prod_web.abc-123' }],
    ['web/versions', { id: '/web', part: 'versions' }],
    ['web/versions/2026-01-01T00%3A00%3A00.000Z', { id: '/web', part: 'versions', version: '2026-01-01T00:00:00.000Z' }],
    // A one-segment id that is a suffix word is the app of that name, as Marathon's `{appId:.+}/tasks` needs a segment before.
    ['tasks', { id: '/tasks', part: 'app' }],
    ['restart', { id: '/restart', part: 'app' }],
    ['prod/*', { id: '/prod/*', part: 'app' }],
  ])('%s → %j', (wildcard, expected) => {
    expect(parseAppPath(wildcard)).toEqual(expected);
  });
});

describe('flag (a query Boolean as Jersey reads it)', () => {
  it.each<[unknown, boolean, boolean]>([
    [undefined, false, false],
    [undefined, true, true],
    ['true', false, true],
    ['True', false, true],
    ['TRUE', false, true],
    ['false', true, false],
    ['False', true, false],
    ['1', false, false],
    ['', true, false],
    [['false', 'true'], false, true],
  ])('%j (default %s) → %s', (value, fallback, expected) => {
    expect(flag(value, fallback)).toBe(expected);
  });
});

describe('many', () => {
  it.each<[unknown, string[]]>([
    [undefined, []],
    ['apps.tasks', ['apps.tasks']],
    [['apps.tasks', 'apps.counts'], ['apps.tasks', 'apps.counts']],
  ])('%j → %j', (value, expected) => {
    expect(many(value)).toEqual(expected);
  });
});
