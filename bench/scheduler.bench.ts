// npm run bench:scheduler — the scheduler controller placing 10,000 Tasks onto 5,000 simulated Nodes,
// beside the raw etcd transaction rate for the same number of writes in the same run on the same etcd.
//
// Nodes have no agent: they are Node objects created with a Ready condition in their status, their
// lease keys on one lease; only the scheduler runs (through the Manager, no leader election), so
// nothing turns them NotReady. Tasks are created directly through the store the way the replicas
// controller makes them (owned by a Revision, phase Pending, a template with one port): 70% of a
// spread App, 10% of an App with hostname:UNIQUE, 10% with rack:GROUP_BY and 10% with @zone:GROUP_BY
// (nodes carry a fault domain: 10 zones over 2 regions), interleaved.
// A second process (scheduler-client.ts) creates the stream round's tasks and watches the bindings
// land, so this process runs the scheduler and nothing else while it is measured.
//
//   (a) stream: the scheduler runs, synced, while the 10,000 tasks arrive as one burst of batched
//       creates (create-many.ts, 42 per transaction); from the first create to the last binding
//       seen by a watch, and from the first binding to the last (the scheduler's throughput).
//   (b) backlog: 10,000 tasks already pending when the scheduler starts; from Manager.start() to
//       the last binding seen (informer list included), and from the first binding to the last.
//       Also the CPU this process spent per placement. BENCH_PROFILE=1 prints a CPU profile of it.
//   (c) upgrade: the backlog's 10,000 tasks stay bound as revision 1 while 10,000 of revision 2 are
//       pending, as in a rolling upgrade: constraints count only the placing task's revision
//       (Marathon's rule), host ports every task. Timed as (b), from a fresh start of the scheduler.
//   baselines: 10,000 bindings written by raw txns, values prepared beforehand: plain (one put of a
//       binding's value per key, 64 per txn, one txn in flight), and in the scheduler's own shape
//       (three compares, the binding and the node-index put per task, as many txns in flight).
//
// Every figure is measured BENCH_ROUNDS times (default 3), baselines and scheduler interleaved; the
// table shows the median and the range, and each ratio is taken within a round, then the median.
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { appSpecSchema, templateOf, type AppSpecInput } from '../api/kinds/app.ts';
import { nodeLeaseKey } from '../api/keys.ts';
import type { TaskSpec } from '../api/kinds/task.ts';
import { API_VERSION, type AnyObject } from '../api/object.ts';
import type { Store } from '../api/store.ts';
import { Manager } from '../controllers/manager.ts';
import { BINDING_TXNS_IN_FLIGHT } from '../controllers/scheduler/binding-writer.ts';
import { schedulerController } from '../controllers/scheduler/index.ts';
import { pool, startBenchEtcd, type BenchEtcd } from './local-etcd.ts';
import { profiled } from './profile.ts';
import { printTable } from './report.ts';

const NODES = 5_000;
const TASKS = 10_000;
const RACKS = 20;
const ZONES = 10;
const BATCH = 64;
/** Rounds of every measurement; the table shows each figure's median and range. */
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const NAMESPACE = 'bench';
const TASK_PREFIX = `/capstan/spec/tasks/${NAMESPACE}/`;
const INDEX_PREFIX = '/capstan/index/nodes/';
/** A round binds 10,000 tasks in about a second; a reply this late means the client is gone or stuck. */
const REPLY_TIMEOUT_MS = 120_000;

const say = {
  noReply: (kind: string, seconds: number, exitCode: number | null) =>
    `bench client: no "${kind}" reply within ${seconds} s${exitCode === null ? ' (still running)' : ` (exited with code ${exitCode})`}`,
};

