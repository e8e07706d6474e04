// The gitops webhook receiver (controllers/gitops/webhook.ts) against real git, a real etcd and the
// gitops controllers in-process, the receiver on a free loopback port. The GitRepository polls every
// hour: a commit that lands within seconds landed because a signed POST asked for it.
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import type { GitRepositoryStatus } from '../api/kinds/gitrepository.ts';
import type { SyncStatus } from '../api/kinds/sync.ts';
import { REQUESTED_AT_ANNOTATION } from '../api/kinds/wellknown.ts';
import { getCondition } from '../api/object.ts';
import { runControllers, type RunningControllers } from '../controllers/builtin.ts';
import { signatureOf, webhookPath } from '../controllers/gitops/webhook-auth.ts';
import { capstan, startCapstan } from './helpers/cli.ts';
import { useStore } from './helpers/etcd.ts';
import { createGitRepo, type TestGitRepo } from './helpers/git.ts';
import { appYaml } from './helpers/manifests.ts';
import { until } from './helpers/poll.ts';

const NS = 'default';
const log = pino({ level: 'silent' });
const WAIT = { timeoutMs: 30_000 };
const SECRET = Buffer.from('a receiver secret only the test and the controllers know');
const COMMITS = 20;

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

describe('gitops webhook: a signed POST /hook/<token> fetches and applies a pushed commit at once', () => {
  const db = useStore(builtinRegistry(), { clearEachTest: true });
  let repo: TestGitRepo;
  let cacheDir: string;
  let controllers: RunningControllers;

  beforeEach(async () => {
    repo = await createGitRepo();
    cacheDir = await mkdtemp(join(tmpdir(), 'capstan-git-cache-'));
    controllers = await runControllers({
      store: db.store,
      leaderElection: false,
      logger: log,
      handleSignals: false,
      only: ['gitrepositories', 'syncs'],
      gitCacheDir: cacheDir,
      webhook: { host: '127.0.0.1', port: 0, secret: SECRET },
    });
  });
  afterEach(async () => {
    await controllers.stop();
    await repo.dispose();
    await rm(cacheDir, { recursive: true, force: true });
  });

  const syncStatus = async () => (await db.store.get('Sync', { namespace: NS, name: 'shop' }))?.status as SyncStatus | undefined;
  const repository = () => db.store.get('GitRepository', { namespace: NS, name: 'repo' });
  const appliedAt = (commit: string, intervalMs = 25) =>
    until(async () => {
      const status = await syncStatus();
      return status?.lastAppliedRevision === commit && getCondition(status.conditions, 'Ready')?.status === 'True' && status;
    }, { ...WAIT, intervalMs, what: `Sync shop to apply ${commit.slice(0, 7)}` });
  const appCmd = async (name: string) => ((await db.store.get('App', { namespace: NS, name }))?.spec as { containers: { cmd: string }[] } | undefined)?.containers[0]?.cmd;
  const post = (path: string, body: string, headers: Record<string, string>) => fetch(`${controllers.webhookUrl}${path}`, { method: 'POST', body, headers });
  const pushPayload = (commit: string) => JSON.stringify({ ref: 'refs/heads/main', after: commit, repository: { full_name: 'team/deploy' } });

  /** A repository polled hourly, a Sync of `apps/` (also hourly), and the first commit applied. */
  const synced = async () => {
    const first = await repo.commit({ 'apps/web.yaml': appYaml('web') });
    await db.store.create({ apiVersion: 'capstan/v1', kind: 'GitRepository', metadata: { name: 'repo', namespace: NS }, spec: { url: repo.fileUrl, interval: '1h' } });
    await db.store.create({ apiVersion: 'capstan/v1', kind: 'Sync', metadata: { name: 'shop', namespace: NS }, spec: { sourceRef: { name: 'repo' }, path: 'apps', interval: '1h' } });
    await appliedAt(first);
    return first;
  };

  it('shows the hook path in the status; a push and an X-Signature POST land the commit within seconds, answered 202', async () => {
    await synced();
    const path = webhookPath(SECRET, { namespace: NS, name: 'repo' });
    expect(((await repository())?.status as GitRepositoryStatus).webhookPath).toBe(path);
    expect(path).toMatch(/^\/hook\/[0-9a-f]{64}$/);

    const second = await repo.commit({ 'apps/web.yaml': appYaml('web', { cmd: 'httpd -f -p $PORT0 -h /tmp' }) });
    const started = Date.now();
    const body = pushPayload(second);
    const response = await post(path, body, { 'content-type': 'application/json', 'x-signature': signatureOf(SECRET, body) });
    expect(response.status).toBe(202);
    expect(await response.text()).toContain(`gitrepository ${NS}/repo: fetch requested`);
    await appliedAt(second);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await appCmd('web')).toBe('httpd -f -p $PORT0 -h /tmp');
  });

  it('a GitHub-style X-Hub-Signature-256 works; a bad, missing or malformed signature is 401 and writes nothing; an unknown token is 404', async () => {
    const first = await synced();
    const path = webhookPath(SECRET, { namespace: NS, name: 'repo' });
    const second = await repo.commit({ 'apps/web.yaml': appYaml('web', { cmd: 'httpd -f -p $PORT0 -h /srv' }) });
    const body = pushPayload(second);
    const before = await repository();

    const refused: Record<string, string>[] = [
      { 'x-signature': signatureOf(Buffer.from('another secret'), body) },
      { 'x-hub-signature-256': signatureOf(SECRET, `${body} `) },
      {},
      { 'x-signature': 'sha1=0123' },
    ];
    for (const headers of refused) {
      const response = await post(path, body, headers);
      expect(response.status, JSON.stringify(headers)).toBe(401);
      expect(await response.text()).toMatch(/signature/);
    }
    const unknown = await post(webhookPath(SECRET, { namespace: NS, name: 'other' }), body, { 'x-signature': signatureOf(SECRET, body) });
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toContain('no GitRepository has this token');
    expect((await fetch(`${controllers.webhookUrl}${path}`)).status).toBe(405);
    // Nothing was written: same resourceVersion, no stamp, the first commit still applied.
    const after = await repository();
    expect(after?.metadata.resourceVersion).toBe(before?.metadata.resourceVersion);
    expect(after?.metadata.annotations?.[REQUESTED_AT_ANNOTATION]).toBeUndefined();
    expect((await syncStatus())?.lastAppliedRevision).toBe(first);

    const github = await post(path, body, { 'x-github-event': 'push', 'x-hub-signature-256': signatureOf(SECRET, body) });
    expect(github.status).toBe(202);
    await appliedAt(second);
    expect(await appCmd('web')).toBe('httpd -f -p $PORT0 -h /srv');
  });

  it(`measures push → applied through the webhook over ${COMMITS} commits`, { timeout: 120_000 }, async () => {
    await synced();
    const path = webhookPath(SECRET, { namespace: NS, name: 'repo' });
    const samples: number[] = [];
    for (let i = 0; i < COMMITS; i++) {
      const commit = await repo.commit({ 'apps/web.yaml': appYaml('web', { cmd: `httpd -f -p $PORT0 -h /tmp/${i}` }) });
      // From the push's return, as a git server sends its hook after receiving the push.
      const started = performance.now();
      const body = pushPayload(commit);
      expect((await post(path, body, { 'x-signature': signatureOf(SECRET, body) })).status).toBe(202);
      await appliedAt(commit, 5);
      samples.push(performance.now() - started);
    }
    const sorted = [...samples].sort((a, b) => a - b);
    const p50 = percentile(sorted, 50);
    const p99 = percentile(sorted, 99);
    console.log(`webhook push → applied over ${COMMITS} commits: p50 ${p50.toFixed(0)} ms, p99 ${p99.toFixed(0)} ms, min ${sorted[0]!.toFixed(0)} ms`);
    expect(samples).toHaveLength(COMMITS);
    // The target is ≤ 1 s at p50; bounded generously here so a loaded machine does not fail it.
    expect(p50).toBeLessThan(3_000);
  });
});

