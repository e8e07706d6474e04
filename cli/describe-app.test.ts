import { describe, expect, it } from 'vitest';
import type { AnyObject } from '../api/object.ts';
import { appStateSection } from './describe-app.ts';

const now = Date.parse('2026-01-01T00:01:00Z');
const app = (status?: Record<string, unknown>): AnyObject => ({
  apiVersion: 'capstan/v1',
  kind: 'App',
  metadata: { name: 'web', namespace: 'default' },
  spec: { instances: 2 },
  ...(status ? { status } : {}),
});
const failure = { task: 'web-1-abcde', revision: 1, node: 'n1', phase: 'Failed', exitCode: 3, message: 'exited with code 3', timestamp: '2026-01-01T00:00:55.000Z' };

describe('appStateSection: describe app, in Marathon words', () => {
  it.each<[string, AnyObject, string[]]>([
    ['no status yet', app(), ['<no status yet: is `capstan controllers` running?>']],
    ['running', app({ phase: 'Running', reason: 'InstancesRunning', running: 2, healthy: 2 }), ['Status:        Running (InstancesRunning)', 'Instances:     2 of 2 running, 2 healthy']],
    [
      'delayed, with the last failure and its output',
      app({
        phase: 'Delayed',
        reason: 'BackOff',
        message: 'revision 1: 2 task failure(s) in a row',
        running: 1,
        healthy: 1,
        launchDelay: { seconds: 4, until: '2026-01-01T00:01:03.000Z', failures: 2 },
        lastTaskFailure: { ...failure, outputTail: ['boom', 'bang'] },
      }),
      [
        'Status:        Delayed (BackOff)',
        'Launch delay:  4 s after 2 failure(s) in a row',
        'Delayed until: 2026-01-01T00:01:03.000Z (in 3 s)',
        'Task:     web-1-abcde, revision 1, node n1',
        'Ended:    Failed, exit code 3 at 2026-01-01T00:00:55.000Z (5s ago)',
        'Output (last 2 lines):\n      boom\n      bang',
      ],
    ],
    ['a failure without output, killed by a signal', app({ phase: 'Deploying', lastTaskFailure: { ...failure, exitCode: undefined, signal: 'SIGKILL' } }), ['Ended:    Failed, signal SIGKILL at', 'Output:   <none>']],
  ])('%s', (_name, object, expected) => {
    const { title, body } = appStateSection(object, now);
    expect(title).toBe('State');
    for (const text of expected) expect(body).toContain(text);
  });
});
