// The gitops controllers (controllers/gitops/) on real git and a real etcd: a bare repository the
// test commits to (file://, and the same over `git http-backend`), GitRepository and Sync objects,
// and the `gitrepositories` and `syncs` controllers in-process (with `rollout`, so an App changed by
// a commit gets its revision 2). No agents: Apps stay unplaced, which is enough for what a Sync writes.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applySet } from '../api/apply/apply.ts';
import { readInventory } from '../api/apply/inventory.ts';
import { INVENTORY_LABEL } from '../api/apply/plan.ts';
import { validateSet } from '../api/apply/validate.ts';
import type { AppStatus } from '../api/kinds/app.ts';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import type { SyncStatus } from '../api/kinds/sync.ts';
import { parseManifests } from '../api/manifest.ts';
import { getCondition } from '../api/object.ts';
import { runControllers, type RunningControllers } from '../controllers/builtin.ts';
import { syncInventoryName } from '../controllers/gitops/sync-plan.ts';
import { capstan } from './helpers/cli.ts';
import { useStore } from './helpers/etcd.ts';
import { createGitRepo, serveHttp, type TestGitRepo } from './helpers/git.ts';
import { appYaml } from './helpers/manifests.ts';
import { until } from './helpers/poll.ts';

const NS = 'default';
const log = pino({ level: 'silent' });
const WAIT = { timeoutMs: 30_000 };

