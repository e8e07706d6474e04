// npm run bench:gitops — the gitops controllers (`gitrepositories`, `syncs`) against real git and a
// real etcd, each figure beside a baseline measured in the same run on the same machine:
//   (a) the first sync of a repository of 1,000 App manifests (GitRepository + Sync created → Sync
//       Ready at the commit) vs `capstan apply -f` of the same files into another namespace of the
//       same etcd (runCli in this process: the code `bin/capstan.js apply -f DIR` runs, without
//       node's start-up); BENCH_ROUNDS rounds (default 3), each with a fresh repository and namespaces
//   (b) a no-op sync: the Sync stamped with capstan.io/requestedAt at an unchanged commit → handled
//   (c) push → applied: 20 commits each changing one App, announced right after the push by a signed
//       POST to the webhook receiver (controllers/gitops/webhook.ts), and 20 more by stamping the
//       GitRepository as `capstan sync now --no-wait` does → the App written; vs `git push` +
//       `git ls-remote` alone
//   (d) RSS of a process running only the gitops controllers with that repository synced vs the same
//       process before the sync (bench/gitops-rss.ts, on an etcd of its own)
// The controllers of (a)-(c) run in this process, only those two (runControllers's `only`).
import { spawn, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { pino } from 'pino';
import type { SyncStatus } from '../api/kinds/sync.ts';
import { REQUESTED_AT_ANNOTATION } from '../api/kinds/wellknown.ts';
import { isStoreError } from '../api/errors.ts';
import { getCondition, type AnyObject } from '../api/object.ts';
import type { Store } from '../api/store.ts';
import { bundled } from '../bin/bundle.js';
import { runCli } from '../cli/program.ts';
import { runControllers } from '../controllers/builtin.ts';
import { signatureOf, webhookPath } from '../controllers/gitops/webhook-auth.ts';
import { createGitRepo, type TestGitRepo } from '../test/helpers/git.ts';
import { appYaml } from '../test/helpers/manifests.ts';
import { until } from '../test/helpers/poll.ts';
import { onInterrupt } from './interrupt.ts';
import { startBenchEtcd } from './local-etcd.ts';
import { percentile, printTable } from './report.ts';

const APPS = 1_000;
const PUSHES = 20;
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const GITOPS_NAMESPACE = 'gitops';
/** Round r applies into apply-r and syncs into gitops (round 0) or gitops-r. */
const applyNamespace = (round: number) => `apply-${round}`;
const syncNamespace = (round: number) => (round === 0 ? GITOPS_NAMESPACE : `${GITOPS_NAMESPACE}-${round}`);
/** Generous: a sync that has not landed by then is broken, not slow. */
const FIRST_SYNC_DEADLINE_MS = 180_000;
const STEP_DEADLINE_MS = 30_000;
const POLL_MS = 5;

const exec = promisify(execFile);

const say = {
  applyFailed: (code: number, output: string) => `capstan apply -f exited ${code}: ${output}`,
  applyCount: (namespace: string, found: number) => `capstan apply -f wrote ${found} Apps in namespace ${namespace}, expected ${APPS}`,
  syncCount: (namespace: string, inventory: number, found: number) => `the first sync into ${namespace} holds ${inventory} objects and wrote ${found} Apps, expected ${APPS}`,
  notSynced: (namespace: string, revision: string) => `Sync ${namespace}/bench to be Ready at ${revision.slice(0, 7)}`,
  notHandled: (stamp: string) => `Sync ${GITOPS_NAMESPACE}/bench to handle ${REQUESTED_AT_ANNOTATION}=${stamp}`,
  noopWrote: `a sync of an unchanged commit rewrote Apps in namespace ${GITOPS_NAMESPACE}: it should write none`,
  hookRefused: (status: number, text: string) => `the webhook receiver answered ${status}, expected 202: ${text.trim()}`,
  notLanded: (app: string, revision: string, cmd: string, via: Trigger) => `App ${GITOPS_NAMESPACE}/${app} to carry ${revision.slice(0, 7)}'s "${cmd}" (triggered by ${via})`,
  rssFailed: (code: number | null, output: string) => `the gitops-rss child exited ${code}: ${output}`,
};

/** The files of the repository: apps/app-N.yaml, one process App each (nothing runs: no agents). */
function appFiles(cmdOf: (i: number) => string = () => 'sleep 1000'): Record<string, string> {
  return Object.fromEntries(Array.from({ length: APPS }, (_, i) => [`apps/app-${i}.yaml`, appYaml(`app-${i}`, { driver: 'process', cmd: cmdOf(i) })]));
}

async function applyBaseline(url: string, files: Record<string, string>, namespace: string) {
  const dir = mkdtempSync(join(tmpdir(), 'capstan-bench-gitops-apply-'));
  const undo = onInterrupt('the apply files', () => rmSync(dir, { recursive: true, force: true }));
  try {
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(join(dir, 'apps'), { recursive: true });
      writeFileSync(join(dir, path), content);
    }
    let output = '';
    const sink = new PassThrough();
    sink.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-2_000)));
    const start = performance.now();
    const code = await runCli({
      argv: ['apply', '-n', namespace, '-f', join(dir, 'apps')],
      env: { CAPSTAN_ETCD: url, NO_COLOR: '1' },
      stdout: sink as never,
      stderr: sink as never,
      stdin: new PassThrough(),
      cwd: process.cwd(),
      homedir: dir,
    });
    const seconds = (performance.now() - start) / 1000;
    if (code !== 0) throw new Error(say.applyFailed(code, output));
    return seconds;
  } finally {
    rmSync(dir, { recursive: true, force: true });
    undo();
  }
}

