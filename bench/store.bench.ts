// npm run bench:store — the store, informers and controller runtime against a real etcd, each figure
// beside a baseline measured in the same run on the same etcd:
//   (a) apply of 2,000 App manifests vs raw etcd puts of the same bytes from the same client
//   (b) watch-to-reconcile latency at 1,000 updates/s vs raw etcd put-to-watch latency
//   (c) RSS of a controller process holding 10,000 Apps in cache vs the same process empty
//   (d) a reconcile's lookup with 10,000 Tasks cached (the replicas controller's: a Revision's tasks,
//       by owner uid), through the cache's owner index vs scanning the cache with a filter
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { Etcd3 } from 'etcd3';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { z } from 'zod';
import { ObjectCache } from '../api/object-cache.ts';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import { Store } from '../api/store.ts';
import { runCli } from '../cli/program.ts';
import { done, type ControllerDefinition } from '../controllers/contract.ts';
import { Manager } from '../controllers/manager.ts';
import { bundled } from '../bin/bundle.js';
import { onInterrupt } from './interrupt.ts';
import { startBenchEtcd } from './local-etcd.ts';
import { percentile, printTable } from './report.ts';

const APPS = 2_000;
const UPDATES_PER_SECOND = 1_000;
const UPDATE_SECONDS = 5;
const CACHED_APPS = 10_000;
const CACHED_TASKS = 10_000;
const TASKS_PER_REVISION = 5;

function appManifest(i: number) {
  return {
    apiVersion: 'capstan/v1',
    kind: 'App',
    metadata: { name: `app-${i}`, namespace: `bench-${i % 10}`, labels: { tier: i % 2 ? 'front' : 'back' } },
    spec: {
      instances: 1 + (i % 5),
      driver: 'process',
      containers: [{ name: 'main', cmd: `busybox httpd -f -p $PORT0 -h /srv/${i}`, env: { INDEX: String(i) }, resources: { cpus: 0.1, mem: 32 } }],
      ports: [{ name: 'http', servicePort: 20_000 + i }],
      healthChecks: [{ protocol: 'HTTP', portIndex: 0, path: '/', gracePeriodSeconds: 5, intervalSeconds: 2, timeoutSeconds: 1 }],
      constraints: [['hostname', 'UNIQUE']],
    },
  };
}

async function benchApply(client: Etcd3, url: string) {
  const dir = mkdtempSync(join(tmpdir(), 'capstan-bench-'));
  const manifests = Array.from({ length: APPS }, (_, i) => appManifest(i));
  // YAML, as people write manifests (JSON is a subset and parses the same way).
  writeFileSync(join(dir, 'apps.yaml'), manifests.map((m) => stringify(m)).join('---\n'));

  // Baseline: the same bytes, put by the same client, with the same number of writes in flight.
  // (apply keeps 32 writes in flight; so does the baseline)
  const rawStart = performance.now();
  let next = 0;
  const writer = async () => {
    for (let i = next++; i < APPS; i = next++) await client.put(`/bench/raw/${i}`).value(JSON.stringify(manifests[i]));
  };
  await Promise.all(Array.from({ length: 32 }, writer));
  const rawSeconds = (performance.now() - rawStart) / 1000;

  const sink = new PassThrough();
  sink.resume();
  const run = (argv: string[]) =>
    runCli({ argv, env: { CAPSTAN_ETCD: url, NO_COLOR: '1' }, stdout: sink as never, stderr: sink as never, stdin: new PassThrough(), cwd: process.cwd(), homedir: dir });
  const applyStart = performance.now();
  const code = await run(['apply', '-f', join(dir, 'apps.yaml')]);
  const applySeconds = (performance.now() - applyStart) / 1000;
  if (code !== 0) throw new Error(`apply exited ${code}`);
  const againStart = performance.now();
  await run(['apply', '-f', join(dir, 'apps.yaml')]);
  const againSeconds = (performance.now() - againStart) / 1000;
  rmSync(dir, { recursive: true, force: true });
  return { applyRate: APPS / applySeconds, rawRate: APPS / rawSeconds, unchangedRate: APPS / againSeconds };
}

