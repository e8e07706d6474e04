import { describe, expect, it } from 'vitest';
import type { AnyObject } from '../../api/object.ts';
import { namedNodeOf } from './records.ts';

function task(input: { nodeName?: string; phase?: string; deleting?: boolean; healthy?: boolean }): AnyObject {
  const conditions = input.healthy === undefined ? [] : [{ type: 'Healthy', status: input.healthy ? 'True' : 'False', lastTransitionTime: '2024-01-01T00:00:00Z' }];
  return {
    apiVersion: 'capstan/v1',
    kind: 'Task',
    metadata: { name: 'web-a', namespace: 'prod', ...(input.deleting ? { deletionTimestamp: '2024-01-01T00:00:00Z' } : {}) },
    spec: { app: 'web', revision: 1, ...(input.nodeName ? { nodeName: input.nodeName, hostPorts: [31000] } : {}) },
    ...(input.phase ? { status: { phase: input.phase, conditions } } : {}),
  };
}

describe('namedNodeOf: which Tasks have a name, and on which node', () => {
  it.each<[string, Parameters<typeof task>[0], string | undefined]>([
    ['bound and Running', { nodeName: 'n1', phase: 'Running' }, 'n1'],
    ['Running but failing its health checks (not serving): still named', { nodeName: 'n1', phase: 'Running', healthy: false }, 'n1'],
    ['not bound yet', { phase: 'Pending' }, undefined],
    ['bound, still starting', { nodeName: 'n1', phase: 'Starting' }, undefined],
    ['bound, no status yet', { nodeName: 'n1' }, undefined],
    ['Failed', { nodeName: 'n1', phase: 'Failed' }, undefined],
    ['being killed', { nodeName: 'n1', phase: 'Killing' }, undefined],
    ['Running, being deleted', { nodeName: 'n1', phase: 'Running', deleting: true }, undefined],
  ])('%s', (_, input, expected) => {
    expect(namedNodeOf(task(input))).toBe(expected);
  });
});
