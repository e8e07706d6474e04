// npm run bench:api — the HTTP API (`capstan api`, a process of its own: api-server.ts) beside
// baselines measured in the same run on the same machine:
//
//   (1) writes: POST /v2/apps of APPS Marathon app definitions (process driver, small resources),
//       CONCURRENCY requests in flight, and again with WIDE_CONCURRENCY (Marathon's clients and
//       marathon-lb-style scripts send many requests at once, and the server writes concurrent POSTs
//       in groups, api/http/create-together.ts), beside `capstan apply -f` of the same definitions in
//       one JSON file (an array of apps), CLI start-up included as a user pays it. Each on a fresh etcd
//       (and API server) of its own; no controllers run: both only write (the API's writes go through
//       the same apply engine, one app per request).
//   (2) reads: GET /v2/apps?embed=apps.tasks on the store of (1) plus TASKS_PER_APP tasks per app,
//       written directly as Running Tasks bound to simulated Nodes (create-many.ts): p50/p99 of
//       READS sequential requests to the last byte, beside a raw etcd range read of the same keys
//       (the App and Task prefixes: spec, status and binding) and GET /ping (the HTTP round trip).
//   (3) event fan-out: SUBSCRIBERS clients of GET /v2/events (a process of their own:
//       api-subscribers.ts) while an App of INSTANCES instances is posted and then upgraded through
//       the API; first the same with one subscriber, for the lag without fan-out (each round on a
//       fresh etcd and API server). The built-in rollout, replicas, scheduler, nodes and gc
//       controllers run in this process over simulated nodes; the agents are played here
//       (api-fake-agent.ts): a bound task turns Running. The lag of each Running write (timed as it is sent) to each subscriber's
//       status_update_event, beside the same writes seen by a raw etcd watch in this process; the
//       API server's RSS idle and with the subscribers attached (the most seen during the rollout).
//
// Each wait has a deadline; Ctrl-C or SIGTERM stops the API server, the subscribers and etcd
// (interrupt.ts).
import { spawn, fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { partPrefix, refKeyFromKey } from '../api/keys.ts';
import { templateOf, type AppSpec } from '../api/kinds/app.ts';
import { parseMarathonTaskId } from '../api/marathon/ids.ts';
import { API_VERSION, type AnyObject, type CapstanObject } from '../api/object.ts';
import type { Store } from '../api/store.ts';
import { runControllers } from '../controllers/builtin.ts';
import { until } from '../test/helpers/poll.ts';
import { createSimulatedNodes, now, startFakeAgent, type FakeAgent } from './api-fake-agent.ts';
import { startApiServerProcess, type BenchApiServer } from './api-server.ts';
import type { Report, Request } from './api-subscribers.ts';
import { createMany } from './create-many.ts';
import { untilRolledOut } from './deadline.ts';
import { onInterrupt } from './interrupt.ts';
import { pool, startBenchEtcd, type BenchEtcd } from './local-etcd.ts';
import { percentile, printTable } from './report.ts';

const APPS = 1_000;
const CONCURRENCY = 16;
const WIDE_CONCURRENCY = 64;
const TASKS_PER_APP = 5;
const READ_NODES = 50;
const READS = 200;
const WARM_UP_READS = 10;
const SUBSCRIBERS = 100;
const INSTANCES = 100;
const ROLLOUT_NODES = 5;
const GROUP = 'bench';
const CAPSTAN = fileURLToPath(new URL('../bin/capstan.js', import.meta.url));
/** Writing 1,000 apps takes seconds; well past that, something is stuck. */
const WRITE_TIMEOUT_MS = 300_000;
const ROLLOUT_TIMEOUT_SECONDS = 120;
/** Events of a finished rollout reach every subscriber within milliseconds; this long means lost. */
const DELIVERY_TIMEOUT_MS = 30_000;
const RSS_SAMPLE_MS = 100;

type App = CapstanObject<AppSpec>;

const say = {
  header: (cpus: number) => `capstan bench:api — node ${process.version}, ${cpus} CPUs; the API server is \`node bin/capstan.js api\`, a process of its own\n`,
  applyFailed: (code: number | null, stderr: string) => `capstan apply -f exited with code ${code}:\n${stderr}`,
  postFailed: (id: string, status: number, body: string) => `POST /v2/apps ${id} answered ${status}: ${body}`,
  requestFailed: (request: string, status: number, body: string) => `${request} answered ${status}: ${body}`,
  notWritten: (what: string, found: number) => `${what}: expected ${APPS} Apps in the store, found ${found}`,
  agentFailures: (failures: string[]) => `the simulated agent's writes failed: ${failures.slice(0, 3).join('; ')}`,
  subscribersExited: (code: number | null) => `the subscribers' process exited (code ${code})`,
  section: (title: string) => `\n${title}`,
};

async function main() {
  console.log(say.header(cpus().length));
  await writes();
  await fanOut();
}

/** (1) and (2): the API's store is kept for the reads. */
async function writes(): Promise<void> {
  const definitions = Array.from({ length: APPS }, (_, i) => marathonApp(`/${GROUP}/app-${String(i).padStart(4, '0')}`));
  // bin/capstan.js bundles the CLI on its first run after a change: not the figure's to pay.
  await run([CAPSTAN, '--help'], {});
  const applied = await timeApply(definitions);
  const wide = await timePostsAlone(definitions, WIDE_CONCURRENCY);
  const etcd = await startBenchEtcd();
  let server: BenchApiServer | undefined;
  try {
    server = await startApiServerProcess(etcd.url);
    const posted = await timePosts(server.url, definitions, CONCURRENCY);
    await expectApps(etcd.store, 'POST /v2/apps');
    console.log(say.section(`(1) writing ${APPS} Marathon apps (no controllers; each on a fresh etcd)`));
    const postRow = (concurrency: number, timed: { ms: number; latencies: number[] }) =>
      [`POST /v2/apps, ${concurrency} in flight`, seconds(timed.ms), rate(timed.ms), `${ms(percentile(timed.latencies, 0.5))} / ${ms(percentile(timed.latencies, 0.99))}`, (applied / timed.ms).toFixed(2)];
    printTable([
      ['writer', 'wall time', 'apps/s', 'per request p50 / p99', 'apps/s ratio to apply'],
      postRow(CONCURRENCY, posted),
      postRow(WIDE_CONCURRENCY, wide),
      ['baseline: capstan apply -f (one file, CLI start-up included)', seconds(applied), rate(applied), '-', '1.00'],
    ]);
    await reads(etcd, server);
  } finally {
    await server?.stop();
    await etcd.stop();
  }
}

/** A Marathon app definition as a user posts it: the process driver (no container), small resources. */
function marathonApp(id: string): Record<string, unknown> {
  return { id, cmd: 'sleep 1000', cpus: 0.01, mem: 8, instances: 1, portDefinitions: [{ port: 0, name: 'http' }], labels: { tier: 'bench' } };
}

/** Milliseconds of `capstan apply -f` of the definitions as one JSON file, on a fresh etcd. */
async function timeApply(definitions: readonly Record<string, unknown>[]): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'capstan-bench-api-'));
  const file = join(dir, 'apps.json');
  writeFileSync(file, JSON.stringify(definitions, null, 2));
  const etcd = await startBenchEtcd();
  try {
    const start = performance.now();
    const { code, stderr } = await run([CAPSTAN, 'apply', '-f', file], { CAPSTAN_ETCD: etcd.url });
    const elapsed = performance.now() - start;
    if (code !== 0) throw new Error(say.applyFailed(code, stderr));
    await expectApps(etcd.store, 'capstan apply -f');
    return elapsed;
  } finally {
    await etcd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function run(argv: string[], env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, argv, { env: { ...process.env, ...env, NO_COLOR: '1', CAPSTAN_DEBUG: undefined }, stdio: ['ignore', 'ignore', 'pipe'] });
  const undo = onInterrupt('capstan CLI', () => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), WRITE_TIMEOUT_MS);
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(timer);
      undo();
      resolve({ code, stderr });
    }),
  );
}

