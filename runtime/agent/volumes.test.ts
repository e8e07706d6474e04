import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ephemeralDir, freeDiskMiB, orphanedEphemeralDirs, orphanedVolumeDirs, persistentDir, usageMiB, type VolumeObject } from './volumes.ts';

const dirs: string[] = [];
const scratch = () => {
  const dir = mkdtempSync(join(tmpdir(), 'capstan-volumes-'));
  dirs.push(dir);
  return dir;
};
afterEach(() => dirs.splice(0).forEach((dir) => rmSync(dir, { recursive: true, force: true })));

describe('volume directories', () => {
  it.each([
    { scenario: 'an ephemeral volume lives under its task', path: ephemeralDir('/s', 'uid-1', 'shared'), want: '/s/volumes/ephemeral/uid-1/shared' },
    { scenario: 'a task\'s ephemeral volumes go together', path: ephemeralDir('/s', 'uid-1'), want: '/s/volumes/ephemeral/uid-1' },
    {
      scenario: 'a persistent volume is named by its object and uid, so a re-created one starts empty',
      path: persistentDir('/s', { metadata: { name: 'db-data-0', namespace: 'shop', uid: '0123456789abcdef' } } as VolumeObject),
      want: '/s/volumes/persistent/shop/db-data-0-01234567',
    },
  ])('$scenario', ({ path, want }) => {
    expect(path).toBe(want);
  });
});

describe('usageMiB', () => {
  it('adds up the files below a directory, not what links point to', () => {
    const dir = scratch();
    mkdirSync(join(dir, 'a', 'b'), { recursive: true });
    writeFileSync(join(dir, 'one'), Buffer.alloc(2 ** 20));
    writeFileSync(join(dir, 'a', 'b', 'half'), Buffer.alloc(2 ** 19));
    symlinkSync(join(dir, 'one'), join(dir, 'link'));
    expect(usageMiB(dir)).toBe(1.5);
  });

  it('is 0 for an empty directory', () => {
    expect(usageMiB(scratch())).toBe(0);
  });
});

describe('freeDiskMiB', () => {
  it('makes the volumes dir and reports the free space of its file system', () => {
    expect(freeDiskMiB(scratch())).toBeGreaterThan(0);
  });
});

describe('orphanedVolumeDirs', () => {
  const volume = (namespace: string, name: string, uid: string) => ({ metadata: { namespace, name, uid } }) as VolumeObject;

  it('names the persistent directories of Volumes that no longer exist, and only those', () => {
    const state = scratch();
    const kept = volume('shop', 'db-data-0', 'aaaaaaaa-1111');
    const otherNode = volume('shop', 'db-data-1', 'bbbbbbbb-2222');
    for (const v of [kept, otherNode, volume('shop', 'db-data-2', 'cccccccc-3333'), volume('web', 'cache-c-0', 'dddddddd-4444')]) mkdirSync(persistentDir(state, v), { recursive: true });
    // A Volume re-created under its old name gets a new uid, so its old directory is an orphan too.
    mkdirSync(persistentDir(state, volume('shop', 'db-data-0', 'eeeeeeee-5555')), { recursive: true });
    expect(orphanedVolumeDirs(state, [kept, otherNode]).sort()).toEqual(
      [join(state, 'volumes/persistent/shop/db-data-0-eeeeeeee'), join(state, 'volumes/persistent/shop/db-data-2-cccccccc'), join(state, 'volumes/persistent/web/cache-c-0-dddddddd')].sort(),
    );
  });

  it('finds nothing before any volume was made', () => {
    expect(orphanedVolumeDirs(scratch(), [])).toEqual([]);
  });
});

describe('orphanedEphemeralDirs', () => {
  it("names the ephemeral directories of tasks the agent neither has nor runs, and only those", () => {
    const state = scratch();
    for (const uid of ['task-a', 'task-b', 'task-c']) mkdirSync(ephemeralDir(state, uid, 'shared'), { recursive: true });
    const known = new Set(['task-a', 'task-c']);
    expect(orphanedEphemeralDirs(state, (uid) => known.has(uid))).toEqual([ephemeralDir(state, 'task-b')]);
    expect(orphanedEphemeralDirs(scratch(), () => false)).toEqual([]);
  });
});
