// Prune's opt-out (PRUNE_ANNOTATION) and a pruning Sync's deletion (SYNC_PRUNE_FINALIZER), on real git,
// a real etcd and the `gitrepositories`, `syncs` and `gc` controllers in-process (gc finishes the
// foreground deletion `delete --wait` asks for); and the same opt-out through `capstan apply --prune`.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { INVENTORY_LABEL } from '../api/apply/plan.ts';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import type { SyncStatus } from '../api/kinds/sync.ts';
import { SYNC_PRUNE_FINALIZER } from '../api/kinds/wellknown.ts';
import { getCondition } from '../api/object.ts';
import { runControllers, type RunningControllers } from '../controllers/builtin.ts';
import { syncInventoryName } from '../controllers/gitops/sync-plan.ts';
import { capstan } from './helpers/cli.ts';
import { useStore } from './helpers/etcd.ts';
import { createGitRepo, type TestGitRepo } from './helpers/git.ts';
import { appYaml } from './helpers/manifests.ts';
import { until } from './helpers/poll.ts';

const NS = 'default';
const log = pino({ level: 'silent' });
const WAIT = { timeoutMs: 30_000 };

/** An App manifest that opts out of prune. */
const keptAppYaml = (name: string) => appYaml(name).replace(`  name: ${name}\n`, `  name: ${name}\n  annotations:\n    capstan.io/prune: disabled\n`);