/** timePosts on a fresh etcd and API server of their own, stopped afterwards. */
async function timePostsAlone(definitions: readonly Record<string, unknown>[], concurrency: number): Promise<{ ms: number; latencies: number[] }> {
  const etcd = await startBenchEtcd();
  let server: BenchApiServer | undefined;
  try {
    server = await startApiServerProcess(etcd.url);
    const posted = await timePosts(server.url, definitions, concurrency);
    await expectApps(etcd.store, `POST /v2/apps, ${concurrency} in flight`);
    return posted;
  } finally {
    await server?.stop();
    await etcd.stop();
  }
}

async function timePosts(url: string, definitions: readonly Record<string, unknown>[], concurrency: number): Promise<{ ms: number; latencies: number[] }> {
  const latencies: number[] = [];
  const start = performance.now();
  await pool(definitions, concurrency, async (definition) => {
    const sent = performance.now();
    const response = await fetch(`${url}/v2/apps`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(definition), signal: AbortSignal.timeout(WRITE_TIMEOUT_MS) });
    const body = await response.text();
    if (response.status !== 201) throw new Error(say.postFailed(String(definition['id']), response.status, body));
    latencies.push(performance.now() - sent);
  });
  return { ms: performance.now() - start, latencies };
}

async function expectApps(store: Store, what: string): Promise<void> {
  const found = (await store.list('App', { namespace: GROUP })).items.length;
  if (found !== APPS) throw new Error(say.notWritten(what, found));
}

