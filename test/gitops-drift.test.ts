// Drift (controllers/gitops/drift.ts) on real git and a real etcd: objects a Sync applied, changed in
// the store behind its back by `capstan scale`, `capstan rollout pause` or a plain store write, with
// and without spec.selfHeal. The `gitrepositories`, `syncs` and `rollout` controllers run in-process
// as in test/gitops.test.ts; no agents (Apps stay unplaced, enough for what a Sync compares).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AppSpec, AppStatus } from '../api/kinds/app.ts';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import type { SyncStatus } from '../api/kinds/sync.ts';
import { PAUSED_ANNOTATION } from '../api/kinds/wellknown.ts';
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

describe('gitops drift: objects a Sync owns, changed in the store', () => {
  const db = useStore(builtinRegistry(), { clearEachTest: true });
  let repo: TestGitRepo;
  let cacheDir: string;
  let controllers: RunningControllers | undefined;

  const start = async (only = ['gitrepositories', 'syncs', 'rollout']) => {
    controllers = await runControllers({ store: db.store, leaderElection: false, logger: log, handleSignals: false, only, gitCacheDir: cacheDir });
  };

  beforeEach(async () => {
    repo = await createGitRepo();
    cacheDir = await mkdtemp(join(tmpdir(), 'capstan-git-cache-'));
  });
  afterEach(async () => {
    await controllers?.stop();
    controllers = undefined;
    await repo.dispose();
    await rm(cacheDir, { recursive: true, force: true });
  });

  const cli = (args: string[]) => capstan(args, { etcd: db.etcd.url });
  const getApp = async (name: string) => (await db.store.get('App', { namespace: NS, name }))!;
  const specOf = (app: AnyObject) => app.spec as AppSpec;
  const syncStatus = async () => (await db.store.get('Sync', { namespace: NS, name: 'apps' }))?.status as SyncStatus | undefined;
  const driftCondition = (status: SyncStatus | undefined) => getCondition(status?.conditions, 'Drifted');
  const scale = async (name: string, instances: number) => {
    const app = await getApp(name);
    await db.store.update({ ...app, spec: { ...specOf(app), instances } });
  };

  /** A commit of web and db (2 instances each), a Sync of it with a 1 s interval, applied; and an App the Sync does not own. */
  const synced = async (selfHeal: boolean) => {
    const commit = await repo.commit({ 'apps.yaml': appYaml('web', { instances: 2 }) + appYaml('db', { instances: 2 }) });
    await db.store.create({ apiVersion: 'capstan/v1', kind: 'GitRepository', metadata: { name: 'repo', namespace: NS }, spec: { url: repo.fileUrl, ref: { branch: 'main' }, interval: '1s' } });
    await db.store.create({ apiVersion: 'capstan/v1', kind: 'Sync', metadata: { name: 'apps', namespace: NS }, spec: { sourceRef: { name: 'repo' }, interval: '1s', selfHeal } });
    const stray: AnyObject = await db.store.create({
      apiVersion: 'capstan/v1',
      kind: 'App',
      metadata: { name: 'stray', namespace: NS },
      spec: builtinRegistry().get('App').spec.parse({ instances: 7, containers: [{ image: 'local/busybox:1', cmd: 'sleep 1000' }] }),
    });
    await until(async () => {
      const status = await syncStatus();
      return status?.lastAppliedRevision === commit && driftCondition(status)?.reason === 'NoDrift';
    }, { ...WAIT, what: 'Sync apps to apply the commit and find no drift' });
    return { commit, stray };
  };
  const driftOf = (status: SyncStatus | undefined, name: string) => status?.drift?.find((d) => d.name === name);

  it('without selfHeal: a scaled App is reported with its field path, in describe and get -o wide, and left as it is; an App it does not own is never touched', async () => {
    await start();
    const { stray } = await synced(false);
    await scale('web', 5);
    const status = await until(async () => {
      const s = await syncStatus();
      return driftOf(s, 'web') && s;
    }, { ...WAIT, what: 'web reported drifted' });
    expect(status.drift).toEqual([{ kind: 'App', namespace: NS, name: 'web', fields: ['spec.instances'], detectedAt: expect.any(String) }]);
    expect(driftCondition(status)).toMatchObject({ status: 'True', reason: 'Drifted' });
    expect(driftCondition(status)?.message).toContain('App default/web (spec.instances)');
    expect(getCondition(status.conditions, 'Ready')?.status).toBe('True');

    // Another change after it: once db is reported, the check has run again since web's; web stays at 5.
    await scale('db', 3);
    const later = await until(async () => {
      const s = await syncStatus();
      return driftOf(s, 'db') && s;
    }, { ...WAIT, what: 'db reported drifted' });
    expect(driftOf(later, 'web')?.detectedAt).toBe(driftOf(status, 'web')?.detectedAt);
    expect(specOf(await getApp('web')).instances).toBe(5);
    expect(specOf(await getApp('db')).instances).toBe(3);
    const strayNow = await getApp('stray');
    expect([strayNow.metadata.generation, strayNow.spec, strayNow.metadata.labels]).toEqual([stray.metadata.generation, stray.spec, stray.metadata.labels]);

    const wide = await cli(['get', 'syncs', '-o', 'wide']);
    expect(wide.code).toBe(0);
    expect(wide.stdout).toMatch(/DRIFT/);
    expect(wide.stdout).toMatch(/apps\s+repo\s+\.\s+\S+\s+\S+\s+2\s+2\s+True/);
    const described = await cli(['describe', 'sync', 'apps']);
    expect(described.code).toBe(0);
    expect(described.stdout).toContain('spec.instances');
    expect(described.stdout).toMatch(/Drifted/);
  });

  it('with selfHeal: a scaled App is restored within an interval; `capstan rollout pause` (a controller annotation) is not drift; an App it does not own is never touched', async () => {
    await start();
    const { stray } = await synced(true);
    await cli(['rollout', 'pause', 'web']);
    await scale('db', 5);
    const healed = await until(async () => {
      const s = await syncStatus();
      return driftCondition(s)?.reason === 'SelfHealed' && s;
    }, { ...WAIT, what: 'db restored' });
    expect(driftCondition(healed)?.message).toBe('restored App default/db (spec.instances)');
    expect(healed.drift).toEqual([]);
    expect(specOf(await getApp('db')).instances).toBe(2);
    // The check ran after the pause (it was written first) and left it: not the manifest's.
    expect((await getApp('web')).metadata.annotations?.[PAUSED_ANNOTATION]).toBe('true');

    await scale('stray', 9);
    await scale('web', 4);
    await until(async () => specOf(await getApp('web')).instances === 2, { ...WAIT, what: 'web restored' });
    expect(specOf(await getApp('stray')).instances).toBe(9);
    expect((await getApp('stray')).metadata.labels).toEqual(stray.metadata.labels);
  });

  it('an App the rollout controller rolled back is reported Degraded with the rollback\'s reason and never re-applied, even with selfHeal', async () => {
    // The rollback is simulated as the rollout controller writes it, in its order: status.rollout
    // RolledBack first, then the template back to the stable revision, then the status observing
    // that generation (controllers/rollout/index.ts rollBackTo). The rollout controller does not
    // run here. Writing the template first would open a window the real controller never opens: a
    // changed template with no rollback recorded yet, which is drift.
    await start(['gitrepositories', 'syncs']);
    await synced(true);
    const web = await getApp('web');
    const reason = 'revision 2 made no progress for 600s; rolled back to revision 1';
    const now = new Date().toISOString();
    const rollout: AppStatus['rollout'] = { phase: 'RolledBack', revision: 1, from: 2, generation: web.metadata.generation, startedAt: now, lastProgressAt: now, message: reason };
    const marked = await db.store.updateStatus({ ...web, status: { observedGeneration: web.metadata.generation, rollout } as Partial<AppStatus> });
    const rolledBack = await db.store.update({ ...marked, spec: { ...specOf(web), containers: [{ ...specOf(web).containers[0]!, cmd: 'httpd -f -p $PORT0 -h /' }] } });
    const status: Partial<AppStatus> = { observedGeneration: rolledBack.metadata.generation, rollout };
    await db.store.updateStatus({ ...rolledBack, status });
    // db changed after it: once db is restored, the check has seen web as rolled back and left it.
    await scale('db', 5);
    const after = await until(async () => {
      const s = await syncStatus();
      return driftCondition(s)?.reason === 'SelfHealed' && s?.inventory?.find((o) => o.name === 'web')?.health === 'Degraded' && s;
    }, { ...WAIT, what: 'db restored and web reported Degraded' });
    expect(after.inventory?.find((o) => o.name === 'web')).toMatchObject({ health: 'Degraded', reason: 'RolledBack', message: reason });
    expect(driftCondition(after)?.message).toBe('restored App default/db (spec.instances)');
    const webNow = await getApp('web');
    expect(specOf(webNow).containers[0]?.cmd).toBe('httpd -f -p $PORT0 -h /');
    expect(webNow.metadata.generation).toBe(rolledBack.metadata.generation);

    // A new commit that changes db only leaves web as the rollback did; one that changes web writes it.
    const dbOnly = await repo.commit({ 'apps.yaml': appYaml('web', { instances: 2 }) + appYaml('db', { instances: 3 }) });
    await until(async () => (await syncStatus())?.lastAppliedRevision === dbOnly, { ...WAIT, what: 'the commit changing db applied' });
    expect(specOf(await getApp('db')).instances).toBe(3);
    expect(specOf(await getApp('web')).containers[0]?.cmd).toBe('httpd -f -p $PORT0 -h /');
    expect((await getApp('web')).metadata.generation).toBe(rolledBack.metadata.generation);
    const fixed = await repo.commit({ 'apps.yaml': appYaml('web', { instances: 2, cmd: 'httpd -f -p $PORT0 -h /tmp' }) + appYaml('db', { instances: 3 }) });
    await until(async () => (await syncStatus())?.lastAppliedRevision === fixed, { ...WAIT, what: 'the commit changing web applied' });
    expect(specOf(await getApp('web')).containers[0]?.cmd).toBe('httpd -f -p $PORT0 -h /tmp');
  });
});
