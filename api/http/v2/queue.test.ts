import { describe, expect, it } from 'vitest';
import type { AnyObject, DeepReadonly } from '../../object.ts';
import { queueEntry } from './queue.ts';

const NOW = new Date('2026-01-01T00:01:00.000Z');

function app(instances: number, status: Record<string, unknown> | undefined): DeepReadonly<AnyObject> {
  return { apiVersion: 'capstan/v1', kind: 'App', metadata: { name: 'web', namespace: 'default', creationTimestamp: '2026-01-01T00:00:00.000Z' }, spec: { instances }, status } as DeepReadonly<AnyObject>;
}

const delay = (until: string) => ({ seconds: 30, until, failures: 2 });
const failure = { task: 'web-1-a', revision: 1, phase: 'Failed', message: 'exit 3', timestamp: '2026-01-01T00:00:50.000Z' };

describe('queueEntry (what GET /v2/queue shows of an App)', () => {
  it.each<[string, DeepReadonly<AnyObject>, ReturnType<typeof queueEntry>]>([
    ['every instance running: not queued', app(2, { running: 2, staged: 0 }), undefined],
    ['suspended (0 instances): not queued', app(0, { running: 0, staged: 0 }), undefined],
    ['not yet seen by the controllers: all to launch, no delay', app(2, undefined), { count: 2, delay: { timeLeftSeconds: 0, overdue: true }, since: '2026-01-01T00:00:00.000Z' }],
    ['one staged, one to launch', app(3, { running: 1, staged: 1 }), { count: 1, delay: { timeLeftSeconds: 0, overdue: true }, since: '2026-01-01T00:00:00.000Z' }],
    [
      'a launch delay running: the seconds left, rounded up, since the last failure',
      app(1, { running: 0, staged: 0, launchDelay: delay('2026-01-01T00:01:20.500Z'), lastTaskFailure: failure }),
      { count: 1, delay: { timeLeftSeconds: 21, overdue: false }, since: '2026-01-01T00:00:50.000Z' },
    ],
    [
      'a delay that has run out: overdue',
      app(1, { running: 0, staged: 0, launchDelay: delay('2026-01-01T00:00:30.000Z'), lastTaskFailure: failure }),
      { count: 1, delay: { timeLeftSeconds: 0, overdue: true }, since: '2026-01-01T00:00:50.000Z' },
    ],
  ])('%s', (_name, object, expected) => {
    expect(queueEntry(object, NOW)).toEqual(expected);
  });
});
