import { describe, expect, it } from 'vitest';
import type { ContainerMount } from '../driver.ts';
import { dockerBinds, sandboxMounts } from './mounts.ts';

const mount = (hostPath: string, mountPath: string, readOnly = false): ContainerMount => ({ hostPath, mountPath, readOnly });

describe('dockerBinds', () => {
  it.each<[string, ContainerMount[], string[]]>([
    ['no mounts', [], []],
    ['a read-write mount', [mount('/var/lib/capstan/v/a', '/data')], ['/var/lib/capstan/v/a:/data']],
    ['a read-only mount gets :ro', [mount('/srv/conf', '/etc/app', true)], ['/srv/conf:/etc/app:ro']],
    ['two mounts in order', [mount('/a', '/x'), mount('/b', '/y', true)], ['/a:/x', '/b:/y:ro']],
  ])('%s', (_name, mounts, binds) => {
    expect(dockerBinds({ name: 'web', mounts })).toEqual({ ok: true, value: binds });
  });

  it('treats a launch without mounts as none', () => {
    expect(dockerBinds({ name: 'web' })).toEqual({ ok: true, value: [] });
  });

  it.each<[string, ContainerMount, string]>([
    ['a relative mountPath', mount('/a', 'data'), 'container web: mountPath "data" must be absolute in a Docker container (e.g. /data)'],
    ['a relative hostPath', mount('a', '/data'), 'container web: host path "a" must be absolute'],
    ['.. in the mountPath', mount('/a', '/data/../etc'), 'container web: "/data/../etc" must not contain ".."'],
    ['.. in the hostPath', mount('/a/../b', '/data'), 'container web: "/a/../b" must not contain ".."'],
    ['a colon', mount('/a:b', '/data'), 'container web: "/a:b" contains ":"'],
  ])('refuses %s', (_name, refused, message) => {
    const placed = dockerBinds({ name: 'web', mounts: [refused] });
    expect(placed.ok).toBe(false);
    expect(placed.ok ? '' : placed.message).toContain(message);
  });

  it('refuses two mounts at one path', () => {
    expect(dockerBinds({ name: 'web', mounts: [mount('/a', '/data'), mount('/b', '/data/')] })).toEqual({
      ok: false,
      message: 'container web: two volumes are mounted at "/data/"; give each its own path',
    });
  });
});

describe('sandboxMounts', () => {
  const sandbox = '/state/tasks/uid/web';

  it.each<[string, ContainerMount, string]>([
    ['a directory in the sandbox', mount('/v/a', 'data'), '/state/tasks/uid/web/data'],
    ['a nested one, without its trailing slash', mount('/v/a', 'var/data/'), '/state/tasks/uid/web/var/data'],
    ['./ dropped', mount('/v/a', './data'), '/state/tasks/uid/web/data'],
  ])('places %s', (_name, placed, sandboxPath) => {
    expect(sandboxMounts(sandbox, { name: 'web', mounts: [placed] })).toEqual({ ok: true, value: [{ ...placed, sandboxPath }] });
  });

  it.each<[string, ContainerMount, string]>([
    ['an absolute mountPath', mount('/v/a', '/data'), 'container web: mountPath "/data" must be relative in a process container'],
    ['.. out of the sandbox', mount('/v/a', '../other/data'), 'container web: "../other/data" must not contain ".."'],
    ['the sandbox itself', mount('/v/a', '.'), 'container web: a mountPath is empty; name a directory'],
    ['a relative hostPath', mount('v/a', 'data'), 'container web: host path "v/a" must be absolute'],
  ])('refuses %s', (_name, refused, message) => {
    const placed = sandboxMounts(sandbox, { name: 'web', mounts: [refused] });
    expect(placed.ok ? '' : placed.message).toContain(message);
  });

  it('allows a colon, which only Docker binds cannot take', () => {
    expect(sandboxMounts(sandbox, { name: 'web', mounts: [mount('/v/a:b', 'data')] }).ok).toBe(true);
  });
});
