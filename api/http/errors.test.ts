import { describe, expect, it } from 'vitest';
import { detailsOfProblems, pointerOf } from './errors.ts';

describe("Marathon's 422 details", () => {
  it.each([
    [[], '/'],
    [['id'], '/id'],
    [['container', 'portMappings', 0, 'hostPort'], '/container/portMappings/0/hostPort'],
    [['labels', 'a/b~c'], '/labels/a~1b~0c'],
  ])('%j → %s', (path, pointer) => {
    expect(pointerOf(path)).toBe(pointer);
  });

  it('groups problems by field, each error saying what was expected and found', () => {
    const problems = [
      { path: 'spec.containers[0].cmd', expected: 'a string', found: 'a number' },
      { path: 'spec.containers[0].cmd', expected: 'at most 4096 characters', found: '5000' },
      { path: 'metadata.labels["app.kubernetes.io/name"]', expected: 'a string', found: 'true' },
      { path: '', expected: 'an object', found: 'a list' },
    ];
    expect(detailsOfProblems(problems)).toEqual([
      { path: '/spec/containers/0/cmd', errors: ['expected a string, found a number', 'expected at most 4096 characters, found 5000'] },
      { path: '/metadata/labels/app.kubernetes.io~1name', errors: ['expected a string, found true'] },
      { path: '/', errors: ['expected an object, found a list'] },
    ]);
  });
});