const APPS: Record<string, AppSpecInput> = {
  web: { driver: 'process', containers: [{ cmd: 'sleep 1000', resources: { cpus: 0.1, mem: 32 } }], ports: [{ name: 'http' }] },
  uniq: { driver: 'process', containers: [{ cmd: 'sleep 1000', resources: { cpus: 0.1, mem: 32 } }], ports: [{ name: 'http' }], constraints: [['hostname', 'UNIQUE']] },
  grouped: { driver: 'process', containers: [{ cmd: 'sleep 1000', resources: { cpus: 0.1, mem: 32 } }], ports: [{ name: 'http' }], constraints: [['rack', 'GROUP_BY']] },
  zoned: { driver: 'process', containers: [{ cmd: 'sleep 1000', resources: { cpus: 0.1, mem: 32 } }], ports: [{ name: 'http' }], constraints: [['@zone', 'GROUP_BY']] },
};
const MIX: Record<number, string> = { 0: 'uniq', 1: 'grouped', 2: 'zoned' };
const appOf = (i: number) => MIX[i % 10] ?? 'web';
const rackOf = (node: number) => `r${node % RACKS}`;
const zoneOf = (node: number) => `z${node % ZONES}`;
const regionOf = (node: number) => `reg${(node % ZONES) % 2}`;
/** The simulated node's index from its name (sim-00042 → 42). */
const nodeIndex = (name: string) => Number(name.slice(4));

async function createNodes(bench: BenchEtcd): Promise<{ revoke(): Promise<unknown> }> {
  const lease = bench.client.lease(600, { autoKeepAlive: false });
  const now = new Date().toISOString();
  await pool(Array.from({ length: NODES }, (_, i) => i), 64, async (i) => {
    const name = `sim-${String(i).padStart(5, '0')}`;
    await bench.store.create({
      apiVersion: API_VERSION,
      kind: 'Node',
      metadata: { name },
      spec: {
        address: '127.0.0.1',
        attributes: { hostname: name, rack: rackOf(i) },
        faultDomain: { region: regionOf(i), zone: zoneOf(i) },
        capacity: { cpus: 8, mem: 16384 },
        portRange: { from: 31000, to: 31999 },
        drivers: ['docker', 'process'],
      },
      status: { leaseTTLSeconds: 600, conditions: [{ type: 'Ready', status: 'True', reason: 'AgentAlive', message: 'simulated', lastTransitionTime: now }] },
    });
    await lease.put(nodeLeaseKey(name)).value('simulated');
  });
  return lease;
}

/** The Revisions (1 and 2 of each App) the tasks belong to, as the rollout controller would have written them. */
async function createRevisions(store: Store): Promise<Map<string, AnyObject>> {
  const revisions = new Map<string, AnyObject>();
  for (const [app, spec] of Object.entries(APPS)) {
    const template = templateOf(appSpecSchema.parse(spec));
    for (const number of [1, 2]) {
      const revision = await store.create({
        apiVersion: API_VERSION,
        kind: 'Revision',
        metadata: { name: `${app}-${number}`, namespace: NAMESPACE, labels: { 'capstan.io/app': app } },
        spec: { app, number, template, instances: TASKS },
      });
      revisions.set(`${app}-${number}`, revision);
    }
  }
  return revisions;
}

function taskObject(i: number, revisions: Map<string, AnyObject>, round: string, number = 1): AnyObject {
  const app = appOf(i);
  const revision = revisions.get(`${app}-${number}`)!;
  const spec = revision.spec as { template: TaskSpec['template'] };
  return {
    apiVersion: API_VERSION,
    kind: 'Task',
    metadata: {
      name: `${app}-${number}-${round}${String(i).padStart(5, '0')}`,
      namespace: NAMESPACE,
      labels: { 'capstan.io/app': app, 'capstan.io/revision': revision.metadata.name },
      ownerReferences: [{ apiVersion: API_VERSION, kind: 'Revision', name: revision.metadata.name, uid: revision.metadata.uid!, controller: true, blockOwnerDeletion: true }],
    },
    spec: { app, revision: number, template: spec.template },
    status: { phase: 'Pending' },
  };
}

