// The controller killed mid-sync (kill -9) and restarted: `capstan controllers --only
// gitrepositories,syncs` as a real child process, a Sync of ~300 Apps, SIGKILL as soon as the first
// Apps are written and before the Sync is Ready, then a new child. The commit ends whole: every App
// once, the inventory listing each once, Ready at the commit, lastAttemptedRevision =
// lastAppliedRevision (sync.ts records the attempt before the first write, so the new child applies
// the same commit again).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readInventory } from '../api/apply/inventory.ts';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import type { SyncStatus } from '../api/kinds/sync.ts';
import { getCondition } from '../api/object.ts';
import { syncInventoryName } from '../controllers/gitops/sync-plan.ts';
import { BIN, REPO } from './helpers/cli.ts';
import { useStore } from './helpers/etcd.ts';
import { createGitRepo, type TestGitRepo } from './helpers/git.ts';
import { appYaml } from './helpers/manifests.ts';
import { until } from './helpers/poll.ts';

const NS = 'default';
const APPS = 300;
const WAIT = { timeoutMs: 60_000 };

describe('gitops: the controller killed mid-sync', () => {
  const db = useStore(builtinRegistry(), { clearEachTest: true });
  let repo: TestGitRepo;
  let cacheDir: string;
  const children: ChildProcess[] = [];

  const startControllers = () => {
    const child = spawn(process.execPath, [BIN, 'controllers', '--only', 'gitrepositories,syncs', '--webhook-listen', 'off', '--git-cache-dir', cacheDir], {
      cwd: REPO,
      env: { ...process.env, CAPSTAN_ETCD: db.etcd.url, NO_COLOR: '1', HOME: '/nonexistent' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr!.resume();
    children.push(child);
    return child;
  };
  const killed = (child: ChildProcess) =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });

  beforeEach(async () => {
    repo = await createGitRepo();
    cacheDir = await mkdtemp(join(tmpdir(), 'capstan-git-cache-'));
  });
  afterEach(async () => {
    await Promise.all(children.splice(0).map(killed));
    await repo.dispose();
    await rm(cacheDir, { recursive: true, force: true });
  });

  it('a commit of 300 Apps interrupted by kill -9 ends whole after a restart, nothing duplicated', async () => {
    const names = Array.from({ length: APPS }, (_, i) => `app-${String(i).padStart(3, '0')}`);
    const commit = await repo.commit(Object.fromEntries(names.map((name) => [`apps/${name}.yaml`, appYaml(name)])));
    await db.store.create({ apiVersion: 'capstan/v1', kind: 'GitRepository', metadata: { name: 'repo', namespace: NS }, spec: { url: repo.fileUrl, ref: { branch: 'main' }, interval: '1s' } });
    await db.store.create({ apiVersion: 'capstan/v1', kind: 'Sync', metadata: { name: 'many', namespace: NS }, spec: { sourceRef: { name: 'repo' }, path: 'apps', prune: true } });
    const syncStatus = async () => (await db.store.get('Sync', { namespace: NS, name: 'many' }))?.status as SyncStatus | undefined;
    const appCount = async () => (await db.store.list('App', { namespace: NS })).items.length;

    const first = startControllers();
    await until(async () => (await appCount()) > 0, { ...WAIT, intervalMs: 5, what: 'the first Apps written' });
    await killed(first);
    const atKill = await appCount();
    const statusAtKill = await syncStatus();
    // The attempt is recorded before the first write. A set over the child's transaction limits is
    // written object by object, so the kill leaves the commit half written and not applied; written
    // in one transaction (higher limits), it is all there or none of it, never half.
    expect(statusAtKill?.lastAttemptedRevision).toBe(commit);
    expect(atKill).toBeGreaterThan(0);
    if (atKill < APPS) expect(statusAtKill?.lastAppliedRevision).toBeUndefined();
    else expect(atKill).toBe(APPS);

    startControllers();
    const status = await until(async () => {
      const s = await syncStatus();
      return s?.lastAppliedRevision === commit && getCondition(s.conditions, 'Ready')?.status === 'True' && s;
    }, { ...WAIT, what: `Sync many to apply ${commit.slice(0, 7)} after the restart` });

    expect(status.lastAttemptedRevision).toBe(status.lastAppliedRevision);
    const apps = (await db.store.list('App', { namespace: NS })).items.map((o) => o.metadata.name).sort();
    expect(apps).toEqual(names);
    const listed = (status.inventory ?? []).map((o) => o.name).sort();
    expect(listed).toEqual(names);
    const stored = (await readInventory(db.store.client, NS, syncInventoryName({ metadata: { namespace: NS, name: 'many' } })))?.entries ?? [];
    expect(stored.map((e) => e.name).sort()).toEqual(names);
    expect(new Set(stored.map((e) => e.uid)).size).toBe(APPS);
    // The restart applied the rest: created plus unchanged is the whole commit.
    expect((status.counts?.created ?? 0) + (status.counts?.unchanged ?? 0)).toBe(APPS);
  }, 150_000);
});