const syncStatus = async (store: Store, namespace = GITOPS_NAMESPACE) => (await store.get('Sync', { namespace, name: 'bench' }))?.status as SyncStatus | undefined;

const readyAt = (store: Store, revision: string, timeoutMs: number, namespace = GITOPS_NAMESPACE) =>
  until(
    async () => {
      const status = await syncStatus(store, namespace);
      return status?.lastAppliedRevision === revision && getCondition(status.conditions, 'Ready')?.status === 'True' && status;
    },
    { timeoutMs, intervalMs: POLL_MS, what: say.notSynced(namespace, revision) },
  );

/** Annotates the object with a fresh request stamp, as `capstan sync now` does; returns the stamp. */
async function stamp(store: Store, kind: 'Sync' | 'GitRepository'): Promise<string> {
  const value = new Date().toISOString() + `#${Math.random().toString(36).slice(2, 8)}`;
  for (;;) {
    const object = (await store.get(kind, { namespace: GITOPS_NAMESPACE, name: 'bench' })) as AnyObject;
    try {
      await store.update({ ...object, metadata: { ...object.metadata, annotations: { ...object.metadata.annotations, [REQUESTED_AT_ANNOTATION]: value } } });
      return value;
    } catch (error) {
      // A controller wrote its status in between: read again and retry.
      if (!isStoreError(error, 'Conflict')) throw error;
    }
  }
}

/** GitRepository + Sync created → the Sync Ready at `revision`; the seconds, checked to have written every App. */
async function firstSync(store: Store, repo: TestGitRepo, revision: string, namespace: string): Promise<number> {
  const start = performance.now();
  await store.create({ apiVersion: 'capstan/v1', kind: 'GitRepository', metadata: { name: 'bench', namespace }, spec: { url: repo.fileUrl, interval: '1h' } });
  await store.create({ apiVersion: 'capstan/v1', kind: 'Sync', metadata: { name: 'bench', namespace }, spec: { sourceRef: { name: 'bench' }, path: 'apps', prune: true } });
  const status = await readyAt(store, revision, FIRST_SYNC_DEADLINE_MS, namespace);
  const seconds = (performance.now() - start) / 1000;
  const written = (await store.list('App', { namespace })).items.length;
  if (status.inventory?.length !== APPS || written !== APPS) throw new Error(say.syncCount(namespace, status.inventory?.length ?? 0, written));
  return seconds;
}

/**
 * ROUNDS rounds, each `capstan apply -f` of the files into a fresh namespace and then the first sync
 * of a repository of its own (a fresh clone) into another; the median of each.
 */
async function benchFirstSyncs(store: Store, url: string, repos: TestGitRepo[], files: Record<string, string>) {
  const revisions = await Promise.all(repos.map((repo) => repo.commit(files, `${APPS} Apps`)));
  const apply: number[] = [];
  const sync: number[] = [];
  for (const [round, repo] of repos.entries()) {
    apply.push(await applyBaseline(url, files, applyNamespace(round)));
    const applied = (await store.list('App', { namespace: applyNamespace(round) })).items.length;
    if (applied !== APPS) throw new Error(say.applyCount(applyNamespace(round), applied));
    sync.push(await firstSync(store, repo, revisions[round]!, syncNamespace(round)));
  }
  return { applySeconds: percentile(apply, 0.5), syncSeconds: percentile(sync, 0.5), apply, sync };
}