/**
 * The bench's other process (scheduler-client.ts): it creates the stream round's tasks and watches
 * the bindings land in the nodes' task index, which the binding's own transaction writes (the same
 * moment as the task's put, at a tenth of the bytes). Out of this process, so that the figures are
 * the scheduler's and not the scheduler's plus the bench's own decoding and creating.
 */
class Client {
  private readonly child: ChildProcess;
  /** Who waits for which reply; each kind of reply has at most one waiter at a time. */
  private readonly waiting = new Map<string, (reply: never) => void>();

  constructor(url: string) {
    this.child = fork(new URL('./scheduler-client.ts', import.meta.url).pathname, [url], { execArgv: ['--import', 'tsx'] });
    this.child.on('message', (reply: Reply) => {
      if ('error' in reply) throw new Error(`bench client: ${reply.error}`);
      const kind = Object.keys(reply)[0]!;
      const resolve = this.waiting.get(kind);
      this.waiting.delete(kind);
      resolve?.(reply as never);
    });
  }

  /** The client's answer of one kind; an error when it does not come within REPLY_TIMEOUT_MS (the client died or hangs). */
  private reply<T>(kind: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(say.noReply(kind, REPLY_TIMEOUT_MS / 1000, this.child.exitCode))), REPLY_TIMEOUT_MS);
      this.waiting.set(kind, ((reply: T) => {
        clearTimeout(timer);
        resolve(reply);
      }) as (reply: never) => void);
    });
  }

  /** Starts watching; resolves once the watch is open, with the first and last binding's times to come. */
  async watchBindings(count: number): Promise<{ done: Promise<{ first: number; last: number }> }> {
    const watching = this.reply('watching');
    const done = this.reply<{ first: number; last: number }>('first');
    this.child.send({ watch: count });
    await watching;
    return { done: done.then(({ first, last }) => ({ first: first - performance.timeOrigin, last: last - performance.timeOrigin })) };
  }

  /** Hands the client the tasks that `create()` will write. */
  async prepare(tasks: AnyObject[]): Promise<void> {
    const prepared = this.reply('prepared');
    this.child.send({ prepare: tasks });
    await prepared;
  }

  /** Creates the prepared tasks (create-many.ts) in the client process; resolves with when that ended. */
  async create(): Promise<number> {
    const created = this.reply<{ created: number }>('created');
    this.child.send({ create: true });
    return (await created).created - performance.timeOrigin;
  }

  stop(): void {
    this.child.disconnect();
  }
}

type Reply = { watching: true } | { prepared: true } | { first: number; last: number } | { created: number } | { error: string };

function startScheduler(store: Store): Manager {
  return new Manager({ store, controllers: [schedulerController()], leaderElection: false, logger: pino({ level: 'silent' }) });
}

async function clearTasks(bench: BenchEtcd): Promise<void> {
  await bench.client.delete().prefix(TASK_PREFIX);
  await bench.client.delete().prefix(`/capstan/status/tasks/${NAMESPACE}/`);
  await bench.client.delete().prefix(`/capstan/binding/tasks/${NAMESPACE}/`);
  await bench.client.delete().prefix(INDEX_PREFIX);
}

async function streamRound(bench: BenchEtcd, client: Client, revisions: Map<string, AnyObject>) {
  const manager = startScheduler(bench.store);
  await manager.start();
  const watch = await client.watchBindings(TASKS);
  await client.prepare(Array.from({ length: TASKS }, (_, i) => taskObject(i, revisions, 's')));
  const start = performance.now();
  // A burst as fast as the store takes creates: batched transactions (create-many.ts). The replicas
  // controller creates one task at a time, which would measure its pace rather than the scheduler's.
  const created = await client.create();
  const { first: firstBinding, last } = await watch.done;
  await manager.stop();
  return { seconds: (last - start) / 1000, createdSeconds: (created - start) / 1000, firstBindingSeconds: (firstBinding - start) / 1000 };
}

