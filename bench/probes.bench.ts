// npm run bench:probes — the health controller probing 1,000 Running tasks' HTTP checks every second
// for 10 s, against a real etcd, beside a baseline measured in the same run against the same servers:
// one plain setInterval + http.get per endpoint (what "sleep an interval between probes" amounts to).
//
// The tasks point at 8 node HTTP servers in a child process (so that serving does not compete with
// probing for this event loop); their start times are spread over one second, as tasks started at
// different moments are. Figures: probes per second achieved, lateness (when the probe actually
// started − its slot; the baseline's slot is its first firing + k × 1 s) at p50, p99 and max, and the
// status writes the controller made while measuring (steady tasks should cause none). The
// controller is measured once every task's first success has been written.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { pino } from 'pino';
import { Store } from '../api/store.ts';
import { healthController } from '../controllers/health/index.ts';
import { Manager } from '../controllers/manager.ts';
import type { ProbeSample } from '../runtime/probes/loops.ts';
import { freePort } from '../test/helpers/ports.ts';
import { onInterrupt } from './interrupt.ts';
import { startBenchEtcd } from './local-etcd.ts';
import { percentile, printTable } from './report.ts';

const TASKS = 1_000;
const SERVERS = 8;
const INTERVAL_MS = 1_000;
const WARMUP_MS = 3_000;
const MEASURE_MS = 10_000;

const SERVER = `
const http = require('node:http');
const ports = JSON.parse(process.argv[1]);
for (const port of ports) http.createServer((q, r) => r.end('ok')).listen(port, '127.0.0.1');
process.stdout.write('listening\\n');
`;

interface Figures {
  probes: number;
  lateness: number[];
  writes?: number;
}

async function startServers(ports: number[]) {
  const child = spawn(process.execPath, ['-e', SERVER, JSON.stringify(ports)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const undo = onInterrupt('the HTTP servers', () => child.kill('SIGKILL'));
  await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  return () => {
    child.kill('SIGKILL');
    undo();
  };
}

function task(i: number, ports: number[], startedAt: number) {
  return {
    apiVersion: 'capstan/v1',
    kind: 'Task',
    metadata: { name: `t-${i}`, namespace: 'bench' },
    spec: {
      app: 'bench',
      revision: 1,
      nodeName: 'n1',
      hostPorts: [ports[i % ports.length]],
      template: {
        containers: [{ cmd: 'true', resources: { cpus: 0.1, mem: 16 } }],
        ports: [{ name: 'http' }],
        healthChecks: [{ protocol: 'HTTP', path: '/', intervalSeconds: 1, timeoutSeconds: 1, gracePeriodSeconds: 0, delaySeconds: 0, maxConsecutiveFailures: 3 }],
      },
    },
    // Start times spread over one second: task i's slots fall at i ms past each second.
    status: { phase: 'Running', startedAt: new Date(startedAt + i * (INTERVAL_MS / TASKS)).toISOString() },
  };
}

async function pool<T>(items: T[], size: number, run: (item: T) => Promise<unknown>) {
  let next = 0;
  await Promise.all(Array.from({ length: size }, async () => {
    while (next < items.length) await run(items[next++]!);
  }));
}

async function controllerRun(store: Store, ports: number[]): Promise<Figures> {
  const samples: ProbeSample[] = [];
  const manager = new Manager({ store, controllers: [healthController({ observe: (s) => samples.push(s) })], leaderElection: false, logger: pino({ level: 'silent' }) });
  await store.create({
    apiVersion: 'capstan/v1',
    kind: 'Node',
    metadata: { name: 'n1' },
    spec: { address: '127.0.0.1', attributes: { hostname: 'n1' }, capacity: { cpus: 64, mem: 65536 }, portRange: { from: 31000, to: 32000 } },
  });
  const base = Date.now();
  await pool(Array.from({ length: TASKS }, (_, i) => i), 32, (i) => store.create(task(i, ports, base)));
  let writes = 0;
  const watcher = await store.client.watch().prefix('/capstan/status/tasks/').create();
  watcher.on('put', () => (writes += 1));
  await manager.start();
  // Warm-up: every task's first success written (1,000 transitions), then a little more.
  const deadline = Date.now() + 30_000;
  while (writes < TASKS && Date.now() < deadline) await sleep(50);
  const warmup = writes;
  await sleep(WARMUP_MS);
  writes = 0;
  const from = Date.now();
  await sleep(MEASURE_MS);
  const to = Date.now();
  await watcher.cancel();
  await manager.stop();
  const window = samples.filter((s) => s.scheduledAt >= from && s.scheduledAt < to);
  const failed = window.filter((s) => s.ok === false).length;
  console.log(`warm-up: ${warmup} status writes (first successes); failed probes while measuring: ${failed}`);
  return { probes: window.length, lateness: window.map((s) => s.startedAt - s.scheduledAt), writes };
}

/** Per endpoint: setInterval(1 s) + http.get, the lateness measured against its first firing + k × 1 s. */
async function setIntervalRun(ports: number[]): Promise<Figures> {
  const agent = new http.Agent({ keepAlive: true });
  const lateness: number[] = [];
  let probes = 0;
  let measuring = false;
  const timers: NodeJS.Timeout[] = [];
  const base = Date.now();
  for (let i = 0; i < TASKS; i += 1) {
    const port = ports[i % ports.length]!;
    // Spread like the tasks' start times.
    const first = base + INTERVAL_MS + i * (INTERVAL_MS / TASKS);
    let k = 0;
    const start = setTimeout(() => {
      const fire = () => {
        const now = Date.now();
        const slot = first + k * INTERVAL_MS;
        k += 1;
        if (measuring) {
          lateness.push(now - slot);
          probes += 1;
        }
        http.get({ host: '127.0.0.1', port, path: '/', agent, signal: AbortSignal.timeout(1_000) }, (r) => r.resume()).on('error', () => undefined);
      };
      fire();
      timers.push(setInterval(fire, INTERVAL_MS));
    }, first - Date.now());
    timers.push(start);
  }
  await sleep(WARMUP_MS);
  measuring = true;
  await sleep(MEASURE_MS);
  measuring = false;
  for (const timer of timers) clearTimeout(timer);
  agent.destroy();
  return { probes, lateness };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const ms = (value: number) => `${value.toFixed(1)} ms`;

async function main() {
  const etcd = await startBenchEtcd();
  const { store } = etcd;
  const ports = await Promise.all(Array.from({ length: SERVERS }, () => freePort()));
  const stopServers = await startServers(ports);
  try {
    const controller = await controllerRun(store, ports);
    const baseline = await setIntervalRun(ports);
    const seconds = MEASURE_MS / 1000;
    const row = (name: string, f: Figures) => [
      name,
      (f.probes / seconds).toFixed(0),
      ms(percentile(f.lateness, 0.5)),
      ms(percentile(f.lateness, 0.99)),
      ms(Math.max(...f.lateness)),
      f.writes === undefined ? '-' : String(f.writes),
    ];
    console.log(`\n${TASKS} tasks, one HTTP check each every ${INTERVAL_MS} ms, ${SERVERS} servers on loopback, measured ${seconds} s once every task was Healthy (+${WARMUP_MS / 1000} s)\n`);
    printTable([
      ['prober', 'probes/s', 'lateness p50', 'p99 (target ≤ 50 ms)', 'max', 'status writes'],
      row('health controller (fixed cadence, 256 in flight)', controller),
      row('baseline: setInterval + http.get per endpoint', baseline),
    ]);
  } finally {
    stopServers();
    await etcd.stop();
  }
}

await main();