/** (2): the posted apps get their tasks, then the reads are timed. */
async function reads(etcd: BenchEtcd, server: BenchApiServer): Promise<void> {
  await createReadNodes(etcd.store);
  const apps = (await etcd.store.list<App>('App', { namespace: GROUP })).items;
  await createMany(etcd.store, apps.flatMap((app, a) => Array.from({ length: TASKS_PER_APP }, (_, i) => runningTask(app, a * TASKS_PER_APP + i))));
  const embedded = `${server.url}/v2/apps?embed=apps.tasks`;
  const counts = async () => {
    const body = (await (await fetch(embedded)).json()) as { apps: { tasks?: unknown[] }[] };
    return { apps: body.apps.length, tasks: body.apps.reduce((sum, app) => sum + (app.tasks?.length ?? 0), 0) };
  };
  // The server's informers catch up with the created tasks a moment after the writes.
  await until(async () => {
    const seen = await counts();
    return seen.apps === APPS && seen.tasks === APPS * TASKS_PER_APP;
  }, { timeoutMs: 60_000, what: `GET /v2/apps?embed=apps.tasks showing ${APPS} apps and ${APPS * TASKS_PER_APP} tasks` });
  const bytes = (await (await fetch(embedded)).arrayBuffer()).byteLength;
  const embed = await timeRequests(() => fetch(embedded).then((r) => r.arrayBuffer()));
  const ping = await timeRequests(() => fetch(`${server.url}/ping`).then((r) => r.arrayBuffer()));
  const prefixes = [...(['spec', 'status'] as const).map((part) => partPrefix(part, etcd.store.kind('App'))), ...(['spec', 'status', 'binding'] as const).map((part) => partPrefix(part, etcd.store.kind('Task')))];
  let rawBytes = 0;
  const raw = await timeRequests(async () => {
    const ranges = await Promise.all(prefixes.map((prefix) => etcd.client.getAll().prefix(prefix).buffers()));
    rawBytes = ranges.reduce((sum, range) => sum + Object.values(range).reduce((s, value) => s + value.byteLength, 0), 0);
  });
  console.log(say.section(`(2) reading ${APPS} apps with ${APPS * TASKS_PER_APP} Running tasks, ${READS} sequential requests after ${WARM_UP_READS} to warm up`));
  printTable([
    ['read', 'p50', 'p99', 'max', 'response'],
    ['GET /v2/apps?embed=apps.tasks', ms(percentile(embed, 0.5)), ms(percentile(embed, 0.99)), ms(Math.max(...embed)), mib(bytes)],
    [`baseline: raw etcd range read of the App and Task prefixes (${prefixes.length} ranges in parallel)`, ms(percentile(raw, 0.5)), ms(percentile(raw, 0.99)), ms(Math.max(...raw)), mib(rawBytes)],
    ['baseline: GET /ping', ms(percentile(ping, 0.5)), ms(percentile(ping, 0.99)), ms(Math.max(...ping)), '4 B'],
  ]);
  console.log(`API server RSS with ${APPS} apps and ${APPS * TASKS_PER_APP} tasks cached: ${server.rssMiB().toFixed(0)} MiB`);
}

async function createReadNodes(store: Store): Promise<void> {
  await pool(Array.from({ length: READ_NODES }, (_, i) => i), 16, (i) =>
    store.create({
      apiVersion: API_VERSION,
      kind: 'Node',
      metadata: { name: `read-${i}` },
      spec: { address: `10.0.${Math.floor(i / 250)}.${(i % 250) + 1}`, attributes: { hostname: `read-${i}` }, capacity: { cpus: 64, mem: 65_536 }, portRange: { from: 31_000, to: 31_999 } },
    }),
  );
}