/** (b) with revision 1 and nothing else; (c) with revision 2 while (b)'s tasks of revision 1 stay bound. */
async function backlogRound(bench: BenchEtcd, client: Client, revisions: Map<string, AnyObject>, options: { revision: number; profile: boolean }) {
  const tag = options.revision === 1 ? 'b' : 'u';
  await pool(Array.from({ length: TASKS }, (_, i) => i), 64, (i) => bench.store.create(taskObject(i, revisions, tag, options.revision)));
  const watch = await client.watchBindings(TASKS);
  const manager = startScheduler(bench.store);
  const start = performance.now();
  const cpuBefore = process.cpuUsage();
  let synced = 0;
  // BENCH_PROFILE=1: where the scheduler's time goes, from start to the last binding.
  const last = await profiled(`scheduler-${tag === 'b' ? 'backlog' : 'upgrade'}`, options.profile && Boolean(process.env['BENCH_PROFILE']), async () => {
    await manager.start();
    synced = performance.now();
    return (await watch.done).last;
  });
  const cpu = process.cpuUsage(cpuBefore);
  const firstBinding = (await watch.done).first;
  await manager.stop();
  return { cpuMicrosPerTask: (cpu.user + cpu.system) / TASKS, seconds: (last - start) / 1000, syncSeconds: (synced - start) / 1000, firstBindingSeconds: (firstBinding - start) / 1000 };
}

interface RawShape {
  /** The scheduler's transaction: per binding its three compares, the binding and the index entry. */
  scheduler: boolean;
  /** Transactions in flight at once. */
  inFlight: number;
}

/**
 * Raw etcd: 10,000 bindings' worth of keys, values prepared beforehand, so only etcd and the
 * client's encoding are measured. A binding is a small key of its own (Store.bindMany), so the plain
 * shape is one put of a binding's value per key, 64 per txn, one txn in flight. The scheduler's
 * shape is exactly its transactions: per binding, compares that the task's spec key exists and is
 * unchanged and that the binding key does not exist yet, then the binding and the node's index
 * entry, Store.bindingsPerTransaction(1) bindings per txn, as many txns in flight as it keeps.
 */
async function rawTxnRate(bench: BenchEtcd, shape: RawShape): Promise<number> {
  const value = Buffer.from(JSON.stringify({ nodeName: 'sim-00000', hostPorts: [31000] }));
  const uid = Buffer.from(randomUUID());
  const perTxn = shape.scheduler ? bench.store.bindingsPerTransaction(1) : BATCH;
  const specKey = (i: number) => Buffer.from(`/bench/raw-spec/${i}`);
  const txns = [];
  for (let i = 0; i < TASKS; i += perTxn) {
    const ids = Array.from({ length: Math.min(perTxn, TASKS - i) }, (_, j) => i + j);
    const compare = shape.scheduler
      ? ids.flatMap((id) => [
          { key: specKey(id), target: 'Version', result: 'Greater', version: '0' },
          { key: specKey(id), target: 'Mod', result: 'Less', mod_revision: String(Number.MAX_SAFE_INTEGER) },
          { key: Buffer.from(`/bench/raw/${id}`), target: 'Version', result: 'Equal', version: '0' },
        ])
      : [];
    const success = ids.flatMap((id) => [
      { request_put: { key: Buffer.from(`/bench/raw/${id}`), value } },
      ...(shape.scheduler ? [{ request_put: { key: Buffer.from(`/bench/raw-index/sim-${id % NODES}/tasks/${NAMESPACE}/${id}`), value: uid } }] : []),
    ]);
    txns.push({ compare, success, failure: [] });
  }
  // The tasks the compares name exist beforehand, as they do for the scheduler.
  if (shape.scheduler) {
    const ids = Array.from({ length: TASKS }, (_, i) => i);
    await pool(ids, 64, async (id) => void (await bench.client.put(specKey(id)).value('{}')));
  }
  const start = performance.now();
  await pool(txns, shape.inFlight, async (txn) => {
    const response = await bench.client.kv.txn(txn as never);
    if (shape.scheduler && !response.succeeded) throw new Error('the scheduler-shaped raw txn failed its compares');
  });
  const rate = TASKS / ((performance.now() - start) / 1000);
  await bench.client.delete().prefix('/bench/raw');
  return rate;
}

