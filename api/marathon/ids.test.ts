import { describe, expect, it } from 'vitest';
import { MARATHON_ID_ANNOTATION, marathonIdOf, marathonTaskIdOf, parseMarathonTaskId, refOfMarathonId, resolveMarathonId } from './ids.ts';

describe('resolveMarathonId', () => {
  it.each([
    ['/web', undefined, '/web'],
    ['web', undefined, '/web'],
    ['web', '/prod', '/prod/web'],
    ['./web', '/prod', '/prod/web'],
    ['../db', '/prod/shop', '/prod/db'],
    ['/tools/docker/registry/', '/prod', '/tools/docker/registry'],
    ['//a//b', undefined, '/a/b'],
    ['..', '/prod', '/'],
    ['../..', '/prod', undefined],
    ['', '/prod', undefined],
    ['  ', undefined, undefined],
  ])('%j against %j is %j', (id, base, expected) => {
    expect(resolveMarathonId(id, base)).toBe(expected);
  });
});

describe('refOfMarathonId', () => {
  it.each([
    ['/web', { namespace: 'default', name: 'web' }],
    ['/prod/web', { namespace: 'prod', name: 'web' }],
    ['/tools/docker/registry', { namespace: 'tools', name: 'docker-registry' }],
    ['/default/web', { namespace: 'default', name: 'web' }],
    ['/a/b.c', { problem: '/a/b.c: the segment "b.c" is not a piece of a DNS label (lowercase letters, digits and "-", starting and ending with a letter or digit)' }],
    ['/Prod/web', { problem: expect.stringContaining('"Prod"') }],
    ['/', { problem: expect.stringContaining('is a group (the root)') }],
    [`/ns/${'a'.repeat(40)}/${'b'.repeat(30)}`, { problem: expect.stringContaining('has 71 characters, at most 63') }],
  ])('%s → %j', (id, expected) => {
    expect(refOfMarathonId(id)).toEqual(expected);
  });
});

describe('marathonIdOf', () => {
  it.each([
    ['the id kept in the annotation, exactly', { name: 'docker-registry', namespace: 'tools', annotations: { [MARATHON_ID_ANNOTATION]: '/tools/docker/registry' } }, '/tools/docker/registry'],
    ['by the rule in default', { name: 'web', namespace: 'default' }, '/web'],
    ['by the rule without a namespace', { name: 'web' }, '/web'],
    ['by the rule in another namespace', { name: 'web', namespace: 'prod' }, '/prod/web'],
  ])('%s', (_, metadata, expected) => {
    expect(marathonIdOf({ metadata })).toBe(expected);
  });

  it.each(['/web', '/prod/web', '/prod/shop-web'])('reverses the rule for %s without an annotation', (id) => {
    const ref = refOfMarathonId(id);
    if ('problem' in ref) throw new Error(ref.problem);
    expect(marathonIdOf({ metadata: ref })).toBe(id);
  });
});

describe('Marathon task ids', () => {
  it.each([
    ['/web', 'f3a1c2d4-0000-4000-8000-000000000001', 'web.f3a1c2d4-0000-4000-8000-000000000001'],
    ['/tools/docker/registry', 'abc', 'tools_docker_registry.abc'],
  ])('%s and uid %s make %s, and back', (appId, uid, taskId) => {
    expect(marathonTaskIdOf(appId, uid)).toBe(taskId);
    expect(parseMarathonTaskId(taskId)).toEqual({ appId, uid });
  });

  it.each(['web', '.abc', 'web.'])('%j is no task id', (id) => {
    expect(parseMarathonTaskId(id)).toBeUndefined();
  });
});
