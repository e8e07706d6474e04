// node --import tsx bench/dns.bench.ts — `capstan dns` answering UDP A queries for random Apps out of
// 1,000 (3 addresses each: Endpoints, and the 3,000 Running Tasks and 100 Nodes behind them, which
// give each task its own name, all in a real etcd), beside a baseline measured in the same run by
// the same load generator: a bare node:dgram responder that sends back one prebuilt answer, i.e. the
// cost of Node's UDP path alone. The server runs in this process; the load generator is this same
// file run as a second process (`generate`), so that generating load does not share the server's
// event loop. Figures per target and queries in flight: queries/s, and latency p50 / p99.
//
// `benchDns()` returns the figures for a bench that includes this one.
import { fork } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { decode, encode, RECURSION_DESIRED } from 'dns-packet';
import { appSpecSchema, templateOf } from '../api/kinds/app.ts';
import type { AnyObject } from '../api/object.ts';
import { API_VERSION } from '../api/object.ts';
import { startDnsServer } from '../runtime/dns/server.ts';
import { createMany } from './create-many.ts';
import { startBenchEtcd } from './local-etcd.ts';
import { percentile, printTable } from './report.ts';

const APPS = 1_000;
const ADDRESSES = 3;
const NAMESPACES = 10;
const NODES = 100;
const IN_FLIGHT = [1, 32] as const;
const MEASURE_MS = 3_000;
const WARMUP_MS = 500;
/** A query unanswered this long is counted lost and replaced, so one drop cannot stall a slot. */
const LOST_MS = 1_000;

const appName = (i: number) => `app-${i}.ns-${i % NAMESPACES}.capstan`;

export interface DnsRun {
  target: 'capstan dns' | 'bare dgram';
  inFlight: number;
  queriesPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  lost: number;
  /** Answers that were not NOERROR with 3 A records (the baseline's prebuilt answer counts as right). */
  wrong: number;
}

export interface DnsFigures {
  apps: number;
  tasks: number;
  nodes: number;
  /** Names in the zone once started: each App's A and two SRV names, and each task's. */
  names: number;
  /** From starting the server to answering: informer lists of every Endpoints, Task and Node + zone build. */
  startMs: number;
  runs: DnsRun[];
}

interface GenerateRequest {
  port: number;
  inFlight: number;
  measureMs: number;
  warmupMs: number;
  names: string[];
}
type GenerateResult = Omit<DnsRun, 'target'>;

const nodeName = (n: number) => `node-${n}`;
const nodeAddress = (n: number) => `10.0.${Math.floor(n / 250)}.${(n % 250) + 1}`;
/** App i's task k runs on its own node: an App's 3 addresses differ. */
const nodeOf = (i: number, k: number) => (i * ADDRESSES + k) % NODES;

function node(n: number): AnyObject {
  return { apiVersion: API_VERSION, kind: 'Node', metadata: { name: nodeName(n) }, spec: { address: nodeAddress(n), capacity: { cpus: 64, mem: 262_144 } } };
}

const template = templateOf(appSpecSchema.parse({ driver: 'process', containers: [{ name: 'main', cmd: 'sleep 3600' }], ports: [{ name: 'http' }] }));

/** Task k of App i: bound, Running, healthy. */
function task(i: number, k: number): AnyObject {
  return {
    apiVersion: API_VERSION,
    kind: 'Task',
    metadata: { name: `app-${i}-${k}`, namespace: `ns-${i % NAMESPACES}` },
    spec: { app: `app-${i}`, revision: 1, template, nodeName: nodeName(nodeOf(i, k)), hostPorts: [31_000 + k] },
    status: { phase: 'Running' },
  };
}

function endpoints(i: number): AnyObject {
  const app = `app-${i}`;
  const addresses = Array.from({ length: ADDRESSES }, (_, k) => ({
    address: nodeAddress(nodeOf(i, k)),
    hostPort: 31_000 + k,
    task: `${app}-${k}`,
    node: nodeName(nodeOf(i, k)),
  }));
  return {
    apiVersion: API_VERSION,
    kind: 'Endpoints',
    metadata: { name: app, namespace: `ns-${i % NAMESPACES}` },
    spec: { app, ports: [{ name: 'http', index: 0, protocol: 'tcp', addresses }] },
  };
}

/** The baseline: one prebuilt 3-address answer, its id patched to match each query. */
function bareResponder(): Promise<{ port: number; close(): Promise<void> }> {
  const answer = encode({
    type: 'response',
    flags: 0,
    questions: [{ type: 'A', name: appName(0) }],
    answers: Array.from({ length: ADDRESSES }, (_, k) => ({ type: 'A' as const, name: appName(0), ttl: 2, data: `10.0.0.${k + 1}` })),
  });
  const socket = createSocket('udp4');
  socket.on('message', (message, peer) => {
    const reply = Buffer.from(answer);
    message.copy(reply, 0, 0, 2);
    socket.send(reply, peer.port, peer.address);
  });
  return new Promise((resolve) =>
    socket.bind(0, '127.0.0.1', () => resolve({ port: socket.address().port, close: () => new Promise<void>((done) => socket.close(() => done())) })),
  );
}

