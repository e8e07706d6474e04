import { describe, expect, it } from 'vitest';
import type { SyncStatus } from '../api/kinds/sync.ts';
import type { Condition } from '../api/object.ts';
import { isOutcome } from './sync.ts';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const condition = (type: string, status: 'True' | 'False', reason: string): Condition => ({ type, status, reason, message: '', lastTransitionTime: '2026-01-01T00:00:00Z' });
const status = (fields: Partial<SyncStatus>, ...conditions: Condition[]): SyncStatus => ({ lastHandledRequestedAt: 'now', ...fields, conditions });

describe('isOutcome: when `capstan sync now` stops waiting', () => {
  it.each([
    { name: 'applied at the fetched commit', status: status({ lastAppliedRevision: B }, condition('Ready', 'True', 'Applied')), want: true },
    { name: 'Ready at an older commit: the fetched one is still to come', status: status({ lastAppliedRevision: A }, condition('Ready', 'True', 'Applied')), want: false },
    { name: 'the stamp not handled yet', status: status({ lastAppliedRevision: B, lastHandledRequestedAt: 'before' }, condition('Ready', 'True', 'Applied')), want: false },
    { name: 'no status at all', status: undefined, want: false },
    {
      name: 'a commit being written',
      status: status({ lastAttemptedRevision: B }, condition('Ready', 'False', 'ApplyFailed'), condition('Reconciling', 'True', 'ApplyFailed')),
      want: false,
    },
    { name: 'the fetched commit refused', status: status({ lastAttemptedRevision: B }, condition('Ready', 'False', 'ValidationFailed')), want: true },
    { name: 'an older commit refused: the fetched one is still to be tried', status: status({ lastAttemptedRevision: A }, condition('Ready', 'False', 'ValidationFailed')), want: false },
    { name: 'waiting on a dependency, whatever the commit', status: status({}, condition('Ready', 'False', 'DependencyNotReady')), want: true },
  ])('$name: $want', ({ status: s, want }) => {
    expect(isOutcome(s, 'now', B)).toBe(want);
  });
});