/** Task `index` of the App, bound to a node and Running, as the scheduler and an agent would leave it. */
function runningTask(app: App, index: number): AnyObject {
  const name = `${app.metadata.name}-${index % TASKS_PER_APP}`;
  return {
    apiVersion: API_VERSION,
    kind: 'Task',
    metadata: { name, namespace: app.metadata.namespace, labels: { 'capstan.io/app': app.metadata.name } },
    spec: { app: app.metadata.name, revision: 1, template: templateOf(app.spec), nodeName: `read-${index % READ_NODES}`, hostPorts: [31_000 + (index % 1_000)] },
    status: { phase: 'Running', startedAt: new Date().toISOString() },
  };
}

/** Milliseconds of each of READS sequential calls, after WARM_UP_READS untimed. */
async function timeRequests(request: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < WARM_UP_READS; i++) await request();
  const latencies: number[] = [];
  for (let i = 0; i < READS; i++) {
    const start = performance.now();
    await request();
    latencies.push(performance.now() - start);
  }
  return latencies;
}

/** (3): a round with one subscriber (the lag without fan-out), then one with SUBSCRIBERS. */
async function fanOut(): Promise<void> {
  const rounds = [await fanOutRound(1), await fanOutRound(SUBSCRIBERS)];
  const last = rounds.at(-1)!;
  console.log(
    say.section(
      `(3) event fan-out: /roll (${INSTANCES} instances) posted and then upgraded through the API on ${ROLLOUT_NODES} simulated nodes (start ${last.seconds.start.toFixed(1)} s, upgrade ${last.seconds.upgrade.toFixed(1)} s); lag from each of the ${last.writes} Running writes (timed as sent) to its receipt`,
    ),
  );
  const row = (receiver: string, lags: number[], expected: number) => [receiver, `${lags.length} of ${expected}`, ms(percentile(lags, 0.5)), ms(percentile(lags, 0.99)), ms(Math.max(...lags))];
  printTable([
    ['receiver', 'deliveries', 'lag p50', 'lag p99', 'max'],
    ...rounds.flatMap((round) => [
      row(`GET /v2/events, ${round.subscribers} subscriber${round.subscribers === 1 ? '' : 's'} (status_update_event TASK_RUNNING)`, round.sseLags, round.writes * round.subscribers),
      row('  baseline: raw etcd watch of the same round, in the bench process', round.watchLags, round.writes),
    ]),
  ]);
  console.log();
  printTable([
    ['API server RSS', 'MiB'],
    ['idle (no subscriber)', last.idleRss.toFixed(0)],
    ...rounds.flatMap((round) => [
      [`${round.subscribers} subscriber${round.subscribers === 1 ? '' : 's'} attached`, round.attachedRss.toFixed(0)],
      [`${round.subscribers} subscriber${round.subscribers === 1 ? '' : 's'}, most seen during the rollout`, round.peakRss.toFixed(0)],
    ]),
  ]);
  console.log(`with ${last.subscribers} subscribers: ${last.report.events} events (${mib(last.report.bytes)}) received in all; streams dropped: ${last.report.ended}`);
}

interface Round {
  subscribers: number;
  writes: number;
  sseLags: number[];
  watchLags: number[];
  report: Report;
  idleRss: number;
  attachedRss: number;
  peakRss: number;
  seconds: { start: number; upgrade: number };
}