/**
 * Every constraint held among the tasks of `revision` (constraints count one revision): UNIQUE never
 * twice on a node, GROUP_BY even over racks and over zones; and over every task, no port twice on a node.
 */
async function verify(store: Store, revision: number): Promise<string[]> {
  const { items } = await store.list<AnyObject>('Task', { namespace: NAMESPACE });
  const problems: string[] = [];
  const uniqNodes = new Set<string>();
  const racks = new Map<string, number>();
  const zones = new Map<string, number>();
  const ports = new Set<string>();
  for (const task of items) {
    const spec = task.spec as TaskSpec;
    if (!spec.nodeName) problems.push(`${task.metadata.name} unbound`);
    const port = `${spec.nodeName}:${spec.hostPorts?.[0]}`;
    if (ports.has(port)) problems.push(`port ${port} twice`);
    ports.add(port);
    if (spec.revision !== revision || !spec.nodeName) continue;
    const node = nodeIndex(spec.nodeName);
    if (spec.app === 'uniq') {
      if (uniqNodes.has(spec.nodeName)) problems.push(`UNIQUE broken on ${spec.nodeName}`);
      uniqNodes.add(spec.nodeName);
    }
    if (spec.app === 'grouped') racks.set(rackOf(node), (racks.get(rackOf(node)) ?? 0) + 1);
    if (spec.app === 'zoned') zones.set(zoneOf(node), (zones.get(zoneOf(node)) ?? 0) + 1);
  }
  const uneven = (counts: number[], groups: number) => counts.length !== groups || Math.max(...counts) - Math.min(...counts) > 1;
  if (uneven([...racks.values()], RACKS)) problems.push(`GROUP_BY(rack) uneven: ${[...racks.values()].join(',')}`);
  if (uneven([...zones.values()], ZONES)) problems.push(`GROUP_BY(@zone) uneven: ${[...zones.values()].join(',')}`);
  return problems;
}

/** "yes", or how many of each kind of problem and one example. */
function summary(problems: string[]): string {
  if (problems.length === 0) return 'yes';
  const kinds = new Map<string, number>();
  for (const problem of problems) {
    const kind = problem.split(' ')[0] === 'port' ? 'host port twice on a node' : problem.replace(/ on \S+$/, '').replace(/^\S+ unbound$/, 'unbound');
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  return `NO: ${[...kinds].map(([kind, n]) => `${n}× ${kind}`).join(', ')} (e.g. ${problems[0]})`;
}

/** The median and the range of a round's figure, e.g. "16,029 (15,187-16,456)". */
interface Spread {
  median: number;
  min: number;
  max: number;
}

function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)]!, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

const shown = (figure: Spread, digits = 0) =>
  ROUNDS === 1 ? figure.median.toFixed(digits) : `${figure.median.toFixed(digits)} (${figure.min.toFixed(digits)}-${figure.max.toFixed(digits)})`;

