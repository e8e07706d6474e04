import { describe, expect, it } from 'vitest';
import { MARATHON_POD_ANNOTATION } from '../../marathon/annotations.ts';
import { MARATHON_ID_ANNOTATION } from '../../marathon/ids.ts';
import type { AnyObject } from '../../object.ts';
import { isRemovedBy } from './groups-write.ts';
import { parseGroupPath } from './groups.ts';
import { parsePodPath } from './pods.ts';

describe('parseGroupPath: the group a path below /v2/groups names, and what of it', () => {
  it.each([
    ['', { id: '/', part: 'group' }],
    ['prod', { id: '/prod', part: 'group' }],
    ['prod/backend/', { id: '/prod/backend', part: 'group' }],
    ['prod/versions', { id: '/prod', part: 'versions' }],
    ['prod/versions/2026-01-01T00%3A00%3A00.000Z', { id: '/prod', part: 'versions', version: '2026-01-01T00:00:00.000Z' }],
    ['versions', { id: '/', part: 'versions' }],
    ['../up', undefined],
  ])('%j', (wildcard, expected) => {
    expect(parseGroupPath(wildcard)).toEqual(expected);
  });
});

describe('parsePodPath: the pod a path below /v2/pods names, and which of its resources', () => {
  it.each([
    ['web', { id: '/web', part: 'pod' }],
    ['prod/web', { id: '/prod/web', part: 'pod' }],
    ['prod/web::status', { id: '/prod/web', part: 'status' }],
    ['::status', { id: undefined, part: 'allStatus' }],
    ['prod/web::versions', { id: '/prod/web', part: 'versions' }],
    ['prod/web::versions/2026-01-01T00:00:00.000Z', { id: '/prod/web', part: 'versions', sub: '2026-01-01T00:00:00.000Z' }],
    ['prod/web::instances', { id: '/prod/web', part: 'instances' }],
    ['prod/web::instances/prod_web.abc', { id: '/prod/web', part: 'instances', sub: 'prod_web.abc' }],
    ['', undefined],
  ])('%j', (wildcard, expected) => {
    expect(parsePodPath(wildcard)).toEqual(expected);
  });
});

describe('isRemovedBy: what a PUT of a group definition removes (only where it lists that level)', () => {
  const app = (id: string, pod = false): AnyObject => ({
    apiVersion: 'capstan/v1',
    kind: 'App',
    metadata: { name: 'x', namespace: 'prod', annotations: { [MARATHON_ID_ANNOTATION]: id, ...(pod ? { [MARATHON_POD_ANNOTATION]: 'true' } : {}) } },
    spec: { containers: [{ name: 'main' }] },
  });
  it.each([
    ['a direct app, the definition lists apps', { apps: [] }, app('/prod/web'), true],
    ['a direct app, the definition lists no apps', { groups: [] }, app('/prod/web'), false],
    ['a direct pod, the definition lists apps only', { apps: [] }, app('/prod/duo', true), false],
    ['a direct pod, the definition lists pods', { pods: [] }, app('/prod/duo', true), true],
    ['in a subgroup, the definition lists no groups', { apps: [] }, app('/prod/back/db'), false],
    ['in a subgroup the definition no longer lists', { groups: [{ id: 'other' }] }, app('/prod/back/db'), true],
    ['in a listed subgroup that lists its apps', { groups: [{ id: '/prod/back', apps: [] }] }, app('/prod/back/db'), true],
    ['in a listed subgroup that lists no apps', { groups: [{ id: 'back' }] }, app('/prod/back/db'), false],
  ])('%s', (_, definition, stored, removed) => {
    expect(isRemovedBy(definition, '/prod', stored)).toBe(removed);
  });
});