/** One rollout watched by `count` subscribers, on a fresh etcd and API server. */
async function fanOutRound(count: number): Promise<Round> {
  const etcd = await startBenchEtcd();
  const { store, client } = etcd;
  const controllers = await runControllers({ store, leaderElection: false, logger: pino({ level: 'silent' }), handleSignals: false, only: ['rollout', 'replicas', 'scheduler', 'nodes', 'gc'] });
  const lease = await createSimulatedNodes(store, client, ROLLOUT_NODES);
  const agent = await startFakeAgent(store, client);
  const watchSeen = new Map<string, number>();
  const taskKind = store.kind('Task');
  const watcher = await client.watch().prefix(partPrefix('status', taskKind)).create();
  watcher.on('put', (kv) => {
    const key = refKeyFromKey(taskKind, kv.key.toString());
    if (!watchSeen.has(key) && (JSON.parse(kv.value.toString()) as { phase?: string }).phase === 'Running') watchSeen.set(key, now());
  });
  let server: BenchApiServer | undefined;
  let subscribers: Subscribers | undefined;
  let sampler: NodeJS.Timeout | undefined;
  try {
    server = await startApiServerProcess(etcd.url);
    await fetch(`${server.url}/v2/apps`).then((r) => r.arrayBuffer());
    const idleRss = server.rssMiB();
    subscribers = await startSubscribers(server.url, count);
    const attachedRss = server.rssMiB();
    let peakRss = attachedRss;
    sampler = setInterval(() => {
      peakRss = Math.max(peakRss, server!.rssMiB());
    }, RSS_SAMPLE_MS);
    const definition = { ...marathonApp('/roll'), instances: INSTANCES };
    const start = performance.now();
    await send(server.url, 'POST', '/v2/apps', definition, 201);
    await untilRolledOut({ store, namespace: 'default', app: 'roll', revision: 1, instances: INSTANCES, timeoutSeconds: ROLLOUT_TIMEOUT_SECONDS });
    const started = performance.now();
    await send(server.url, 'PUT', '/v2/apps/roll', { ...definition, cmd: 'sleep 2000' }, 200);
    await untilRolledOut({ store, namespace: 'default', app: 'roll', revision: 2, instances: INSTANCES, timeoutSeconds: ROLLOUT_TIMEOUT_SECONDS });
    const upgraded = performance.now();
    const writes = agent.runningWrittenAt.size;
    await until(async () => (await subscribers!.ask({ progress: 'TASK_RUNNING' }, 'progress')) >= writes, { timeoutMs: DELIVERY_TIMEOUT_MS, what: `${writes} TASK_RUNNING events at every subscriber` });
    if (agent.failures.length > 0) throw new Error(say.agentFailures(agent.failures));
    const report = await subscribers.ask({ report: true }, 'report');
    return {
      subscribers: count,
      writes,
      ...lagsOf(agent, watchSeen, report),
      report,
      idleRss,
      attachedRss,
      peakRss,
      seconds: { start: (started - start) / 1000, upgrade: (upgraded - started) / 1000 },
    };
  } finally {
    clearInterval(sampler);
    subscribers?.stop();
    await server?.stop();
    await watcher.cancel();
    await agent.stop();
    await controllers.stop();
    await lease.revoke().catch(() => undefined);
    await etcd.stop();
  }
}

async function send(url: string, method: string, path: string, body: unknown, expected: number): Promise<void> {
  const response = await fetch(`${url}${path}`, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await response.text();
  if (response.status !== expected) throw new Error(say.requestFailed(`${method} ${path}`, response.status, text));
}

/** Each Running write's lag to the raw watch, and to each subscriber's status_update_event TASK_RUNNING (matched by task uid). */
function lagsOf(agent: FakeAgent, watchSeen: ReadonlyMap<string, number>, report: Report): { sseLags: number[]; watchLags: number[] } {
  const watchLags = [...agent.runningWrittenAt].flatMap(([key, at]) => (watchSeen.has(key) ? [watchSeen.get(key)! - at] : []));
  const sseLags: number[] = [];
  for (const receipts of report.receipts) {
    for (const [taskId, state, at] of receipts) {
      const key = state === 'TASK_RUNNING' ? agent.keyOfUid.get(parseMarathonTaskId(taskId)?.uid ?? '') : undefined;
      const written = key === undefined ? undefined : agent.runningWrittenAt.get(key);
      if (written !== undefined) sseLags.push(at - written);
    }
  }
  return { sseLags, watchLags };
}

interface Subscribers {
  ask<K extends 'progress' | 'report'>(request: Request, reply: K): Promise<K extends 'report' ? Report : number>;
  stop(): void;
}

/** Forks api-subscribers.ts and waits for every stream to be attached. */
async function startSubscribers(url: string, count: number): Promise<Subscribers> {
  const child: ChildProcess = fork(fileURLToPath(new URL('./api-subscribers.ts', import.meta.url)), [url, String(count)], { execArgv: ['--import', 'tsx'] });
  const undo = onInterrupt('event subscribers', () => child.kill('SIGKILL'));
  const next = <T>(reply: string) =>
    new Promise<T>((resolve, reject) => {
      const onMessage = (message: Record<string, unknown>) => {
        if (!(reply in message)) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(message[reply] as T);
      };
      const onExit = (code: number | null) => reject(new Error(say.subscribersExited(code)));
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  await next<number>('attached');
  return {
    ask: (request, reply) => {
      const answer = next<never>(reply);
      child.send(request);
      return answer;
    },
    stop: () => {
      child.kill('SIGTERM');
      undo();
    },
  };
}

const ms = (value: number) => `${value.toFixed(1)} ms`;
const seconds = (milliseconds: number) => `${(milliseconds / 1000).toFixed(2)} s`;
const rate = (milliseconds: number) => (APPS / (milliseconds / 1000)).toFixed(0);
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

await main();