/** Runs the load generator in a second process against `port`. */
function generate(request: GenerateRequest): Promise<GenerateResult> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['generate'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('message', (result: GenerateResult) => {
      resolve(result);
      child.disconnect();
    });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`load generator exited ${code}`))));
    child.send(request);
  });
}

export async function benchDns(): Promise<DnsFigures> {
  const etcd = await startBenchEtcd();
  try {
    await createMany(etcd.store, Array.from({ length: NODES }, (_, n) => node(n)));
    await createMany(etcd.store, Array.from({ length: APPS * ADDRESSES }, (_, j) => task(Math.floor(j / ADDRESSES), j % ADDRESSES)));
    await createMany(etcd.store, Array.from({ length: APPS }, (_, i) => endpoints(i)));
    const started = performance.now();
    const server = await startDnsServer({ store: etcd.store, address: '127.0.0.1', port: 0 });
    const startMs = performance.now() - started;
    const zoneNames = server.names();
    const names = Array.from({ length: APPS }, (_, i) => appName(i));
    const runs: DnsRun[] = [];
    try {
      for (const inFlight of IN_FLIGHT) {
        runs.push({ target: 'capstan dns', ...(await generate({ port: server.port, inFlight, measureMs: MEASURE_MS, warmupMs: WARMUP_MS, names })) });
      }
    } finally {
      await server.close();
    }
    const bare = await bareResponder();
    try {
      for (const inFlight of IN_FLIGHT) {
        runs.push({ target: 'bare dgram', ...(await generate({ port: bare.port, inFlight, measureMs: MEASURE_MS, warmupMs: WARMUP_MS, names })) });
      }
    } finally {
      await bare.close();
    }
    return { apps: APPS, tasks: APPS * ADDRESSES, nodes: NODES, names: zoneNames, startMs, runs };
  } finally {
    await etcd.stop();
  }
}

/**
 * The generator's side: `inFlight` queries outstanding at all times on one socket, each for a random
 * App, for warmup + measure ms; latencies of answers that arrive during the measured part only.
 */
async function runGenerator(request: GenerateRequest): Promise<GenerateResult> {
  const queries = request.names.map((name) => encode({ type: 'query', id: 0, flags: RECURSION_DESIRED, questions: [{ type: 'A', name }] }));
  const socket: Socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  const outstanding = new Map<number, number>();
  const latencies: number[] = [];
  let nextId = 0;
  let lost = 0;
  let wrong = 0;
  let answered = 0;
  const start = performance.now();
  const measureFrom = start + request.warmupMs;
  const end = measureFrom + request.measureMs;
  let finished: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finished = resolve));

  const send = () => {
    if (performance.now() >= end) {
      if (outstanding.size === 0) finished();
      return;
    }
    nextId = (nextId + 1) & 0xffff;
    const query = Buffer.from(queries[Math.floor(Math.random() * queries.length)]!);
    query.writeUInt16BE(nextId, 0);
    outstanding.set(nextId, performance.now());
    socket.send(query, request.port, '127.0.0.1');
  };
  socket.on('message', (message) => {
    const now = performance.now();
    const id = message.readUInt16BE(0);
    const sent = outstanding.get(id);
    if (sent === undefined) return;
    outstanding.delete(id);
    if (sent >= measureFrom && now <= end) {
      latencies.push(now - sent);
      answered += 1;
      const reply = decode(message);
      if ((reply as { rcode?: string }).rcode !== 'NOERROR' || reply.answers?.length !== ADDRESSES) wrong += 1;
    }
    send();
  });
  const sweep = setInterval(() => {
    const now = performance.now();
    for (const [id, sent] of outstanding) {
      if (now - sent < LOST_MS) continue;
      outstanding.delete(id);
      lost += 1;
      send();
    }
  }, 100);
  for (let i = 0; i < request.inFlight; i += 1) send();
  await done;
  clearInterval(sweep);
  socket.close();
  return {
    inFlight: request.inFlight,
    queriesPerSecond: answered / (request.measureMs / 1000),
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    lost,
    wrong,
  };
}

async function main(): Promise<void> {
  console.log(`capstan bench:dns — ${APPS} Apps × ${ADDRESSES} addresses, UDP A queries for random Apps, node ${process.version}\n`);
  const figures = await benchDns();
  const baseline = (run: DnsRun) => figures.runs.find((r) => r.target === 'bare dgram' && r.inFlight === run.inFlight);
  printTable([
    ['target', 'in flight', 'queries/s', 'p50 ms', 'p99 ms', 'lost', 'wrong', 'of baseline q/s'],
    ...figures.runs.map((run) => [
      run.target,
      String(run.inFlight),
      run.queriesPerSecond.toFixed(0),
      run.p50Ms.toFixed(3),
      run.p99Ms.toFixed(3),
      String(run.lost),
      String(run.wrong),
      run.target === 'capstan dns' ? (run.queriesPerSecond / baseline(run)!.queriesPerSecond).toFixed(2) : '-',
    ]),
  ]);
  console.log(
    `\nserver start (list ${figures.apps} Endpoints, ${figures.tasks} Tasks and ${figures.nodes} Nodes, build the zone of ${figures.names} names): ${figures.startMs.toFixed(0)} ms`,
  );
}

if (process.argv[2] === 'generate') {
  process.once('message', (request: GenerateRequest) => {
    void runGenerator(request).then((result) => process.send!(result));
  });
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await main();
}