describe('capstan controllers --webhook-listen / --webhook-secret-file', () => {
  const db = useStore(builtinRegistry(), { clearEachTest: true });
  let home: string;
  let repo: TestGitRepo;
  beforeEach(async () => {
    home = await mkdtemp(join(tmpdir(), 'capstan-webhook-home-'));
    repo = await createGitRepo();
  });
  afterEach(async () => {
    await repo.dispose();
    await rm(home, { recursive: true, force: true });
  });

  it('creates a secret file readable by its owner only, prints where the receiver listens, and a POST signed with that file lands a commit', { timeout: 60_000 }, async () => {
    const secretFile = join(home, 'hook-secret');
    const running = startCapstan(
      ['controllers', '--only', 'gitrepositories,syncs', '--webhook-listen', '127.0.0.1:0', '--webhook-secret-file', secretFile, '--git-cache-dir', join(home, 'git')],
      { etcd: db.etcd.url, home },
    );
    try {
      const url = await until(() => /gitops webhook receiver on (http:\/\/127\.0\.0\.1:\d+)\/hook\/<token>/.exec(running.stderr())?.[1], { ...WAIT, what: `the receiver's URL: ${running.stderr()}` });
      expect((await stat(secretFile)).mode & 0o777).toBe(0o600);
      const secret = Buffer.from((await readFile(secretFile, 'utf8')).trim());
      expect(secret.length).toBe(64);

      const first = await repo.commit({ 'apps/web.yaml': appYaml('web') });
      await db.store.create({ apiVersion: 'capstan/v1', kind: 'GitRepository', metadata: { name: 'repo', namespace: NS }, spec: { url: repo.fileUrl, interval: '1h' } });
      await db.store.create({ apiVersion: 'capstan/v1', kind: 'Sync', metadata: { name: 'shop', namespace: NS }, spec: { sourceRef: { name: 'repo' }, path: 'apps' } });
      const path = await until(async () => ((await db.store.get('GitRepository', { namespace: NS, name: 'repo' }))?.status as GitRepositoryStatus | undefined)?.webhookPath, { ...WAIT, what: 'status.webhookPath' });
      expect(path).toBe(webhookPath(secret, { namespace: NS, name: 'repo' }));
      await until(async () => ((await db.store.get('Sync', { namespace: NS, name: 'shop' }))?.status as SyncStatus | undefined)?.lastAppliedRevision === first, { ...WAIT, what: 'the first commit' });

      const second = await repo.commit({ 'apps/api.yaml': appYaml('api') });
      const response = await fetch(`${url}${path}`, { method: 'POST', body: '{}', headers: { 'x-signature': signatureOf(secret, '{}') } });
      expect(response.status).toBe(202);
      await until(async () => ((await db.store.get('Sync', { namespace: NS, name: 'shop' }))?.status as SyncStatus | undefined)?.lastAppliedRevision === second, { ...WAIT, what: 'the pushed commit' });
      expect(await db.store.get('App', { namespace: NS, name: 'api' })).toBeDefined();
    } finally {
      running.interrupt();
    }
    expect((await running.done).code).toBe(0);
  });

  it('a malformed --webhook-listen, an empty secret file and a taken port are usage errors that say what to do', async () => {
    const bad = await capstan(['controllers', '--webhook-listen', '9292'], { etcd: db.etcd.url, home });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--webhook-listen: expected HOST:PORT .* or off, found "9292"/);

    const empty = join(home, 'empty-secret');
    await writeFile(empty, '\n');
    const noSecret = await capstan(['controllers', '--only', 'gitrepositories', '--webhook-listen', '127.0.0.1:0', '--webhook-secret-file', empty], { etcd: db.etcd.url, home });
    expect(noSecret.code).toBe(2);
    expect(noSecret.stderr).toMatch(/webhook secret file .* is empty/);

    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const inUse = await capstan(['controllers', '--only', 'gitrepositories', '--webhook-listen', `127.0.0.1:${port}`, '--webhook-secret-file', join(home, 's')], { etcd: db.etcd.url, home });
      expect(inUse.code).toBe(2);
      expect(inUse.stderr).toMatch(new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the port is taken.*--webhook-listen off`));
    } finally {
      taken.close();
    }
  });
});