/** A minimal kind for the latency run: its spec carries the time it was written. */
const beatKind = {
  apiVersion: 'capstan/v1',
  kind: 'Beat',
  plural: 'beats',
  singular: 'beat',
  shortNames: [],
  namespaced: true,
  spec: z.object({ sentAt: z.number(), n: z.number() }),
};

async function benchLatency(client: Etcd3) {
  const registry = builtinRegistry().register(beatKind);
  const store = new Store(client, registry);
  const objects = 200;
  for (let i = 0; i < objects; i += 1) {
    await store.create({ apiVersion: 'capstan/v1', kind: 'Beat', metadata: { name: `b${i}`, namespace: 'bench' }, spec: { sentAt: 0, n: 0 } });
  }
  const latencies: number[] = [];
  const controller: ControllerDefinition = {
    name: 'beats',
    watches: [{ kind: 'Beat' }],
    concurrency: 8,
    async reconcile(key, ctx) {
      const beat = ctx.informer('Beat').get(key);
      const sentAt = (beat?.spec as { sentAt: number } | undefined)?.sentAt ?? 0;
      if (sentAt > 0) latencies.push(Date.now() - sentAt);
      return done();
    },
  };
  const manager = new Manager({ store, controllers: [controller], leaderElection: false, logger: pino({ level: 'silent' }) });
  await manager.start();
  await new Promise((resolve) => setTimeout(resolve, 500));

  // Baseline: put → watch event on the same etcd, at the same rate.
  const rawLatencies: number[] = [];
  const watcher = await client.watch().prefix('/bench/watch/').create();
  watcher.on('put', (kv) => rawLatencies.push(Date.now() - Number(kv.value.toString())));
  await stream(UPDATES_PER_SECOND, UPDATE_SECONDS, (n) => client.put(`/bench/watch/${n % objects}`).value(String(Date.now())).exec());
  await watcher.cancel();

  // Capstan: the same rate of spec updates (raw puts of valid objects, so the writer costs the
  // same as the baseline's), reconciled through informer → queue → reconcile.
  const templates = (await store.list('Beat', { namespace: 'bench' })).items;
  const streamed = await stream(UPDATES_PER_SECOND, UPDATE_SECONDS, (n) => {
    const base = templates[n % objects]!;
    const { resourceVersion: _rv, ...metadata } = base.metadata;
    return client.put(`/capstan/spec/beats/bench/${base.metadata.name}`).value(JSON.stringify({ ...base, metadata, spec: { sentAt: Date.now(), n } })).exec();
  });
  await new Promise((resolve) => setTimeout(resolve, 500));
  await manager.stop();
  return {
    achieved: streamed,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    rawP50: percentile(rawLatencies, 0.5),
    rawP99: percentile(rawLatencies, 0.99),
    reconciles: latencies.length,
  };
}

/** Issues `perSecond` writes a second for `seconds`, in 10 ms ticks; returns the achieved rate. */
async function stream(perSecond: number, seconds: number, write: (n: number) => Promise<unknown>): Promise<number> {
  const start = performance.now();
  const total = perSecond * seconds;
  const inFlight: Promise<unknown>[] = [];
  let n = 0;
  while (n < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * perSecond));
    while (n < due) inFlight.push(write(n++));
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await Promise.all(inFlight);
  return total / ((performance.now() - start) / 1000);
}

async function benchRss(client: Etcd3, url: string) {
  for (let i = 0; i < CACHED_APPS; i += 64) {
    const batch = Array.from({ length: Math.min(64, CACHED_APPS - i) }, (_, j) => i + j);
    await Promise.all(
      batch.map((k) => {
        const m = appManifest(k);
        return client.put(`/capstan/spec/apps/${m.metadata.namespace}/${m.metadata.name}`).value(
          JSON.stringify({ ...m, metadata: { ...m.metadata, uid: `uid-${k}`, generation: 1, creationTimestamp: new Date().toISOString() } }),
        );
      }),
    );
  }
  // The child runs the way `capstan controllers` runs: from the esbuild bundle bin/ makes.
  const script = await bundled('bench/cache-rss.ts');
  const measure = (apps: boolean) =>
    new Promise<number>((resolve, reject) => {
      const child = spawn(process.execPath, ['--expose-gc', script], {
        env: { ...process.env, CAPSTAN_ETCD: url, BENCH_WATCH_APPS: apps ? '1' : '0' },
        stdio: ['ignore', 'pipe', 'inherit'],
        timeout: 120_000,
      });
      const undo = onInterrupt('the cache-rss child', () => child.kill('SIGKILL'));
      child.once('exit', undo);
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.on('exit', (code) => (code === 0 ? resolve(Number(JSON.parse(out).rss)) : reject(new Error(`cache-rss exited ${code}`))));
    });
  const empty = await measure(false);
  const full = await measure(true);
  return { empty: empty / 2 ** 20, full: full / 2 ** 20 };
}