describe('gitops: a repository synced into the store', () => {
  const db = useStore(builtinRegistry(), { clearEachTest: true });
  let repo: TestGitRepo;
  let cacheDir: string;
  let controllers: RunningControllers | undefined;

  const start = async (dir = cacheDir) => {
    controllers = await runControllers({ store: db.store, leaderElection: false, logger: log, handleSignals: false, only: ['gitrepositories', 'syncs', 'rollout'], gitCacheDir: dir });
  };
  const stop = async () => {
    await controllers?.stop();
    controllers = undefined;
  };

  beforeEach(async () => {
    repo = await createGitRepo();
    cacheDir = await mkdtemp(join(tmpdir(), 'capstan-git-cache-'));
    await start();
  });
  afterEach(async () => {
    await stop();
    await repo.dispose();
    await rm(cacheDir, { recursive: true, force: true });
  });

  const gitRepository = (name: string, url: string) =>
    db.store.create({ apiVersion: 'capstan/v1', kind: 'GitRepository', metadata: { name, namespace: NS }, spec: { url, ref: { branch: 'main' }, interval: '1s' } });
  const sync = (name: string, spec: Record<string, unknown>) => db.store.create({ apiVersion: 'capstan/v1', kind: 'Sync', metadata: { name, namespace: NS }, spec });
  const syncStatus = async (name: string) => (await db.store.get('Sync', { namespace: NS, name }))?.status as SyncStatus | undefined;
  const ready = (status: SyncStatus | undefined) => getCondition(status?.conditions, 'Ready');
  /** The Sync's status once it has applied `commit` (and says Ready). */
  const appliedAt = (name: string, commit: string) =>
    until(async () => {
      const status = await syncStatus(name);
      return status?.lastAppliedRevision === commit && ready(status)?.status === 'True' && status;
    }, { ...WAIT, what: `Sync ${name} to apply ${commit.slice(0, 7)}` });
  const apps = async (namespace = NS) => (await db.store.list('App', { namespace })).items;
  /** What a Sync writes of each App (status and its resourceVersion are the rollout controller's). */
  const written = async () => (await apps()).map((o) => [o.metadata.name, o.metadata.generation, JSON.stringify(o.spec), JSON.stringify(o.metadata.labels)]);
  const appNames = async (namespace = NS) => (await apps(namespace)).map((o) => o.metadata.name).sort();
  const inventoryNames = (status: SyncStatus) => (status.inventory ?? []).map((o) => o.name).sort();

  it('applies a first commit whole, then a second that changes, removes and adds Apps; prune deletes only with prune: true', async () => {
    const first = await repo.commit({
      'pruning/apps.yaml': appYaml('web') + appYaml('db') + appYaml('old'),
      'keeping/apps.yaml': appYaml('k-web') + appYaml('k-old'),
      'README.md': 'not a manifest',
    });
    await gitRepository('repo', repo.fileUrl);
    // One repository feeds two Syncs; `keeping` writes into another namespace (its manifests name none).
    await sync('pruning', { sourceRef: { name: 'repo' }, path: 'pruning', prune: true });
    await sync('keeping', { sourceRef: { name: 'repo' }, path: './keeping/', targetNamespace: 'shop' });

    const pruning1 = await appliedAt('pruning', first);
    expect(pruning1.counts).toEqual({ created: 3, configured: 0, unchanged: 0, pruned: 0 });
    expect(inventoryNames(pruning1)).toEqual(['db', 'old', 'web']);
    const keeping1 = await appliedAt('keeping', first);
    expect(inventoryNames(keeping1)).toEqual(['k-old', 'k-web']);
    expect(keeping1.inventory?.every((o) => o.namespace === 'shop')).toBe(true);
    expect(await appNames()).toEqual(['db', 'old', 'web']);
    expect(await appNames('shop')).toEqual(['k-old', 'k-web']);
    // The rollout controller has seen web: its revision 1.
    await until(async () => ((await db.store.get('App', { namespace: NS, name: 'web' }))?.status as AppStatus | undefined)?.currentRevision === 1, { ...WAIT, what: 'web at revision 1' });
    const web1 = await db.store.get('App', { namespace: NS, name: 'web' });
    expect(web1?.metadata.labels?.[INVENTORY_LABEL]).toBe(syncInventoryName({ metadata: { namespace: NS, name: 'pruning' } }));

    const second = await repo.commit({
      'pruning/apps.yaml': appYaml('web', { cmd: 'httpd -f -p $PORT0 -h /tmp' }) + appYaml('db') + appYaml('new'),
      'keeping/apps.yaml': appYaml('k-web'),
    });
    const pruning2 = await appliedAt('pruning', second);
    expect(pruning2.lastAttemptedRevision).toBe(second);
    expect(pruning2.counts).toEqual({ created: 1, configured: 1, unchanged: 1, pruned: 1 });
    expect(inventoryNames(pruning2)).toEqual(['db', 'new', 'web']);
    expect(await appNames()).toEqual(['db', 'new', 'web']);
    await until(async () => ((await db.store.get('App', { namespace: NS, name: 'web' }))?.status as AppStatus | undefined)?.currentRevision === 2, { ...WAIT, what: 'web at revision 2' });

    // Without prune the App the commit dropped stays, and so does its inventory entry (prune: true later would delete it).
    const keeping2 = await appliedAt('keeping', second);
    expect(keeping2.counts).toEqual({ created: 0, configured: 0, unchanged: 1, pruned: 0 });
    expect(await appNames('shop')).toEqual(['k-old', 'k-web']);
    // Each App carries its rollout's health: unplaced, none is Healthy.
    expect(pruning2.inventory?.every((o) => o.kind === 'App' && o.health !== 'Healthy')).toBe(true);

    // The CLI: kinds' columns, and the generic describe.
    const cli = (args: string[]) => capstan(args, { etcd: db.etcd.url });
    const repos = await cli(['get', 'gitrepositories']);
    expect(repos.code).toBe(0);
    expect(repos.stdout).toMatch(/NAME\s+URL\s+REF\s+REVISION\s+READY/);
    expect(repos.stdout).toMatch(new RegExp(`repo\\s+file://\\S+\\s+branch:main\\s+${second.slice(0, 7)}\\s+True`));
    const syncs = await cli(['get', 'syncs']);
    expect(syncs.code).toBe(0);
    expect(syncs.stdout).toMatch(/NAME\s+SOURCE\s+PATH\s+APPLIED\s+READY\s+MESSAGE/);
    expect(syncs.stdout).toMatch(new RegExp(`pruning\\s+repo\\s+pruning\\s+${second.slice(0, 7)}\\s+True\\s+applied commit ${second.slice(0, 7)}: 1 created, 1 configured, 1 unchanged, 1 pruned`));
    const described = await cli(['describe', 'sync', 'pruning']);
    expect(described.code).toBe(0);
    expect(described.stdout).toContain(second);
    expect(described.stdout).toMatch(/lastAppliedRevision/);
  });

  it('writes nothing of a commit with one invalid document among 20 valid ones, keeps the previous commit, and applies the next fixed one', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `app-${String(i).padStart(2, '0')}`);
    const files = (cmd: string) => Object.fromEntries(names.map((name) => [`apps/${name}.yaml`, appYaml(name, { cmd })]));
    const good = await repo.commit(files('sleep 1'));
    await gitRepository('repo', repo.fileUrl);
    await sync('apps', { sourceRef: { name: 'repo' }, path: 'apps', prune: true });
    await appliedAt('apps', good);
    const before = await written();
    expect(before).toHaveLength(20);

    // Every App changes, one more is added, and app-07 is invalid: nothing of it may be written.
    const bad = await repo.commit({ ...files('sleep 2'), 'apps/app-07.yaml': appYaml('app-07', { instances: -1 }), 'apps/extra.yaml': appYaml('extra') });
    const refused = await until(async () => {
      const status = await syncStatus('apps');
      return status?.lastAttemptedRevision === bad && ready(status)?.reason === 'ValidationFailed' && status;
    }, { ...WAIT, what: 'the bad commit refused' });
    expect(refused.lastAppliedRevision).toBe(good);
    expect(ready(refused)?.status).toBe('False');
    expect(ready(refused)?.message).toMatch(/^commit \w{7}: 1 problem in 21 documents, nothing written \(commit \w{7} stays applied\)/);
    expect(ready(refused)?.message).toContain('apps/app-07.yaml:6:3: spec.instances');
    expect(getCondition(refused.conditions, 'Stalled')?.status).toBe('True');
    expect(await written()).toEqual(before);

    // No sticky failure: the next good commit applies at once.
    const fixed = await repo.commit({ 'apps/app-07.yaml': appYaml('app-07', { cmd: 'sleep 2' }) });
    const applied = await appliedAt('apps', fixed);
    expect(applied.counts).toEqual({ created: 1, configured: 20, unchanged: 0, pruned: 0 });
    expect(getCondition(applied.conditions, 'Stalled')?.status).toBe('False');
    expect(await appNames()).toEqual([...names, 'extra'].sort());
  });

  it('dependsOn: a Sync waits until the one it depends on is Ready, then applies', async () => {
    const commit = await repo.commit({ 'base/a.yaml': appYaml('base'), 'apps/b.yaml': appYaml('top') });
    await gitRepository('apps-repo', repo.fileUrl);
    await sync('top', { sourceRef: { name: 'apps-repo' }, path: 'apps', dependsOn: [{ name: 'base' }] });
    await sync('base', { sourceRef: { name: 'base-repo' }, path: 'base' });

    const waiting = await until(async () => {
      const status = await syncStatus('top');
      return ready(status)?.reason === 'DependencyNotReady' && status;
    }, { ...WAIT, what: 'top waiting for base' });
    expect(ready(waiting)?.message).toMatch(/^waiting for Sync base: GitRepository base-repo not found/);
    expect(waiting.lastAttemptedRevision).toBeUndefined();
    expect(await appNames()).toEqual([]);

    await gitRepository('base-repo', repo.fileUrl);
    await appliedAt('base', commit);
    await appliedAt('top', commit);
    expect(await appNames()).toEqual(['base', 'top']);
  });

  it('syncs over http (git http-backend) as over file://', async () => {
    const server = await serveHttp(repo);
    try {
      const first = await repo.commit({ 'app.yaml': appYaml('web') });
      await gitRepository('repo', server.url);
      await sync('web', { sourceRef: { name: 'repo' } });
      await appliedAt('web', first);
      const second = await repo.commit({ 'app.yaml': appYaml('web', { cmd: 'sleep 5' }) });
      const status = await appliedAt('web', second);
      expect(status.counts).toEqual({ created: 0, configured: 1, unchanged: 0, pruned: 0 });
    } finally {
      await server.close();
    }
  });

  it('a commit left half written (controller stopped mid-way) is applied whole by a fresh controller', async () => {
    const first = await repo.commit({ 'apps.yaml': appYaml('a') + appYaml('b') });
    await gitRepository('repo', repo.fileUrl);
    await sync('apps', { sourceRef: { name: 'repo' }, prune: true });
    await appliedAt('apps', first);
    await stop();

    // What a controller that died mid-way leaves: the attempt recorded, then half of the commit's writes.
    const second = await repo.commit({ 'apps.yaml': appYaml('a', { cmd: 'sleep 2' }) + appYaml('b', { cmd: 'sleep 2' }) + appYaml('c') + appYaml('d') });
    // The repository controller had fetched it, which is why the Sync was applying it.
    const source = (await db.store.get('GitRepository', { namespace: NS, name: 'repo' }))!;
    await db.store.updateStatus({ ...source, status: { ...(source.status as object), artifact: { revision: second, fetchedAt: new Date().toISOString() } } });
    const current = (await db.store.get('Sync', { namespace: NS, name: 'apps' }))!;
    await db.store.updateStatus({ ...current, status: { ...(current.status as SyncStatus), lastAttemptedRevision: second } });
    const half = parseManifests(appYaml('a', { cmd: 'sleep 2' }) + appYaml('c'), 'apps.yaml');
    const validation = await validateSet({ documents: half.documents, registry: db.store.registry, store: db.store });
    if (!validation.valid) throw new Error(JSON.stringify(validation.problems));
    await applySet(validation.set, { store: db.store, namespace: NS, inventory: { derived: syncInventoryName(current) } });
    const midway = (await syncStatus('apps'))!;
    expect([midway.lastAppliedRevision, midway.lastAttemptedRevision]).toEqual([first, second]);
    expect(await appNames()).toEqual(['a', 'b', 'c']);

    // A fresh controller, with a cache directory of its own (another process, another machine).
    const fresh = await mkdtemp(join(tmpdir(), 'capstan-git-cache-'));
    try {
      await start(fresh);
      const whole = await appliedAt('apps', second);
      expect(whole.lastAttemptedRevision).toBe(second);
      expect(whole.counts).toEqual({ created: 1, configured: 1, unchanged: 2, pruned: 0 });
      expect(await appNames()).toEqual(['a', 'b', 'c', 'd']);
      const cmds = (await apps()).map((o) => (o.spec as { containers: { cmd: string }[] }).containers[0]!.cmd);
      expect(cmds.filter((cmd) => cmd === 'sleep 2')).toHaveLength(2);
      const inventory = await readInventory(db.client, NS, syncInventoryName(current));
      expect(inventory?.entries.map((e) => e.name).sort()).toEqual(['a', 'b', 'c', 'd']);
    } finally {
      await stop();
      await rm(fresh, { recursive: true, force: true });
    }
  });

  it('a newcomer applies a GitRepository and a Sync with `capstan apply`; a secretRef is refused with what to do', async () => {
    const commit = await repo.commit({ 'apps/web.yaml': appYaml('web') });
    const manifests = (extra: string) =>
      [
        'apiVersion: capstan/v1',
        'kind: GitRepository',
        'metadata: {name: demo}',
        'spec:',
        `  url: ${repo.fileUrl}`,
        '  ref: {branch: main}',
        '  interval: 1s',
        extra,
        '---',
        'apiVersion: capstan/v1',
        'kind: Sync',
        'metadata: {name: demo}',
        'spec: {sourceRef: {name: demo}, path: apps, prune: true}',
        '',
      ].join('\n');
    const refused = await capstan(['apply', '-f', '-'], { etcd: db.etcd.url, stdin: manifests('  secretRef: {name: creds}') });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/<stdin>:8:3: spec\.secretRef: expected no secretRef: credentials are not supported yet/);
    expect(await db.store.list('GitRepository', { namespace: NS })).toMatchObject({ items: [] });

    const accepted = await capstan(['apply', '-f', '-'], { etcd: db.etcd.url, stdin: manifests('') });
    expect(accepted.code).toBe(0);
    await appliedAt('demo', commit);
    expect(await appNames()).toEqual(['web']);
  });

  it('never takes over an object another inventory owns: nothing of the commit is written, and Ready says whose it is', async () => {
    const theirs = parseManifests(appYaml('shared'), 'theirs.yaml');
    const validation = await validateSet({ documents: theirs.documents, registry: db.store.registry, store: db.store });
    if (!validation.valid) throw new Error(JSON.stringify(validation.problems));
    await applySet(validation.set, { store: db.store, namespace: NS, inventory: { derived: 'theirs-yaml' } });
    const before = await written();

    const commit = await repo.commit({ 'apps.yaml': appYaml('mine') + appYaml('shared', { cmd: 'sleep 9' }) });
    await gitRepository('repo', repo.fileUrl);
    await sync('apps', { sourceRef: { name: 'repo' } });
    const refused = await until(async () => {
      const status = await syncStatus('apps');
      return ready(status)?.reason === 'OwnershipConflict' && status;
    }, { ...WAIT, what: 'the conflict reported' });
    expect(refused.lastAttemptedRevision).toBe(commit);
    expect(ready(refused)?.message).toContain('App default/shared belongs to inventory theirs-yaml');
    expect(await written()).toEqual(before);
  });
});
