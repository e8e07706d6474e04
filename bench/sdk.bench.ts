// npm run bench:sdk — what a controller written against capstan/sdk costs to start and to keep, beside
// what the machine gives in the same run. Per start, p50 and p99 over BENCH_RUNS starts (default 10),
// the processes taking turns so load from elsewhere spreads over all of them alike:
//   - an idle `node -e`: the floor of any Node process (it prints a line and waits, so its RSS can be read);
//   - a minimal user controller (one defineKind kind, one controller, runControllers) under plain
//     `node`, importing the BUILT SDK as an installed package does: `capstan/sdk` through package.json
//     exports' default condition, i.e. dist/sdk/index.js (built by scripts/build-package.mjs first
//     when absent), from a temp project whose node_modules/capstan links to this repository;
//   - the same controller under `node --import tsx --conditions=capstan-source`: the SDK's sources;
//   - the built-in controllers: `capstan controllers` (bin/capstan.js, its esbuild bundle).
// Figures: start → "running" (the runner's log line), start → first reconcile (the user controller
// reconciles one object that exists before it starts), and RSS (/proc/PID/status VmRSS) when the
// last of those is seen. Every controller process is leader-elected (lease TTL 2 s) and stopped with
// SIGINT, as Ctrl-C does, so it resigns before the next start campaigns.
// Also: whether the SDK process loaded dockerode or esbuild (CommonJS both, so they show in the
// process's require cache): an SDK process must load neither.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { defineKind } from '../sdk/index.ts';
import { onInterrupt } from './interrupt.ts';
import { startBenchEtcd } from './local-etcd.ts';
import { percentile, printTable } from './report.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
/** One start that takes longer is stuck: the bench ends with an error rather than waiting for it. */
const START_DEADLINE_MS = 60_000;
const REPO = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(REPO, 'bin', 'capstan.js');
const BUILT_SDK = join(REPO, 'dist', 'sdk', 'index.js');
const RUNNING = /running .* against /;
const RECONCILED = /^reconciled (\{.*\})$/m;

const say = {
  header: (url: string) => `capstan bench:sdk — one private etcd at ${url}, ${RUNS} starts per process, node ${process.version}\n`,
  building: 'dist/sdk/index.js is absent: building it (node scripts/build-package.mjs)',
  buildFailed: (code: number | null, stderr: string) => `scripts/build-package.mjs exited with ${code}: ${stderr.trim().split('\n').slice(-3).join(' ')}`,
  stuck: (label: string, output: string) => `${label}: not ready within ${START_DEADLINE_MS / 1000} s (killed); it printed:\n${output}`,
  exited: (label: string, code: number | null, output: string) => `${label}: exited with ${code} before it was ready; it printed:\n${output}`,
  stopFailed: (label: string, code: number | null) => `${label}: expected exit 0 after SIGINT, found ${code}`,
  loaded: (label: string, modules: Record<string, boolean>) =>
    `${label} loaded: ${Object.entries(modules)
      .map(([name, loaded]) => `${name} ${loaded ? 'YES' : 'no'}`)
      .join(', ')}`,
  tsxNote: '(under tsx, esbuild is tsx\'s own: it compiles the sources)',
};

/** The kind and controller a user writes first; it prints once when it reconciles, and what it loaded. */
const CONTROLLER = `
import { createRequire } from 'node:module';
import { defineKind, done, runControllers } from 'capstan/sdk';
import { z } from 'zod';

const greetingKind = defineKind({ kind: 'BenchGreeting', spec: z.object({ name: z.string() }) });
let reconciled = false;

await runControllers({
  kinds: [greetingKind],
  controllers: [{
    name: 'bench-greetings',
    watches: [{ kind: greetingKind }],
    async reconcile(key, ctx) {
      if (!reconciled && ctx.informer(greetingKind).get(key)) {
        reconciled = true;
        const loaded = Object.keys(createRequire(import.meta.url).cache);
        const has = (name) => loaded.some((path) => path.includes('/node_modules/' + name + '/'));
        console.log('reconciled ' + JSON.stringify({ dockerode: has('dockerode'), esbuild: has('esbuild') }));
      }
      return done();
    },
  }],
});
`;

interface Case {
  label: string;
  argv: string[];
  cwd: string;
  /** What says it is ready: a line on stdout or stderr. */
  ready: RegExp;
  /** Waits for the first reconcile too. */
  reconciles?: boolean;
  /** Runs until SIGINT (not the idle node, which is killed). */
  controller: boolean;
}

interface Sample {
  runningMs?: number;
  reconcileMs?: number;
  rssMb: number;
  loaded?: Record<string, boolean>;
}

function rssMb(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) / 1024;
}

/** Starts the process, times its markers, reads its RSS at the last one, then stops it. */
function startOnce(item: Case, env: NodeJS.ProcessEnv): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(item.argv[0]!, item.argv.slice(1), { cwd: item.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const undo = onInterrupt(item.label, () => child.kill('SIGKILL'));
    let output = '';
    let runningMs: number | undefined;
    let done = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(new Error(say.stuck(item.label, output)));
    }, START_DEADLINE_MS);
    const exited = new Promise<number | null>((exit) => child.on('exit', (code) => exit(code)));
    const finish = (outcome: Error | Sample) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (outcome instanceof Error) {
        undo();
        return reject(outcome);
      }
      if (!item.controller) child.kill('SIGKILL');
      else child.kill('SIGINT');
      void exited.then((code) => {
        undo();
        if (item.controller && code !== 0) return reject(new Error(say.stopFailed(item.label, code)));
        resolve(outcome);
      });
    };
    const seen = (chunk: Buffer) => {
      output += chunk.toString();
      const now = performance.now() - started;
      if (runningMs === undefined && item.ready.test(output)) runningMs = now;
      if (runningMs === undefined) return;
      if (!item.reconciles) return finish({ runningMs, rssMb: rssMb(child.pid!) });
      const reconciled = RECONCILED.exec(output);
      if (reconciled) finish({ runningMs, reconcileMs: now, rssMb: rssMb(child.pid!), loaded: JSON.parse(reconciled[1]!) as Record<string, boolean> });
    };
    child.stdout.on('data', seen);
    child.stderr.on('data', seen);
    child.on('error', (error) => finish(error));
    void exited.then((code) => finish(new Error(say.exited(item.label, code, output))));
  });
}