/** The Apps the Sync wrote, name → resourceVersion: equal before and after a sync that writes nothing. */
const appVersions = async (store: Store) =>
  JSON.stringify((await store.list('App', { namespace: GITOPS_NAMESPACE })).items.map((o) => [o.metadata.name, o.metadata.resourceVersion]).sort());

async function benchNoop(store: Store) {
  const versions = await appVersions(store);
  const times: number[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    const start = performance.now();
    const value = await stamp(store, 'Sync');
    await until(async () => (await syncStatus(store))?.lastHandledRequestedAt === value, { timeoutMs: STEP_DEADLINE_MS, intervalMs: POLL_MS, what: say.notHandled(value) });
    times.push(performance.now() - start);
  }
  if ((await appVersions(store)) !== versions) throw new Error(say.noopWrote);
  return percentile(times, 0.5);
}

type Trigger = 'webhook' | 'sync now';

/** What tells the controllers about a push: a signed POST to the receiver, or the stamp `sync now --no-wait` writes. */
function triggers(store: Store, webhook: { url: string; secret: Uint8Array }): Record<Trigger, (revision: string) => Promise<void>> {
  const path = webhookPath(webhook.secret, { namespace: GITOPS_NAMESPACE, name: 'bench' });
  return {
    async webhook(revision) {
      const body = JSON.stringify({ ref: 'refs/heads/main', after: revision });
      const response = await fetch(`${webhook.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-signature': signatureOf(webhook.secret, body) }, body });
      if (response.status !== 202) throw new Error(say.hookRefused(response.status, await response.text()));
    },
    'sync now': async () => void (await stamp(store, 'GitRepository')),
  };
}

/**
 * PUSHES commits per trigger, the triggers taking turns (so both see the same load), each commit
 * changing one App: from before the push until the App carries the change. The baseline of each
 * commit: its push, plus `git ls-remote` (what a poller does first) timed after it landed.
 */
async function benchPushes(store: Store, repo: TestGitRepo, trigger: Record<Trigger, (revision: string) => Promise<void>>) {
  const names = Object.keys(trigger) as Trigger[];
  const applied = new Map<Trigger, number[]>(names.map((name) => [name, []]));
  const pushOnly: number[] = [];
  const baseline: number[] = [];
  for (let n = 0; n < PUSHES * names.length; n += 1) {
    const via = names[n % names.length]!;
    const app = `app-${(n * 37) % APPS}`;
    const cmd = `sleep ${2000 + n}`;
    const start = performance.now();
    const revision = await repo.commit({ [`apps/${app}.yaml`]: appYaml(app, { driver: 'process', cmd }) }, `bench push ${n}`);
    const pushed = performance.now();
    await trigger[via](revision);
    await until(
      async () => {
        const object = await store.get('App', { namespace: GITOPS_NAMESPACE, name: app });
        return (object?.spec as { containers: { cmd: string }[] } | undefined)?.containers[0]?.cmd === cmd;
      },
      { timeoutMs: STEP_DEADLINE_MS, intervalMs: POLL_MS, what: say.notLanded(app, revision, cmd, via) },
    );
    applied.get(via)!.push(performance.now() - start);
    pushOnly.push(pushed - start);
    const lsStart = performance.now();
    await exec('git', ['ls-remote', repo.fileUrl, 'refs/heads/main']);
    baseline.push(pushed - start + (performance.now() - lsStart));
    await readyAt(store, revision, STEP_DEADLINE_MS); // the commit whole before the next push
  }
  const figures = (values: number[]) => ({ p50: percentile(values, 0.5), p99: percentile(values, 0.99) });
  return { applied: new Map([...applied].map(([via, values]) => [via, figures(values)])), push: figures(pushOnly), baseline: figures(baseline) };
}

async function benchRss(repo: TestGitRepo, revision: string) {
  const etcd = await startBenchEtcd();
  const cacheDir = mkdtempSync(join(tmpdir(), 'capstan-bench-gitops-rss-cache-'));
  try {
    // The child runs the way `capstan controllers` runs: from the esbuild bundle bin/ makes.
    const script = await bundled('bench/gitops-rss.ts');
    return await new Promise<{ before: number; after: number; objects: number }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--expose-gc', script], {
        env: { ...process.env, CAPSTAN_ETCD: etcd.url, BENCH_GIT_URL: repo.fileUrl, BENCH_GIT_CACHE: cacheDir, BENCH_GIT_REVISION: revision },
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 240_000,
      });
      const undo = onInterrupt('the gitops-rss child', () => child.kill('SIGKILL'));
      let out = '';
      let err = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (err = (err + chunk.toString()).slice(-4_000)));
      child.on('exit', (code) => {
        undo();
        if (code === 0) resolve(JSON.parse(out));
        else reject(new Error(say.rssFailed(code, err || out)));
      });
    });
  } finally {
    await etcd.stop();
    rmSync(cacheDir, { recursive: true, force: true });
  }
}

async function main() {
  const etcd = await startBenchEtcd();
  const repos = await Promise.all(Array.from({ length: ROUNDS }, (_, round) => createGitRepo(`bench-${round}`)));
  const repo = repos[0]!;
  const cacheDir = mkdtempSync(join(tmpdir(), 'capstan-bench-gitops-cache-'));
  const secret = randomBytes(32);
  const disposeRepos = () => Promise.all(repos.map((r) => r.dispose()));
  const undoFiles = onInterrupt('the repositories and git cache', async () => {
    await disposeRepos();
    rmSync(cacheDir, { recursive: true, force: true });
  });
  const controllers = await runControllers({
    store: etcd.store,
    only: ['gitrepositories', 'syncs'],
    leaderElection: false,
    handleSignals: false,
    logger: pino({ level: 'silent' }),
    gitCacheDir: cacheDir,
    webhook: { host: '127.0.0.1', port: 0, secret },
  });
  const undoControllers = onInterrupt('the gitops controllers', () => controllers.stop());
  try {
    const { stdout: gitVersion } = await exec('git', ['--version']);
    console.log(`capstan bench:gitops — etcd ${etcd.url}, ${gitVersion.trim()}, node ${process.version}\n`);
    const first = await benchFirstSyncs(etcd.store, etcd.url, repos, appFiles());
    const noopMs = await benchNoop(etcd.store);
    const pushes = await benchPushes(etcd.store, repo, triggers(etcd.store, { url: controllers.webhookUrl!, secret }));
    await controllers.stop();
    undoControllers();
    const rss = await benchRss(repo, await repo.commit({}, 'for the RSS run'));

    const syncRate = APPS / first.syncSeconds;
    const applyRate = APPS / first.applySeconds;
    const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
    printTable([
      ['figure', 'capstan', 'baseline', 'ratio / target'],
      [`(a) first sync of ${APPS} Apps, objects/s (p50 of ${ROUNDS})`, `${syncRate.toFixed(0)} (${first.syncSeconds.toFixed(2)} s)`, `${applyRate.toFixed(0)} apply -f (${first.applySeconds.toFixed(2)} s)`, `${(syncRate / applyRate).toFixed(2)} (target ≥ 0.8)`],
      [`(b) no-op sync, unchanged commit, ms (p50 of ${ROUNDS})`, noopMs.toFixed(0), '-', 'wrote no App (checked)'],
      ...[...pushes.applied].flatMap(([via, { p50, p99 }]) => [
        [`(c) push → applied via ${via}, p50 ms (${PUSHES} commits)`, p50.toFixed(0), `${pushes.baseline.p50.toFixed(0)} push + ls-remote`, `${pushes.push.p50.toFixed(0)} of it the push`],
        [`    push → applied via ${via}, p99 ms`, p99.toFixed(0), `${pushes.baseline.p99.toFixed(0)} push + ls-remote`, '(target ≤ 1000 ms)'],
      ]),
      [`(d) controllers RSS, ${rss.objects} objects synced, MB`, mb(rss.after), `${mb(rss.before)} before the sync`, ''],
    ]);
    const seconds = (values: number[]) => values.map((v) => v.toFixed(2)).join(' / ');
    console.log(`\n(a) by round, s: first sync ${seconds(first.sync)}; apply -f ${seconds(first.apply)}`);
  } finally {
    await controllers.stop();
    undoControllers();
    await disposeRepos();
    rmSync(cacheDir, { recursive: true, force: true });
    undoFiles();
    await etcd.stop();
  }
}

await main();
