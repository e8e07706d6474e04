import { describe, expect, it } from 'vitest';
import { undoTarget } from './undo.ts';

const revisions = [1, 2, 3, 4].map((number) => ({ spec: { number } }));

describe('undoTarget: the revision an undo goes back to', () => {
  it.each([
    ['the one asked for', { currentRevision: 4, stableRevision: 2 }, 1, 1],
    ['one asked for that does not exist', { currentRevision: 4 }, 9, undefined],
    ['the stable one when it is not the current', { currentRevision: 4, stableRevision: 2 }, undefined, 2],
    ['the newest older one when the current is the stable one', { currentRevision: 4, stableRevision: 4 }, undefined, 3],
    ['the newest older one without a stable one', { currentRevision: 3 }, undefined, 2],
    ['none before the first', { currentRevision: 1 }, undefined, undefined],
    ['none without a current revision', undefined, undefined, undefined],
  ])('%s', (_, status, wanted, expected) => {
    expect(undoTarget(revisions, status, wanted)?.spec.number).toBe(expected);
  });
});