/** A project as a user has it: its controller, and capstan, zod and (a dev dependency) tsx in node_modules, links to this repository's. */
function userProject(): string {
  const dir = mkdtempSync(join(tmpdir(), 'capstan-bench-sdk-'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'bench-controller', private: true, type: 'module' }));
  writeFileSync(join(dir, 'controller.mjs'), CONTROLLER);
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(REPO, join(dir, 'node_modules', 'capstan'));
  for (const name of ['zod', 'tsx']) symlinkSync(join(REPO, 'node_modules', name), join(dir, 'node_modules', name));
  return dir;
}

function ensureBuiltSdk(): void {
  if (existsSync(BUILT_SDK)) return;
  console.log(say.building);
  const built = spawnSync(process.execPath, [join(REPO, 'scripts', 'build-package.mjs')], { cwd: REPO, encoding: 'utf8' });
  if (built.status !== 0) throw new Error(say.buildFailed(built.status, built.stderr));
}

async function main(): Promise<void> {
  ensureBuiltSdk();
  const etcd = await startBenchEtcd();
  const project = userProject();
  try {
    console.log(say.header(etcd.url));
    // The object the user controller reconciles at every start: its kind is registered here as the
    // controller registers it (the CustomKind is installed by the controller's first start).
    const greetingKind = defineKind({ kind: 'BenchGreeting', spec: z.object({ name: z.string() }) });
    etcd.store.registry.register(greetingKind);
    await etcd.store.create({ apiVersion: 'capstan/v1', kind: 'BenchGreeting', metadata: { name: 'world', namespace: 'default' }, spec: { name: 'world' } });

    const env = { ...process.env, CAPSTAN_ETCD: etcd.url, NO_COLOR: '1', CAPSTAN_DEBUG: undefined, HOME: project };
    const flags = ['--lease-ttl', '2'];
    const cases: Case[] = [
      { label: 'node -e (idle)', argv: [process.execPath, '-e', "console.log('ready'); setTimeout(() => {}, 600000)"], cwd: project, ready: /^ready$/m, controller: false },
      { label: 'user controller, node + built SDK', argv: [process.execPath, 'controller.mjs', ...flags], cwd: project, ready: RUNNING, reconciles: true, controller: true },
      {
        label: 'user controller, node --import tsx, SDK sources',
        argv: [process.execPath, '--conditions=capstan-source', '--import', 'tsx', 'controller.mjs', ...flags],
        cwd: project,
        ready: RUNNING,
        reconciles: true,
        controller: true,
      },
      { label: 'capstan controllers (built-in)', argv: [process.execPath, BIN, 'controllers', ...flags, '--webhook-listen', 'off'], cwd: project, ready: RUNNING, controller: true },
    ];

    // One start of each first: installs the CustomKind, builds the CLI bundle if a source changed,
    // warms the page cache.
    for (const item of cases) await startOnce(item, env);
    const samples = new Map<Case, Sample[]>(cases.map((item) => [item, []]));
    for (let run = 0; run < RUNS; run += 1) {
      for (const item of cases) samples.get(item)!.push(await startOnce(item, env));
    }

    const floor = samples.get(cases[0]!)!;
    const floorRss = percentile(floor.map((s) => s.rssMb), 0.5);
    const ms = (values: number[]) => (values.length ? `${Math.round(percentile(values, 0.5))} / ${Math.round(percentile(values, 0.99))}` : '—');
    const mb = (values: number[]) => `${percentile(values, 0.5).toFixed(1)} / ${percentile(values, 0.99).toFixed(1)}`;
    const rows = cases.map((item) => {
      const runs = samples.get(item)!;
      const rss = runs.map((s) => s.rssMb);
      return [
        item.label,
        ms(runs.flatMap((s) => (s.runningMs === undefined ? [] : [s.runningMs]))),
        ms(runs.flatMap((s) => (s.reconcileMs === undefined ? [] : [s.reconcileMs]))),
        mb(rss),
        item === cases[0] ? '' : `+${(percentile(rss, 0.5) - floorRss).toFixed(1)}`,
      ];
    });
    console.log('');
    printTable([['process (per start)', 'ready ms p50 / p99', 'first reconcile ms p50 / p99', 'RSS MB p50 / p99', 'RSS p50 over node'], ...rows]);
    console.log('\n"ready": the process\'s "running … against …" log line (node -e: its first line); RSS read at the first reconcile, else at ready.');
    for (const item of cases.filter((c) => c.reconciles)) {
      const loaded = samples.get(item)!.find((s) => s.loaded)?.loaded ?? {};
      console.log(say.loaded(item.label, loaded) + (item.argv.includes('tsx') ? ` ${say.tsxNote}` : ''));
    }
  } finally {
    rmSync(project, { recursive: true, force: true });
    await etcd.stop();
  }
}

await main();