/**
 * In process, no etcd: an ObjectCache filled as a list fills it, then one lookup per Revision in
 * turn, the way a replicas reconcile asks for its tasks, timed over whole passes.
 */
function benchLookup() {
  const revisions = CACHED_TASKS / TASKS_PER_REVISION;
  const cache = new ObjectCache();
  const entries = Array.from({ length: CACHED_TASKS }, (_, i) => {
    const revision = i % revisions;
    const m = appManifest(revision);
    const task = {
      apiVersion: 'capstan/v1',
      kind: 'Task',
      metadata: {
        name: `task-${i}`,
        namespace: m.metadata.namespace,
        uid: `task-uid-${i}`,
        ownerReferences: [{ apiVersion: 'capstan/v1', kind: 'Revision', name: `app-${revision}-1`, uid: `revision-uid-${revision}`, controller: true }],
      },
      spec: { app: m.metadata.name, revision: 1, template: m.spec },
    };
    return { key: `${m.metadata.namespace}/task-${i}`, spec: { value: task, revision: BigInt(i + 1) } };
  });
  cache.replace(entries, false);
  const time = (passes: number, lookup: (uid: string) => readonly unknown[]) => {
    let found = 0;
    const start = performance.now();
    for (let pass = 0; pass < passes; pass += 1) {
      for (let r = 0; r < revisions; r += 1) found += lookup(`revision-uid-${r}`).length;
    }
    const micros = ((performance.now() - start) * 1000) / (passes * revisions);
    if (found !== passes * CACHED_TASKS) throw new Error(`lookup found ${found} tasks, expected ${passes * CACHED_TASKS}`);
    return micros;
  };
  const scan = (uid: string) => cache.list((t) => t.metadata.ownerReferences?.some((o) => o.uid === uid) ?? false);
  const index = (uid: string) => cache.byIndex('owner', uid);
  time(1, scan); // warm up both before timing either
  time(5, index);
  return { scan: time(1, scan), index: time(50, index) };
}

async function main() {
  const etcd = await startBenchEtcd();
  const { client } = etcd;
  try {
    console.log(`capstan bench:store — etcd ${etcd.url}, node ${process.version}\n`);
    const apply = await benchApply(client, etcd.url);
    const latency = await benchLatency(client);
    const rss = await benchRss(client, etcd.url);
    const lookup = benchLookup();
    printTable([
      ['figure', 'capstan', 'baseline', 'ratio / target'],
      [`(a) apply ${APPS} App manifests, objects/s`, apply.applyRate.toFixed(0), `${apply.rawRate.toFixed(0)} raw puts/s`, `${(apply.applyRate / apply.rawRate).toFixed(2)} (target ≥ 0.5)`],
      [`    re-apply unchanged, objects/s`, apply.unchangedRate.toFixed(0), '-', 'writes nothing'],
      [`(b) watch→reconcile p50, ms @ ${latency.achieved.toFixed(0)} updates/s`, latency.p50.toFixed(1), `${latency.rawP50.toFixed(1)} raw watch`, ''],
      [`    watch→reconcile p99, ms`, latency.p99.toFixed(1), `${latency.rawP99.toFixed(1)} raw watch`, '(target p99 ≤ 20 ms)'],
      [`(c) controller RSS, ${CACHED_APPS} Apps cached, MB`, rss.full.toFixed(0), `${rss.empty.toFixed(0)} empty cache`, '(target ≤ 150 MB)'],
      [`(d) a revision's tasks, ${CACHED_TASKS} Tasks cached, µs/lookup`, `${lookup.index.toFixed(2)} by index`, `${lookup.scan.toFixed(0)} scan`, `${(lookup.scan / lookup.index).toFixed(0)}× faster`],
    ]);
  } finally {
    await etcd.stop();
  }
}

await main();
