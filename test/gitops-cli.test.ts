// `capstan sync now|suspend|resume|diff` (cli/sync.ts, cli/sync-diff.ts) against real git, a real
// etcd and the gitops controllers in-process, as test/gitops.test.ts runs them. The GitRepository
// polls every hour: a commit that lands within seconds landed because `sync now` asked for it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GitRepositoryStatus } from '../api/kinds/gitrepository.ts';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import type { SyncStatus } from '../api/kinds/sync.ts';
import { REQUESTED_AT_ANNOTATION } from '../api/kinds/wellknown.ts';
import { getCondition, type AnyObject } from '../api/object.ts';
import { runControllers, type RunningControllers } from '../controllers/builtin.ts';
import { capstan } from './helpers/cli.ts';
import { useStore } from './helpers/etcd.ts';
import { createGitRepo, type TestGitRepo } from './helpers/git.ts';
import { appYaml } from './helpers/manifests.ts';
import { until } from './helpers/poll.ts';

const NS = 'default';
const log = pino({ level: 'silent' });
const WAIT = { timeoutMs: 30_000 };

describe('capstan sync: now, suspend, resume and diff on a Sync', () => {
  const db = useStore(builtinRegistry(), { clearEachTest: true });
  let repo: TestGitRepo;
  let cacheDir: string;
  let diffCacheDir: string;
  let controllers: RunningControllers | undefined;

  beforeEach(async () => {
    repo = await createGitRepo();
    cacheDir = await mkdtemp(join(tmpdir(), 'capstan-git-cache-'));
    diffCacheDir = await mkdtemp(join(tmpdir(), 'capstan-git-diff-cache-'));
    controllers = await runControllers({ store: db.store, leaderElection: false, logger: log, handleSignals: false, only: ['gitrepositories', 'syncs'], gitCacheDir: cacheDir });
  });
  afterEach(async () => {
    await controllers?.stop();
    controllers = undefined;
    await repo.dispose();
    await rm(cacheDir, { recursive: true, force: true });
    await rm(diffCacheDir, { recursive: true, force: true });
  });

  const cli = (args: string[]) => capstan(args, { etcd: db.etcd.url });
  const syncStatus = async (name: string) => (await db.store.get('Sync', { namespace: NS, name }))?.status as SyncStatus | undefined;
  const appliedAt = (name: string, commit: string) =>
    until(async () => {
      const status = await syncStatus(name);
      return status?.lastAppliedRevision === commit && getCondition(status.conditions, 'Ready')?.status === 'True' && status;
    }, { ...WAIT, what: `Sync ${name} to apply ${commit.slice(0, 7)}` });
  const appCmd = async (name: string) => ((await db.store.get('App', { namespace: NS, name }))?.spec as { containers: { cmd: string }[] } | undefined)?.containers[0]?.cmd;
  const appNames = async () => (await db.store.list('App', { namespace: NS })).items.map((o) => o.metadata.name).sort();

  /** A repository polled hourly, a Sync of `apps/`, and the first commit applied. */
  const synced = async (files: Record<string, string>, spec: Record<string, unknown> = {}) => {
    const first = await repo.commit(files);
    await db.store.create({ apiVersion: 'capstan/v1', kind: 'GitRepository', metadata: { name: 'repo', namespace: NS }, spec: { url: repo.fileUrl, interval: '1h' } });
    await db.store.create({ apiVersion: 'capstan/v1', kind: 'Sync', metadata: { name: 'shop', namespace: NS }, spec: { sourceRef: { name: 'repo' }, path: 'apps', ...spec } });
    await appliedAt('shop', first);
    return first;
  };
  /** Writes the request stamp as any client could (the CLI refuses `sync now` on a suspended Sync). */
  const stamp = async (kind: 'Sync' | 'GitRepository', name: string, value: string) => {
    const object = (await db.store.get(kind, { namespace: NS, name })) as AnyObject;
    await db.store.update({ ...object, metadata: { ...object.metadata, annotations: { ...object.metadata.annotations, [REQUESTED_AT_ANNOTATION]: value } } });
  };

  it('sync now applies a pushed commit within seconds and prints the outcome; --no-wait returns at once; an invalid commit exits 1 naming the file', async () => {
    await synced({ 'apps/web.yaml': appYaml('web') });
    const second = await repo.commit({ 'apps/web.yaml': appYaml('web', { cmd: 'httpd -f -p $PORT0 -h /tmp' }) });

    const started = Date.now();
    const now = await cli(['sync', 'now', 'shop']);
    const ms = Date.now() - started;
    expect(now.stderr).toBe('');
    expect(now.code).toBe(0);
    expect(now.stdout).toBe(`sync/shop: applied commit ${second.slice(0, 7)}: 0 created, 1 configured, 0 unchanged, 0 pruned\n`);
    expect(ms).toBeLessThan(15_000);
    expect(await appCmd('web')).toBe('httpd -f -p $PORT0 -h /tmp');
    const status = await syncStatus('shop');
    expect(status?.lastAppliedRevision).toBe(second);
    const repoStatus = (await db.store.get('GitRepository', { namespace: NS, name: 'repo' }))?.status as GitRepositoryStatus;
    expect(repoStatus.lastHandledRequestedAt).toBe(status?.lastHandledRequestedAt);

    // Nothing new: the request is handled without writing anything, and the outcome is the same.
    const again = await cli(['sync', 'now', 'shop']);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(now.stdout);

    const third = await repo.commit({ 'apps/db.yaml': appYaml('db') });
    const noWait = await cli(['sync', 'now', 'shop', '--no-wait']);
    expect(noWait.code).toBe(0);
    expect(noWait.stdout).toMatch(/^sync\/shop: sync requested \(capstan\.io\/requestedAt=\S+\)/);
    await appliedAt('shop', third);
    expect(await appNames()).toEqual(['db', 'web']);

    const bad = await repo.commit({ 'apps/db.yaml': appYaml('db', { instances: -1 }) });
    const failed = await cli(['sync', 'now', 'shop']);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toBe('');
    expect(failed.stderr).toContain(`sync/shop: commit ${bad.slice(0, 7)}: 1 problem`);
    expect(failed.stderr).toMatch(/apps\/db\.yaml:\d+:\d+/);
    expect((await syncStatus('shop'))?.lastAppliedRevision).toBe(third);
  });

  it('sync now without controllers gives up after --timeout and says what did not answer', async () => {
    await synced({ 'apps/web.yaml': appYaml('web') });
    await controllers?.stop();
    controllers = undefined;
    const started = Date.now();
    const result = await cli(['sync', 'now', 'shop', '--timeout', '1s']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^gitrepository\/repo did not handle the request within 1 s; are the controllers running \(`capstan controllers`\)\? Raise --timeout/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('suspend keeps a pushed commit from landing, even one the repository fetched; resume lets it land', async () => {
    const first = await synced({ 'apps/web.yaml': appYaml('web') });
    const suspend = await cli(['sync', 'suspend', 'shop']);
    expect(suspend).toMatchObject({ code: 0, stdout: 'sync/shop suspended: no commit is applied until `capstan sync resume shop`\n' });
    expect((await cli(['sync', 'suspend', 'shop'])).stdout).toBe('sync/shop is already suspended: unchanged\n');

    const second = await repo.commit({ 'apps/web.yaml': appYaml('web', { cmd: 'httpd -f -p $PORT0 -h /tmp' }) });
    const refused = await cli(['sync', 'now', 'shop']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe('sync/shop is suspended: nothing would be applied; run `capstan sync resume shop` first\n');

    // The repository fetches the commit and the Sync handles a request stamp: it saw both, applied nothing.
    await stamp('GitRepository', 'repo', 'fetch-1');
    await until(async () => ((await db.store.get('GitRepository', { namespace: NS, name: 'repo' }))?.status as GitRepositoryStatus | undefined)?.artifact?.revision === second, {
      ...WAIT,
      what: 'the repository to fetch the second commit',
    });
    await stamp('Sync', 'shop', 'apply-1');
    const seen = await until(async () => {
      const status = await syncStatus('shop');
      return status?.lastHandledRequestedAt === 'apply-1' && status;
    }, { ...WAIT, what: 'the suspended Sync to handle the stamp' });
    expect(seen.lastAppliedRevision).toBe(first);
    expect(await appCmd('web')).toBe('httpd -f -p $PORT0');

    const resume = await cli(['sync', 'resume', 'shop']);
    expect(resume).toMatchObject({ code: 0, stdout: "sync/shop resumed: it applies its repository's current commit\n" });
    await appliedAt('shop', second);
    expect(await appCmd('web')).toBe('httpd -f -p $PORT0 -h /tmp');
  });

  it('sync diff shows what the next sync would change (exit 1), with prune; nothing once applied (exit 0); an invalid commit exits 2 naming the file and line', async () => {
    await synced({ 'apps/web.yaml': appYaml('web'), 'apps/old.yaml': appYaml('old') }, { prune: true });
    await repo.commit({ 'apps/web.yaml': appYaml('web', { cmd: 'httpd -f -p $PORT0 -h /tmp' }), 'apps/old.yaml': null, 'apps/new.yaml': appYaml('new') });
    const diff = (args: string[] = []) => cli(['sync', 'diff', 'shop', '--git-cache-dir', diffCacheDir, ...args]);

    const changed = await diff();
    expect(changed.code).toBe(1);
    expect(changed.stdout).toContain('--- app/web (live)\n+++ app/web (applied)\n');
    expect(changed.stdout).toContain('-      cmd: httpd -f -p $PORT0\n+      cmd: httpd -f -p $PORT0 -h /tmp\n');
    expect(changed.stdout).toContain('--- app/new (absent)\n+++ app/new (applied)\n');
    expect(changed.stdout).toContain('--- app/old (live)\n+++ app/old (pruned: no longer in the commit)\n');
    // Nothing was written by the diff.
    expect(await appNames()).toEqual(['old', 'web']);

    expect((await cli(['sync', 'now', 'shop'])).code).toBe(0);
    const same = await diff();
    expect(same.stdout).toBe('');
    expect(same.code).toBe(0);

    await repo.commit({ 'apps/new.yaml': appYaml('new', { instances: -1 }) });
    const invalid = await diff();
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toMatch(/apps\/new\.yaml:\d+:\d+: spec\.instances/);
    expect(invalid.stderr).toMatch(/1 problem in commit [0-9a-f]{7}: the next sync would write nothing/);

    const missing = await cli(['sync', 'diff', 'nope', '--git-cache-dir', diffCacheDir]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe('sync "nope" not found in namespace "default"\n');
  });
});