async function main() {
  const bench = await startBenchEtcd();
  const client = new Client(bench.url);
  try {
    console.log(`capstan bench:scheduler — etcd ${bench.url}, node ${process.version}, ${NODES} simulated nodes, ${TASKS} tasks, ${ROUNDS} rounds (median, range)\n`);
    const lease = await createNodes(bench);
    const revisions = await createRevisions(bench.store);
    const rounds: Record<string, number>[] = [];
    const problems = { stream: [] as string[], backlog: [] as string[], upgrade: [] as string[] };
    // Rounds interleave the baselines with the scheduler, so that drift in the machine's speed
    // touches both sides of every ratio alike.
    for (let round = 0; round < ROUNDS; round += 1) {
      const raw = await rawTxnRate(bench, { scheduler: false, inFlight: 1 });
      const shaped = await rawTxnRate(bench, { scheduler: true, inFlight: BINDING_TXNS_IN_FLIGHT });
      const stream = await streamRound(bench, client, revisions);
      problems.stream.push(...(await verify(bench.store, 1)));
      await clearTasks(bench);
      const backlog = await backlogRound(bench, client, revisions, { revision: 1, profile: round === 0 });
      problems.backlog.push(...(await verify(bench.store, 1)));
      const upgrade = await backlogRound(bench, client, revisions, { revision: 2, profile: round === 0 });
      problems.upgrade.push(...(await verify(bench.store, 2)));
      await clearTasks(bench);
      rounds.push({
        raw,
        shaped,
        stream: TASKS / stream.seconds,
        streamCreated: stream.createdSeconds,
        streamFirst: stream.firstBindingSeconds,
        streamThroughput: TASKS / (stream.seconds - stream.firstBindingSeconds),
        backlog: TASKS / backlog.seconds,
        backlogSync: backlog.syncSeconds,
        backlogFirst: backlog.firstBindingSeconds,
        backlogThroughput: TASKS / (backlog.seconds - backlog.firstBindingSeconds),
        backlogCpu: backlog.cpuMicrosPerTask,
        upgradeThroughput: TASKS / (upgrade.seconds - upgrade.firstBindingSeconds),
        upgradeCpu: upgrade.cpuMicrosPerTask,
      });
    }
    await lease.revoke();
    const figure = (name: string) => spread(rounds.map((round) => round[name]!));
    // Each round's placements against that same round's baselines, then the median of those ratios.
    const ratios = (name: string) => {
      const plain = spread(rounds.map((round) => round[name]! / round['raw']!));
      const shape = spread(rounds.map((round) => round[name]! / round['shaped']!));
      return `${shown(plain, 2)} of plain, ${shown(shape, 2)} of same-shape`;
    };
    printTable([
      ['figure', 'capstan', 'baseline', 'ratio (targets ≥ 2000/s, ≥ 0.5 of raw)'],
      [`raw etcd, plain: ${BATCH} puts/txn, 1 txn in flight, puts/s`, '-', shown(figure('raw')), ''],
      [`raw etcd, the scheduler's txns (3 compares, binding + index put, ${BINDING_TXNS_IN_FLIGHT} in flight), bindings/s`, '-', shown(figure('shaped')), ''],
      [`(a) stream: ${TASKS} created by createMany while scheduling, placements/s`, shown(figure('stream')), 'raw', ratios('stream')],
      [`    creating took / first binding at, s`, `${shown(figure('streamCreated'), 2)} / ${shown(figure('streamFirst'), 2)}`, '-', ''],
      [`    first binding to last (throughput), placements/s`, shown(figure('streamThroughput')), 'raw', ratios('streamThroughput')],
      [`(b) backlog: ${TASKS} pending at start, placements/s (informer list included)`, shown(figure('backlog')), 'raw', ratios('backlog')],
      [`    informer sync / first binding at, s`, `${shown(figure('backlogSync'), 2)} / ${shown(figure('backlogFirst'), 2)}`, '-', ''],
      [`    first binding to last (throughput), placements/s`, shown(figure('backlogThroughput')), 'raw', ratios('backlogThroughput')],
      [`    CPU of the scheduler's process per placement (list included), µs`, shown(figure('backlogCpu')), '-', ''],
      [`(c) upgrade: ${TASKS} of revision 2 pending beside ${TASKS} bound of revision 1, first binding to last, placements/s`, shown(figure('upgradeThroughput')), 'raw', ratios('upgradeThroughput')],
      [`    CPU of the scheduler's process per placement (list of both revisions included), µs`, shown(figure('upgradeCpu')), '-', ''],
      [`(a) constraints held (UNIQUE, GROUP_BY rack and @zone, ports)`, summary(problems.stream), '-', ''],
      [`(b) constraints held (UNIQUE, GROUP_BY rack and @zone, ports)`, summary(problems.backlog), '-', ''],
      [`(c) constraints held within revision 2, ports across both`, summary(problems.upgrade), '-', ''],
    ]);
  } finally {
    client.stop();
    await bench.stop();
  }
}

await main();