describe('gitops prune: opt-out, and deleting a Sync', () => {
  const db = useStore(builtinRegistry(), { clearEachTest: true });
  let repo: TestGitRepo;
  let cacheDir: string;
  let controllers: RunningControllers | undefined;

  beforeEach(async () => {
    repo = await createGitRepo();
    cacheDir = await mkdtemp(join(tmpdir(), 'capstan-git-cache-'));
    controllers = await runControllers({ store: db.store, leaderElection: false, logger: log, handleSignals: false, only: ['gitrepositories', 'syncs', 'gc'], gitCacheDir: cacheDir });
  });
  afterEach(async () => {
    await controllers?.stop();
    controllers = undefined;
    await repo.dispose();
    await rm(cacheDir, { recursive: true, force: true });
  });

  const cli = (args: string[]) => capstan(args, { etcd: db.etcd.url });
  const gitRepository = (name: string) =>
    db.store.create({ apiVersion: 'capstan/v1', kind: 'GitRepository', metadata: { name, namespace: NS }, spec: { url: repo.fileUrl, ref: { branch: 'main' }, interval: '1s' } });
  const sync = (name: string, spec: Record<string, unknown>) => db.store.create({ apiVersion: 'capstan/v1', kind: 'Sync', metadata: { name, namespace: NS }, spec });
  const getSync = (name: string) => db.store.get('Sync', { namespace: NS, name });
  const appliedAt = (name: string, commit: string) =>
    until(async () => {
      const status = (await getSync(name))?.status as SyncStatus | undefined;
      return status?.lastAppliedRevision === commit && getCondition(status.conditions, 'Ready')?.status === 'True' && status;
    }, { ...WAIT, what: `Sync ${name} to apply ${commit.slice(0, 7)}` });
  const appNames = async () => (await db.store.list('App', { namespace: NS })).items.map((o) => o.metadata.name).sort();
  const inventoryNames = (status: SyncStatus) => (status.inventory ?? []).map((o) => o.name).sort();

  it('keeps an App annotated capstan.io/prune: disabled when a commit drops it, and says so; deleting the Sync prunes the rest and waits for it', async () => {
    const first = await repo.commit({ 'apps.yaml': appYaml('web') + appYaml('db') + keptAppYaml('keep') + keptAppYaml('stay') });
    await gitRepository('repo');
    await sync('pruning', { sourceRef: { name: 'repo' }, path: '.', prune: true });
    expect(inventoryNames(await appliedAt('pruning', first))).toEqual(['db', 'keep', 'stay', 'web']);
    await until(async () => (await getSync('pruning'))?.metadata.finalizers?.includes(SYNC_PRUNE_FINALIZER), { ...WAIT, what: 'the prune finalizer on the Sync' });

    const second = await repo.commit({ 'apps.yaml': appYaml('web') + keptAppYaml('stay') });
    const status = await appliedAt('pruning', second);
    expect(status.counts).toMatchObject({ pruned: 1, unchanged: 2 });
    expect(await appNames()).toEqual(['keep', 'stay', 'web']);
    expect(inventoryNames(status)).toEqual(['stay', 'web']);
    expect(getCondition(status.conditions, 'Ready')?.message).toMatch(/App default\/keep not pruned \(kept: annotated capstan.io\/prune: disabled\)/);

    // Deleting the Sync prunes what its inventory holds, the opt-out excepted; --wait returns once it is all gone.
    const deleted = await cli(['delete', 'sync', 'pruning', '--wait']);
    expect(deleted.code).toBe(0);
    expect(await getSync('pruning')).toBeUndefined();
    expect(await appNames()).toEqual(['keep', 'stay']);
  });

  it('without prune, deleting a Sync leaves its objects and their inventory label', async () => {
    const first = await repo.commit({ 'apps.yaml': appYaml('web') + appYaml('db') });
    await gitRepository('repo');
    await sync('keeping', { sourceRef: { name: 'repo' }, path: '.' });
    await appliedAt('keeping', first);
    expect((await getSync('keeping'))?.metadata.finalizers ?? []).not.toContain(SYNC_PRUNE_FINALIZER);

    const deleted = await cli(['delete', 'sync', 'keeping', '--wait']);
    expect(deleted.code).toBe(0);
    expect(await getSync('keeping')).toBeUndefined();
    expect(await appNames()).toEqual(['db', 'web']);
    const web = await db.store.get('App', { namespace: NS, name: 'web' });
    expect(web?.metadata.labels?.[INVENTORY_LABEL]).toBe(syncInventoryName({ metadata: { namespace: NS, name: 'keeping' } }));
  });

  it('turning prune off removes the finalizer, so a later delete leaves the objects', async () => {
    const first = await repo.commit({ 'apps.yaml': appYaml('web') });
    await gitRepository('repo');
    await sync('toggled', { sourceRef: { name: 'repo' }, path: '.', prune: true });
    await appliedAt('toggled', first);
    await until(async () => (await getSync('toggled'))?.metadata.finalizers?.includes(SYNC_PRUNE_FINALIZER), { ...WAIT, what: 'the prune finalizer on the Sync' });
    const current = (await getSync('toggled'))!;
    await db.store.update({ ...current, spec: { ...(current.spec as object), prune: false } });
    await until(async () => !(await getSync('toggled'))?.metadata.finalizers?.includes(SYNC_PRUNE_FINALIZER), { ...WAIT, what: 'the prune finalizer removed' });
    expect((await cli(['delete', 'sync', 'toggled', '--wait'])).code).toBe(0);
    expect(await appNames()).toEqual(['web']);
  });

  it('capstan apply --prune keeps an object annotated capstan.io/prune: disabled and says why', async () => {
    const first = await capstan(['apply', '-f', '-', '--inventory', 'shop'], { etcd: db.etcd.url, stdin: appYaml('a') + appYaml('b') + keptAppYaml('c') });
    expect(first.code).toBe(0);
    const pruned = await capstan(['apply', '-f', '-', '--inventory', 'shop', '--prune'], { etcd: db.etcd.url, stdin: appYaml('a') });
    expect(pruned).toMatchObject({ code: 0, stdout: 'app/a unchanged\napp/b pruned\n' });
    expect(pruned.stderr).toMatch(/app\/c not pruned: kept: annotated capstan.io\/prune: disabled/);
    expect(await appNames()).toEqual(['a', 'c']);
    // Dropped from the inventory: the next prune does not report it again.
    const again = await capstan(['apply', '-f', '-', '--inventory', 'shop', '--prune'], { etcd: db.etcd.url, stdin: appYaml('a') });
    expect(again).toMatchObject({ code: 0, stdout: 'app/a unchanged\n', stderr: '' });
  });
});
